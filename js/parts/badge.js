// The completeness badge (`.igw-delta`) of a widget's badge dict {label, total, diff, delta,
// ok, text, detail, output}: the raw numbers as data attributes (tests and tools read them),
// the verdict's look, and the numbers and the rule as its tooltip. Needs constants.js.
const completenessBadge = {
  badgeAttrs(badge) {
    const b = badge || {};
    const what = b.output === 'logits' ? 'logit' : 'probability';
    const rule =
      `Completeness: the attributions should add up to F(input) − F(baseline) (F = ${what}); ` +
      `off by more than ${DELTA_TOLERANCE * 100} % of it: add steps.`;
    return {
      class: b.ok === false ? 'igw-delta--large' : 'igw-delta--ok',
      'data-label': b.label,
      'data-total': b.total,
      'data-diff': b.diff,
      'data-delta': b.delta,
      'data-ok': b.ok === undefined ? undefined : String(b.ok),
      title: b.detail ? `${b.detail}\n${rule}` : rule,
    };
  },
};
