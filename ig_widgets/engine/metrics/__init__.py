"""Faithfulness metrics: how much the prediction depends on the tokens an explanation ranks first.

Every metric has the signature ``metric(explanation, explainer, *, k=…, mode=…, target=None)``
and returns a frozen :class:`MetricResult`. The perturbed texts are built from the
explanation's token ids (never re-tokenised) and run in batches through the explainer's
adapter (``embed`` then ``forward_embeds``), each batch under the model's lock.

Conventions shared by every metric
----------------------------------
- **Target**: the explained class; ``target=None`` is the predicted class ``exp.predicted``.
- **Probabilities**: always softmax probabilities of the target (a logits adapter's outputs
  are put through a softmax), as in ERASER, ferret and the DIG/SIG papers.
- **Ranking**: the ordinary tokens (not ``exp.special``) sorted by their signed attribution
  for the target, highest first, ties in text order (:func:`ranking`). Special tokens —
  ``xxbos`` and fastai's ``xxmaj``/``xxup`` markers, ``[CLS]``/``[SEP]``, ``<bos>`` — are
  never removed or replaced and do not count in ``n``, the number of ordinary tokens.
- **Sizes**: "the top fraction ``f``" is the first ``int(f · n)`` tokens of the ranking
  (ferret's ``perc`` rule; the DIG code's ``int(n · topk / 100)``). A size of zero tokens
  is undefined: a single fraction that gives zero is ``nan``, and AOPC leaves such sizes out.
- **Modes**: ``mode="delete"`` removes the tokens (the text gets shorter);
  ``mode="baseline"`` replaces them with a replacement token (:func:`replacement_token`:
  ``token=`` when given, else the explanation's baseline token when its baseline was a
  token, else the model's default baseline token, else zero embeddings). In
  ``mode="baseline"`` the model keeps the input's padding mask, as on the IG path.

Why ``mode="delete"`` is the default (log-odds excepted)
-------------------------------------------------------
ERASER's comprehensiveness and sufficiency, the DIG/SIG papers' and ferret's
(``remove_tokens=True``) remove the tokens. Removal also does not depend on the explanation's
baseline: in ``mode="baseline"`` an explanation made with a ``xxpad`` baseline is scored by
replacing its top tokens with ``xxpad``, so a metric used to *choose* a baseline would partly
grade each baseline with its own token. Deletion puts every baseline, rule and model through
the same perturbation. :func:`log_odds` keeps ``mode="baseline"`` because the DIG paper
defines it by replacement.

Batching: in ``mode="baseline"`` every perturbed text has the input's length, so they go in
equal-length batches. In ``mode="delete"`` the texts are **grouped by length** and each group
runs in batches (the sizes of one metric share a length: comprehensiveness at 20 % is one
row, a leave-one-out pass is one group of ``n`` rows). Batches hold at most
:data:`TOKENS_PER_BATCH` tokens; the model's lock is released between them.

The package's rooms: :mod:`~ig_widgets.engine.metrics.perturb` (rankings, sizes, the batched
runs of perturbed texts), :mod:`~ig_widgets.engine.metrics.per_text` (the metrics of one
explanation and the controls) and :mod:`~ig_widgets.engine.metrics.summary` (many
explanations: means and intervals). Every name is importable from here.
"""

from __future__ import annotations

from ig_widgets.engine.metrics.per_text import (
    ERASER_SIZES,
    METRICS,
    Fractions,
    Metric,
    MetricResult,
    comprehensiveness,
    deletion_curve,
    insertion_curve,
    log_odds,
    random_ranking,
    reversed_ranking,
    sufficiency,
    tau_loo,
)
from ig_widgets.engine.metrics.perturb import (
    MODES,
    TOKENS_PER_BATCH,
    Mode,
    perturbed_probs,
    ranking,
    replacement_token,
    top_count,
)
from ig_widgets.engine.metrics.summary import (
    FaithfulnessSummary,
    MetricSummary,
    faithfulness_summary,
    mean_interval,
)

__all__ = [
    "ERASER_SIZES",
    "METRICS",
    "MODES",
    "TOKENS_PER_BATCH",
    "FaithfulnessSummary",
    "Fractions",
    "Metric",
    "MetricResult",
    "MetricSummary",
    "Mode",
    "comprehensiveness",
    "deletion_curve",
    "faithfulness_summary",
    "insertion_curve",
    "log_odds",
    "mean_interval",
    "perturbed_probs",
    "random_ranking",
    "ranking",
    "replacement_token",
    "reversed_ranking",
    "sufficiency",
    "tau_loo",
    "top_count",
]
