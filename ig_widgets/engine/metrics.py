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
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch

from ig_widgets.engine.core import CancelHook, Cancelled, ProgressHook, check_finite, is_cancelled
from ig_widgets.engine.explanation import Explanation

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.adapters.base import ModelAdapter
    from ig_widgets.engine.explainer import Explainer

Mode = Literal["delete", "baseline"]
#: the two ways of taking a token out of a text
MODES: tuple[str, ...] = ("delete", "baseline")
#: ERASER's rationale sizes for AOPC (DeYoung et al., 2020): 1, 5, 10, 20 and 50 %
ERASER_SIZES: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
#: at most this many tokens (rows × length) in one batch of perturbed texts
TOKENS_PER_BATCH = 16384

Fractions = float | Sequence[float]


@dataclass(frozen=True)
class MetricResult:
    """The value of one faithfulness metric on one explanation.

    Attributes
    ----------
    name : str
        The metric (``"comprehensiveness"``, ``"tau_loo"``, …).
    value : float
        The metric's value; ``nan`` when it is undefined for this text (no token at the size
        asked, fewer than two ordinary tokens for τ).
    curve : np.ndarray or None
        What the value summarises, shape ``(n_points,)``: the per-size values of an AOPC, the
        target probabilities of a deletion/insertion curve, the leave-one-out drops of
        ``tau_loo``; None for a single size.
    at : np.ndarray or None
        Where the curve's points are, shape ``(n_points,)``: fractions of the ordinary tokens
        for AOPC and curves, token positions for ``tau_loo``.
    target : int
        The class whose probability was measured.
    mode : str
        ``"delete"`` or ``"baseline"``.
    higher_is_better : bool
        The direction of a more faithful explanation.
    """

    name: str
    value: float
    curve: np.ndarray | None
    at: np.ndarray | None
    target: int
    mode: str
    higher_is_better: bool

    def __post_init__(self) -> None:
        for name in ("curve", "at"):
            array = getattr(self, name)
            if array is not None:
                frozen = np.array(array, dtype=np.float64, copy=True)
                frozen.setflags(write=False)
                object.__setattr__(self, name, frozen)


class Metric(Protocol):
    """The common signature of the metrics of this module."""

    def __call__(
        self,
        explanation: Explanation,
        explainer: Explainer,
        *,
        k: Any = ...,
        mode: Mode = ...,
        target: int | str | None = None,
    ) -> MetricResult:
        """Score ``explanation`` with ``explainer``'s model."""


# ---------------------------------------------------------------------------- helpers
def ranking(exp: Explanation, target: int | str | None = None) -> np.ndarray:
    """Positions of the ordinary tokens, the highest attribution for ``target`` first.

    Parameters
    ----------
    exp : Explanation
        The explanation to rank.
    target : int, str or None
        The class; None is the predicted class.

    Returns
    -------
    np.ndarray
        Token positions, shape ``(n,)`` with ``n`` the number of non-special tokens; ties
        keep text order.
    """
    t = _target(exp, target)
    free = np.flatnonzero(~np.asarray(exp.special, dtype=bool))
    order = np.argsort(-exp.scores[t, free], kind="stable")
    return free[order]


def top_count(fraction: float, n: int) -> int:
    """How many tokens "the top ``fraction``" of ``n`` ordinary tokens is: ``int(fraction · n)``.

    A margin of 1e-9 absorbs float rounding (``0.29 · 100`` is 28.999…); for ERASER's sizes
    it changes nothing.
    """
    if isinstance(fraction, bool) or not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"A fraction of the tokens must be in [0, 1], got {fraction!r}")
    return int(float(fraction) * n + 1e-9)


def replacement_token(
    exp: Explanation, adapter: ModelAdapter, token: str | None = None
) -> str | None:
    """The token ``mode="baseline"`` puts in place of a removed one.

    ``token`` when given (checked against the vocabulary); else the explanation's baseline
    token when its baseline was a :class:`~ig_widgets.TokenBaseline` (its description reads
    ``token 'xxpad'``); else the model's default baseline token (``xxunk``, ``<unk>``);
    None when the model has none (zero embeddings are used then).
    """
    if token is None:
        match = re.fullmatch(r"token (.+)", exp.baseline)
        if match is not None:
            parsed = ast.literal_eval(match.group(1))
            token = parsed if isinstance(parsed, str) and adapter.has_token(parsed) else None
    if token is None:
        token = adapter.default_baseline_token
    if token is not None:
        adapter.token_id(token)  # ValueError with close matches when unknown
    return token


def perturbed_probs(
    exp: Explanation,
    explainer: Explainer,
    present: np.ndarray,
    *,
    mode: Mode = "delete",
    token: str | None = None,
) -> np.ndarray:
    """Class probabilities of perturbed copies of the explained text, in batches.

    Parameters
    ----------
    exp : Explanation
        The explained text (its ``token_ids`` are perturbed; nothing is re-tokenised).
    explainer : Explainer
        Whose adapter runs the model, under the model's lock (one batch at a time).
    present : np.ndarray
        Which tokens each perturbed copy keeps, shape ``(n_rows, n_tokens)``, bool. Special
        tokens are kept whatever it says.
    mode : {"delete", "baseline"}
        Drop the absent tokens, or replace them (:func:`replacement_token`).
    token : str, optional
        The replacement token of ``mode="baseline"``.

    Returns
    -------
    np.ndarray
        Softmax probabilities, shape ``(n_rows, n_classes)``, float64.

    Raises
    ------
    ValueError
        For an explanation of another model, a bad mode or shape, or (``mode="delete"``) a
        copy left with no token at all.
    """
    adapter = _adapter_for(exp, explainer)
    _check_mode(mode)
    ids = np.asarray(exp.token_ids, dtype=np.int64)
    mask = np.asarray(present, dtype=bool)
    if mask.ndim != 2 or mask.shape[1] != len(ids):
        raise ValueError(f"present must have shape (n_rows, {len(ids)}), got {mask.shape}")
    mask = mask | np.asarray(exp.special, dtype=bool)
    out = np.empty((len(mask), len(exp.classes)))
    if mode == "baseline":
        fill = _replacement_embedding(exp, adapter, token)
        _run_rows(
            adapter, np.broadcast_to(ids, mask.shape), ids, out, np.arange(len(mask)), mask, fill
        )
    else:
        lengths = mask.sum(axis=1)
        if len(mask) and lengths.min() == 0:
            raise ValueError(
                "mode='delete' would leave a text with no token at all (the model adds no "
                "special token to keep); use mode='baseline'"
            )
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            kept = np.stack([ids[mask[r]] for r in rows])  # (n_group, length)
            _run_rows(adapter, kept, None, out, rows, None, None)
    return out


def _run_rows(
    adapter: ModelAdapter,
    rows_ids: np.ndarray,
    mask_ids: np.ndarray | None,
    out: np.ndarray,
    where: np.ndarray,
    present: np.ndarray | None,
    fill: torch.Tensor | None,
) -> None:
    """Run equal-length rows of ids ``(n_rows, length)`` in batches; write probabilities to ``out``.

    ``mask_ids`` (``(length,)``) is what the model's padding mask follows (None: each
    batch's first row); where ``present`` is False the embedding is replaced by ``fill``.
    """
    length = rows_ids.shape[1]
    per_batch = max(1, TOKENS_PER_BATCH // max(length, 1))
    for start in range(0, len(rows_ids), per_batch):
        block = torch.from_numpy(np.array(rows_ids[start : start + per_batch], dtype=np.int64))
        masks = block[0] if mask_ids is None else torch.from_numpy(mask_ids)
        with adapter.prepared(), torch.no_grad():
            embeds = adapter.embed(block)
            if present is not None and fill is not None:
                absent = torch.from_numpy(~present[start : start + per_batch])
                embeds[absent] = fill.to(embeds.dtype)
            f = adapter.forward_embeds(embeds, masks)
        check_finite(f, "on a perturbed text")
        probs = f if adapter.output == "probs" else f.softmax(-1)
        out[where[start : start + len(block)]] = probs.double().cpu().numpy()


# ---------------------------------------------------------------------------- metrics
def comprehensiveness(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: Fractions = 0.2,
    mode: Mode = "delete",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """ERASER's comprehensiveness: the drop in probability when the top tokens are removed.

    ``comp(f) = p_y(x) − p_y(x ∖ top_f)`` where ``top_f`` are the first ``int(f · n)``
    ordinary tokens of the ranking. Higher is better: the tokens the explanation ranks first
    are the ones the prediction needs. With a sequence of fractions (``k=ERASER_SIZES``) the
    value is the AOPC: the mean of ``comp(f)`` over the distinct, non-empty sizes, as ferret
    computes it (the ERASER paper writes the sum over its bins divided by ``|B| + 1``).

    Parameters
    ----------
    explanation : Explanation
        The explanation to score.
    explainer : Explainer
        The explainer of the same model (its adapter runs the perturbed texts).
    k : float or sequence of float
        The fraction of the ordinary tokens removed (default 20 %), or fractions to average.
    mode : {"delete", "baseline"}
        Remove the tokens (default) or replace them (:func:`replacement_token`).
    target : int, str or None
        The class; None is the predicted class.
    token : str, optional
        The replacement token of ``mode="baseline"``.

    Returns
    -------
    MetricResult
        ``value`` (``nan`` when no size removes a token); for a sequence, ``curve`` holds
        ``comp(f)`` at the fractions in ``at``, shape ``(n_sizes,)``.
    """
    return _at_sizes(
        "comprehensiveness", explanation, explainer, k, mode, target, token, top_only=False
    )


def sufficiency(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: Fractions = 0.2,
    mode: Mode = "delete",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """ERASER's sufficiency: the drop in probability when only the top tokens are kept.

    ``suff(f) = p_y(x) − p_y(top_f)``, the special tokens kept around ``top_f`` (in
    ``mode="baseline"`` every other ordinary token is replaced). Lower is better: the top
    tokens alone keep the prediction. A sequence of fractions gives the AOPC as in
    :func:`comprehensiveness`; parameters and result are as there.
    """
    return _at_sizes("sufficiency", explanation, explainer, k, mode, target, token, top_only=True)


def log_odds(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: Fractions = 0.2,
    mode: Mode = "baseline",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """The log-odds of the DIG and SIG papers at the top ``k`` (default 20 %).

    ``LO(f) = log p_y(x̃) − log p_y(x)`` where ``x̃`` is ``x`` with its top ``int(f · n)``
    ordinary tokens replaced by the replacement token (DIG: "masking the top k % words" with
    the reference token; :func:`replacement_token`), natural logarithm, ``y`` the target (the
    papers use the predicted class). Lower (more negative) is better. Unlike the papers'
    code, special tokens are neither ranked nor counted in ``n``. Default ``mode="baseline"``
    because the definition replaces; ``mode="delete"`` removes instead. A sequence of
    fractions averages over the distinct non-empty sizes.
    """
    return _at_sizes("log_odds", explanation, explainer, k, mode, target, token, top_only=False)


def deletion_curve(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: Sequence[float] | None = None,
    mode: Mode = "delete",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """The target probability as the top tokens are removed one by one, and its area.

    ``curve[i] = p_y(x ∖ top_{f_i})``; the value is the area under it by the trapezoid rule
    over the fractions ``f`` from 0 to 1. Lower is better (the probability falls as soon as
    the first-ranked tokens go).

    Parameters
    ----------
    k : sequence of float, optional
        The fractions to evaluate (sorted, from 0 to 1 for an area over the whole range);
        None is every count ``i / n``, ``i = 0 … n`` (``n + 1`` points, exact).
    explanation, explainer, mode, target, token
        As in :func:`comprehensiveness`.

    Returns
    -------
    MetricResult
        ``curve`` ``(n_points,)`` of probabilities at the fractions ``at``.
    """
    return _curve("deletion", explanation, explainer, k, mode, target, token, top_only=False)


def insertion_curve(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: Sequence[float] | None = None,
    mode: Mode = "delete",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """The target probability as the top tokens are put back one by one, and its area.

    ``curve[i] = p_y(top_{f_i})``, from the special tokens alone (``mode="delete"``) or every
    ordinary token replaced (``mode="baseline"``) up to the whole input. Higher is better.
    Parameters and result as in :func:`deletion_curve`.
    """
    return _curve("insertion", explanation, explainer, k, mode, target, token, top_only=True)


def tau_loo(
    explanation: Explanation,
    explainer: Explainer,
    *,
    k: None = None,
    mode: Mode = "delete",
    target: int | str | None = None,
    token: str | None = None,
) -> MetricResult:
    """τ-LOO (ferret): Kendall's τ between the attributions and the leave-one-out drops.

    For each ordinary token ``i``, ``loo_i = p_y(x) − p_y(x ∖ i)``; the value is
    ``scipy.stats.kendalltau(attributions, loo)`` (τ-b) over the ordinary tokens. Higher is
    better (1: the attributions order the tokens as removing each one alone does). ``k`` is
    accepted for the common signature and must be None.

    Returns
    -------
    MetricResult
        ``curve`` the drops ``loo`` ``(n,)`` at the token positions ``at``; ``value`` is
        ``nan`` with fewer than two ordinary tokens or a constant side.
    """
    from scipy.stats import kendalltau

    if k is not None:
        raise ValueError("tau_loo uses every ordinary token: k must be None")
    t = _target(explanation, target)
    free = np.flatnonzero(~np.asarray(explanation.special, dtype=bool))
    present = np.ones((len(free), len(explanation.tokens)), dtype=bool)
    present[np.arange(len(free)), free] = False
    drops = float(explanation.probs[t]) - _probs(explanation, explainer, present, mode, token, t)
    value = math.nan
    scores = explanation.scores[t, free]
    if len(free) >= 2 and np.ptp(scores) > 0 and np.ptp(drops) > 0:
        value = float(kendalltau(scores, drops).statistic)
    return MetricResult("tau_loo", value, drops, free, t, mode, higher_is_better=True)


#: every metric by name (what :func:`faithfulness_summary` accepts)
METRICS: Mapping[str, Metric] = {
    "comprehensiveness": comprehensiveness,
    "sufficiency": sufficiency,
    "log_odds": log_odds,
    "deletion_curve": deletion_curve,
    "insertion_curve": insertion_curve,
    "tau_loo": tau_loo,
}


# ---------------------------------------------------------------------------- controls
def random_ranking(exp: Explanation, seed: int = 0) -> Explanation:
    """A copy of ``exp`` whose attributions are shuffled among the ordinary tokens.

    The same permutation applies to every class; special tokens keep theirs; the sums, so
    the completeness check, are unchanged. A control: a faithful method must beat it.
    """
    free = np.flatnonzero(~np.asarray(exp.special, dtype=bool))
    scores = exp.scores.copy()
    scores[:, free] = scores[:, np.random.default_rng(seed).permutation(free)]
    return replace(exp, scores=scores)


def reversed_ranking(exp: Explanation) -> Explanation:
    """A copy of ``exp`` with the ordinary tokens' attributions negated: the ranking reversed.

    ``delta`` is recomputed from the new sums. A control: a faithful method must beat it.
    """
    free = np.flatnonzero(~np.asarray(exp.special, dtype=bool))
    scores = exp.scores.copy()
    scores[:, free] = -scores[:, free]
    delta = scores.sum(-1) - (exp.f_input - exp.f_baseline)
    return replace(exp, scores=scores, delta=delta)


# ---------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class MetricSummary:
    """One metric over many explanations: per-text values and their mean with a t interval.

    Attributes
    ----------
    name : str
        The metric.
    values : np.ndarray
        One value per explanation, shape ``(n_texts,)``; ``nan`` where undefined.
    mean : float
        The mean of the defined values.
    low, high : float
        The Student-t confidence interval of the mean, ``mean ± t_{(1+c)/2, m−1} · s / √m``
        over the ``m`` defined values (``nan`` when ``m < 2``).
    n : int
        ``m``: how many values are defined.
    higher_is_better : bool
        The direction of a more faithful explanation.
    """

    name: str
    values: np.ndarray
    mean: float
    low: float
    high: float
    n: int
    higher_is_better: bool

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class FaithfulnessSummary:
    """Faithfulness of a list of explanations, per text and on average.

    Attributes
    ----------
    metrics : tuple[MetricSummary, ...]
        One summary per metric, in the order asked.
    confidence : float
        The level of the intervals (0.95).
    """

    metrics: tuple[MetricSummary, ...]
    confidence: float

    def __getitem__(self, name: str) -> MetricSummary:
        for summary in self.metrics:
            if summary.name == name:
                return summary
        raise KeyError(f"No metric {name!r}; have {[m.name for m in self.metrics]}")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per metric: ``mean``, ``low``, ``high``, ``n``, ``higher_is_better``."""
        import pandas as pd

        rows = [
            {
                "metric": m.name,
                "mean": m.mean,
                "low": m.low,
                "high": m.high,
                "n": m.n,
                "higher_is_better": m.higher_is_better,
            }
            for m in self.metrics
        ]
        return pd.DataFrame(rows).set_index("metric")

    def per_text(self) -> pd.DataFrame:
        """One row per explanation, one column of values per metric."""
        import pandas as pd

        return pd.DataFrame({m.name: m.values for m in self.metrics})


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """The mean of the finite ``values`` and its Student-t confidence interval.

    Returns
    -------
    mean, low, high : float
        ``nan`` bounds with fewer than two finite values (``nan`` mean with none).
    n : int
        How many values are finite.
    """
    from scipy.stats import t as student_t

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, 1
    half = float(
        student_t.ppf((1 + confidence) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    )
    return mean, mean - half, mean + half, len(x)


def faithfulness_summary(
    explanations: Iterable[Explanation],
    explainer: Explainer,
    *,
    metrics: Sequence[str | Metric] = ("comprehensiveness", "sufficiency"),
    k: Any = None,
    mode: Mode | None = None,
    target: int | str | None = None,
    confidence: float = 0.95,
    progress: ProgressHook | None = None,
    cancel: CancelHook | None = None,
    total: int | None = None,
) -> FaithfulnessSummary:
    """Several metrics over a list of explanations: per-text values, means and 95 % intervals.

    Parameters
    ----------
    explanations : iterable of Explanation
        Explanations of ``explainer``'s model (one text each); an iterator is read once, one
        explanation at a time (only the values are kept).
    explainer : Explainer
        Runs the perturbed texts.
    metrics : sequence of str or callable
        Names of :data:`METRICS` or metric functions; default comprehensiveness and
        sufficiency.
    k, mode : optional
        Passed to every metric when not None (each metric's own default otherwise: 20 %,
        ``"delete"``, ``"baseline"`` for log-odds).
    target : int, str or None
        The class of every explanation; None is each one's predicted class.
    confidence : float
        The level of the Student-t intervals of the means.
    progress : callable, optional
        ``progress(done, total)`` after each explanation.
    cancel : callable or threading.Event, optional
        Checked before each explanation; when set, :class:`ig_widgets.Cancelled` is raised.
    total : int, optional
        How many explanations an iterator yields (for ``progress``); a sized collection's
        length by default.

    Returns
    -------
    FaithfulnessSummary
        One :class:`MetricSummary` per metric.
    """
    named = [_metric(m) for m in metrics]
    options: dict[str, Any] = {"target": target}
    if k is not None:
        options["k"] = k
    if mode is not None:
        options["mode"] = mode
    if total is None and isinstance(explanations, Sized):
        total = len(explanations)
    columns: list[list[float]] = []
    directions: dict[int, bool] = {}
    for j, exp in enumerate(explanations):
        if is_cancelled(cancel):
            raise Cancelled()
        column = []
        for i, (_, fn) in enumerate(named):
            result = fn(exp, explainer, **options)
            column.append(result.value)
            directions[i] = result.higher_is_better
        columns.append(column)
        if progress is not None:
            progress(j + 1, max(total or 0, j + 1))
    values = np.array(columns, dtype=np.float64).reshape(len(columns), len(named)).T
    summaries = []
    for i, (name, _) in enumerate(named):
        mean, low, high, n = mean_interval(values[i], confidence)
        up = directions.get(i, _HIGHER_IS_BETTER.get(name, True))
        summaries.append(MetricSummary(name, _frozen(values[i]), mean, low, high, n, up))
    return FaithfulnessSummary(tuple(summaries), confidence)


# ---------------------------------------------------------------------------- internals
_HIGHER_IS_BETTER = {
    "comprehensiveness": True,
    "sufficiency": False,
    "log_odds": False,
    "deletion": False,
    "insertion": True,
    "deletion_curve": False,
    "insertion_curve": True,
    "tau_loo": True,
}


def _metric(metric: str | Metric) -> tuple[str, Metric]:
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"Unknown metric {metric!r}; use one of {', '.join(METRICS)}")
        return metric, METRICS[metric]
    return getattr(metric, "__name__", repr(metric)), metric


def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _target(exp: Explanation, target: int | str | None) -> int:
    return exp.predicted if target is None else exp.class_index(target)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'delete' or 'baseline', got {mode!r}")


def _adapter_for(exp: Explanation, explainer: Explainer) -> ModelAdapter:
    adapter: ModelAdapter | None = getattr(explainer, "adapter", None)
    if adapter is None:
        raise TypeError(
            f"explainer must be an ig_widgets.Explainer, got {type(explainer).__name__}"
        )
    if exp.model_name and exp.model_name != adapter.name:
        raise ValueError(
            f"The explanation was computed with {exp.model_name!r}, the explainer runs "
            f"{adapter.name!r}: score an explanation with its own model's explainer"
        )
    if tuple(exp.classes) != tuple(adapter.classes):
        raise ValueError(
            f"The explanation's classes {exp.classes} are not the model's {adapter.classes}"
        )
    return adapter


def _replacement_embedding(
    exp: Explanation, adapter: ModelAdapter, token: str | None
) -> torch.Tensor:
    """The embedding ``mode="baseline"`` writes in place of a token, ``(dim,)``."""
    name = replacement_token(exp, adapter, token)
    tid = exp.token_ids[0] if name is None else adapter.token_id(name)
    with torch.no_grad():
        row = adapter.embed(torch.tensor([[tid]], dtype=torch.long))[0, 0]
    return torch.zeros_like(row) if name is None else row


def _fractions(k: Fractions) -> tuple[list[float], bool]:
    """The fractions of ``k`` (sorted) and whether ``k`` was a single one."""
    if isinstance(k, (int, float, np.floating, np.integer)) and not isinstance(k, bool):
        return [float(k)], True
    if isinstance(k, np.ndarray):
        k = k.tolist()
    if isinstance(k, str) or not isinstance(k, Sequence) or len(k) == 0:
        raise ValueError(f"k must be a fraction or a non-empty sequence of fractions, got {k!r}")
    return sorted(float(f) for f in k), False


def _present_rows(
    exp: Explanation, ranked: np.ndarray, counts: Sequence[int], top_only: bool
) -> np.ndarray:
    """``(len(counts), n_tokens)``: without the top ``m`` tokens, or with only them."""
    n_tokens = len(exp.tokens)
    rows = np.full((len(counts), n_tokens), not top_only)
    for r, m in enumerate(counts):
        rows[r, ranked[:m]] = top_only
    return rows


def _probs(
    exp: Explanation,
    explainer: Explainer,
    present: np.ndarray,
    mode: Mode,
    token: str | None,
    target: int,
) -> np.ndarray:
    """The target's probabilities of the perturbed rows, ``(n_rows,)``."""
    if len(present) == 0:
        _adapter_for(exp, explainer)
        _check_mode(mode)
        return np.zeros(0)
    return perturbed_probs(exp, explainer, present, mode=mode, token=token)[:, target]


def _at_sizes(
    name: str,
    exp: Explanation,
    explainer: Explainer,
    k: Fractions,
    mode: Mode,
    target: int | str | None,
    token: str | None,
    *,
    top_only: bool,
) -> MetricResult:
    """Comprehensiveness, sufficiency or log-odds at one fraction or averaged over several."""
    t = _target(exp, target)
    ranked = ranking(exp, t)
    fractions, single = _fractions(k)
    sizes: dict[int, float] = {}  # distinct non-empty sizes, each at its first fraction
    for f in fractions:
        m = top_count(f, len(ranked))
        if m > 0:
            sizes.setdefault(m, f)
    p = _probs(exp, explainer, _present_rows(exp, ranked, list(sizes), top_only), mode, token, t)
    p_input = float(exp.probs[t])
    if name == "log_odds":
        values = np.log(np.maximum(p, 1e-300)) - math.log(max(p_input, 1e-300))
    else:
        values = p_input - p
    value = float(values.mean()) if len(values) else math.nan
    curve = None if single else values
    at = None if single else np.array(list(sizes.values()))
    return MetricResult(name, value, curve, at, t, mode, _HIGHER_IS_BETTER[name])


def _curve(
    name: str,
    exp: Explanation,
    explainer: Explainer,
    k: Sequence[float] | None,
    mode: Mode,
    target: int | str | None,
    token: str | None,
    *,
    top_only: bool,
) -> MetricResult:
    """A deletion or insertion curve and its trapezoid area over the fractions."""
    t = _target(exp, target)
    ranked = ranking(exp, t)
    n = len(ranked)
    if k is None:
        fractions = np.arange(n + 1) / max(n, 1) if n else np.zeros(0)
    else:
        fractions = np.asarray(_fractions(k)[0], dtype=np.float64)
    counts = [top_count(f, n) for f in fractions]
    p = _probs(exp, explainer, _present_rows(exp, ranked, counts, top_only), mode, token, t)
    value = float(np.trapezoid(p, fractions)) if n and len(p) >= 2 else math.nan
    return MetricResult(f"{name}_curve", value, p, fractions, t, mode, _HIGHER_IS_BETTER[name])
