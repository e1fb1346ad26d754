"""Metrics over many explanations: per-text values, means and Student-t intervals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.core import CancelHook, Cancelled, ProgressHook, is_cancelled
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.metrics.per_text import HIGHER_IS_BETTER, METRICS, Metric
from ig_widgets.engine.metrics.perturb import Mode

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.explainer import Explainer


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
        up = directions.get(i, HIGHER_IS_BETTER.get(name, True))
        summaries.append(MetricSummary(name, _frozen(values[i]), mean, low, high, n, up))
    return FaithfulnessSummary(tuple(summaries), confidence)


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
