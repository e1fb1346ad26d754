// The legend's swatches (legend.html): its first clause is about positive scores (the
// palette's positive hue), the second about negative ones. Needs constants.js.
const colourLegend = {
  swatchStyle(k) {
    const [negative, positive] = PALETTES.default;
    const hue = k === 0 ? positive : k === 1 ? negative : null;
    return hue ? { background: `rgb(${hue.join(', ')})` } : { display: 'none' };
  },
};
