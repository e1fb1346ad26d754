// Signed numbers for the completeness badges: 4 decimals (an exponent when tiny), and
// `fmtSmall` for deltas (always an exponent).
const numberFormat = {
  fmt(x) {
    if (x === undefined) return '';
    const tiny = x !== 0 && Math.abs(x) < 0.001;
    return (x >= 0 ? '+' : '') + (tiny ? x.toExponential(2) : x.toFixed(4));
  },
  fmtSmall(x) {
    return x === undefined ? '' : (x >= 0 ? '+' : '') + x.toExponential(1);
  },
};
