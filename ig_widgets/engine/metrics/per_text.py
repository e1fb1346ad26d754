"""The faithfulness metrics of one explanation (ERASER, DIG/SIG log-odds, curves, τ-LOO)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.metrics.perturb import (
    Mode,
    adapter_of,
    check_mode,
    perturbed_probs,
    ranking,
    target_index,
    top_count,
)

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer

#: ERASER's rationale sizes for AOPC (DeYoung et al., 2020): 1, 5, 10, 20 and 50 %
ERASER_SIZES: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)

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
    t = target_index(explanation, target)
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


HIGHER_IS_BETTER = {
    "comprehensiveness": True,
    "sufficiency": False,
    "log_odds": False,
    "deletion": False,
    "insertion": True,
    "deletion_curve": False,
    "insertion_curve": True,
    "tau_loo": True,
}


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
        adapter_of(exp, explainer)
        check_mode(mode)
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
    t = target_index(exp, target)
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
    return MetricResult(name, value, curve, at, t, mode, HIGHER_IS_BETTER[name])


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
    t = target_index(exp, target)
    ranked = ranking(exp, t)
    n = len(ranked)
    if k is None:
        fractions = np.arange(n + 1) / max(n, 1) if n else np.zeros(0)
    else:
        fractions = np.asarray(_fractions(k)[0], dtype=np.float64)
    counts = [top_count(f, n) for f in fractions]
    p = _probs(exp, explainer, _present_rows(exp, ranked, counts, top_only), mode, token, t)
    value = float(np.trapezoid(p, fractions)) if n and len(p) >= 2 else math.nan
    return MetricResult(f"{name}_curve", value, p, fractions, t, mode, HIGHER_IS_BETTER[name])
