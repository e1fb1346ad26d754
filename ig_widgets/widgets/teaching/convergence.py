"""ConvergenceView: Σ attributions and |delta| against the step count for each quadrature rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import Baseline
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.options import IGOptions
from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.views.selection import DELTA_TOLERANCE, class_name
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.teaching.base import TeachingView
from ig_widgets.widgets.teaching.charts import Axis, Chart, ChartWidget, Series
from ig_widgets.widgets.worker import Request

DEFAULT_STEPS: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
#: |delta| below this is drawn at this value on the log axis (exact zeros have no logarithm)
DELTA_FLOOR = 1e-12


@dataclass(frozen=True)
class ConvergenceParams:
    """What one convergence study ran with: text, step counts, baseline."""

    text: str
    steps: tuple[int, ...]
    baseline: Baseline | str | None


@dataclass(frozen=True)
class ConvergenceTable:
    """Σ attributions and delta of one class for every rule and step count.

    Attributes
    ----------
    target : str
        The class.
    steps : tuple[int, ...]
        Step counts, ``(n_steps,)``.
    methods : tuple[str, ...]
        Rules, ``(n_methods,)``.
    total : np.ndarray
        Σ attributions, ``(n_methods, n_steps)``.
    delta : np.ndarray
        ``Σ attributions − (F(input) − F(baseline))``, ``(n_methods, n_steps)``.
    diff : float
        ``F(input) − F(baseline)``: what every sum converges to.
    """

    target: str
    steps: tuple[int, ...]
    methods: tuple[str, ...]
    total: np.ndarray
    delta: np.ndarray
    diff: float

    def row(self, method: str) -> dict[str, list[float]]:
        """One rule's sums and |delta| by step count."""
        m = self.methods.index(method)
        return {"total": self.total[m].tolist(), "abs_delta": np.abs(self.delta[m]).tolist()}


def convergence_table(
    explanations: dict[tuple[str, int], Explanation], target: str | int | None = None
) -> ConvergenceTable:
    """Collect one class's sums and deltas from explanations keyed by ``(method, n_steps)``.

    Parameters
    ----------
    explanations : dict
        ``{(method, n_steps): Explanation}`` of one text and baseline.
    target : str, int or None
        The class; None for the predicted one.
    """
    methods = tuple(dict.fromkeys(m for m, _ in explanations))
    steps = tuple(sorted({n for _, n in explanations}))
    first = next(iter(explanations.values()))
    c = first.predicted if target in (None, "") else first.class_index(target)
    total = np.array([[explanations[m, n].scores[c].sum() for n in steps] for m in methods])
    delta = np.array([[explanations[m, n].delta[c] for n in steps] for m in methods])
    diff = float(first.f_input[c] - first.f_baseline[c])
    return ConvergenceTable(first.classes[c], steps, methods, total, delta, diff)


def convergence_charts(table: ConvergenceTable) -> list[Chart]:
    """Σ attributions (a line per rule, the exact value dashed) and |delta| on log axes."""
    steps = [float(n) for n in table.steps]
    x = Axis("quadrature points (log scale)", log=True, ticks=steps, tick_format="{:.0f}")
    totals = Chart(
        f"Σ attributions for {table.target!r} by rule and step count",
        x,
        Axis("Σ attributions"),
        series=[
            Series(m, steps, table.total[i].tolist(), kind=str(i), markers=True)
            for i, m in enumerate(table.methods)
        ],
        refs=[(table.diff, f"F(input) − F(baseline) {table.diff:+.4f}")],
    )
    floored = np.maximum(np.abs(table.delta), DELTA_FLOOR)
    errors = Chart(
        "|delta| = |Σ attributions − (F(input) − F(baseline))|, log scale",
        x,
        Axis("|delta|", log=True),
        series=[
            Series(
                m,
                steps,
                floored[i].tolist(),
                kind=str(i),
                markers=True,
                tips=[
                    f"{m}, {n} points: |delta| {d:.2e}"
                    for n, d in zip(steps, floored[i], strict=True)
                ],
            )
            for i, m in enumerate(table.methods)
        ],
        refs=[(DELTA_TOLERANCE * abs(table.diff), "1 % of |F(input) − F(baseline)|")]
        if table.diff
        else [],
    )
    return [totals, errors]


class ConvergenceView(TeachingView):
    """How fast each quadrature rule's sum reaches F(input) − F(baseline) (completeness).

    Parameters
    ----------
    explainer_or_model : Any
        An :class:`ig_widgets.Explainer` or a model it accepts.
    text : str
        The text to study.
    target : str, int or None
        The class; None follows the prediction.
    steps : sequence of int
        Step counts (each at least 2: the Riemann rules need two points).
    baseline : Baseline, str or None
        As :meth:`ig_widgets.Explainer.explain` takes it.

    Notes
    -----
    Every rule at every step count is an ordinary :meth:`Explainer.explain` call; the engine's
    cache shares the gradients of points that several rules use (the Riemann rules' nested
    points, and α = 0.5 for example), and a target change needs no model call. The table
    is in :attr:`table`. DOM: root ``.igw-convergence``; two ``.igw-chart`` panels; a table
    ``.igw-convergence-table`` whose cells carry ``data-method``, ``data-steps`` and
    ``data-delta``.
    """

    template = t.Unicode(
        vue_template("convergence_view.vue"),
        help="the Vue template (js/convergence_view.vue with its shared parts)",
    ).tag(sync=True)

    text = t.Unicode("", help="the text whose convergence is studied").tag(sync=True)
    steps = t.List(t.Int(), list(DEFAULT_STEPS), help="the step counts each rule runs at").tag(
        sync=True
    )
    target = t.Unicode("", help="the class shown; '' follows the prediction").tag(sync=True)
    rows = t.List(
        t.Dict(), help="|delta| and Σ attributions per rule and step count (the table)"
    ).tag(sync=True)
    charts = t.List(
        t.Instance(ChartWidget), help="Σ attributions and |delta| against the step count"
    ).tag(sync=True, **widget_serialization)

    def __init__(
        self,
        explainer_or_model: Any,
        text: str = "",
        *,
        target: str | int | None = None,
        steps: Sequence[int] = DEFAULT_STEPS,
        baseline: Baseline | str | None = None,
        debounce: float = 0.2,
    ) -> None:
        counts = [int(n) for n in steps]
        if not counts or any(n < 2 for n in counts):
            raise ValueError(f"steps must be step counts of at least 2, got {list(steps)}")
        self._baseline = baseline
        super().__init__(
            explainer_or_model,
            debounce=debounce,
            text=text,
            steps=sorted(set(counts)),
            charts=[ChartWidget(), ChartWidget()],
        )
        if target is not None:
            self.target = class_name(self.classes, target)
        self._schedule()

    @property
    def table(self) -> ConvergenceTable | None:
        """The sums and deltas shown, for the shown class (None before the first result)."""
        if self._result is None:
            return None
        return convergence_table(self._result, self.target or None)

    @t.observe("text", "steps")
    def _on_param(self, _change: dict[str, Any]) -> None:
        self._schedule()

    @t.observe("target")
    def _on_target(self, _change: dict[str, Any]) -> None:
        self._rerender()

    def _children(self) -> list[Any]:
        return list(self._trait_values.get("charts", []))

    def _request(self) -> ConvergenceParams:
        return ConvergenceParams(self.text, tuple(self.steps), self._baseline)

    def _compute(
        self, params: ConvergenceParams, request: Request
    ) -> dict[tuple[str, int], Explanation]:
        jobs = [(m, n) for m in ALL_METHODS for n in params.steps]
        out: dict[tuple[str, int], Explanation] = {}
        for k, (method, n) in enumerate(jobs):
            out[method, n] = self.explainer.explain(
                params.text,
                **IGOptions.build(n, method).as_kwargs(),
                baseline=params.baseline,
                cancel=request.cancel,
            )
            self._progress(request, k + 1, len(jobs))
        return out

    def _show(self, result: dict[tuple[str, int], Explanation]) -> None:
        table = convergence_table(result, self.target or None)
        for widget, chart in zip(self.charts, convergence_charts(table), strict=True):
            widget.draw(chart)
        self.rows = [
            {
                "method": m,
                "cells": [
                    {
                        "steps": n,
                        "total": float(table.total[i, j]),
                        "delta": float(table.delta[i, j]),
                    }
                    for j, n in enumerate(table.steps)
                ],
            }
            for i, m in enumerate(table.methods)
        ]
        first = next(iter(result.values()))
        self.status = (
            f"class {table.target} · F(input) − F(baseline) {table.diff:+.4f} · "
            f"baseline {first.baseline} · {len(first.tokens)} tokens"
        )
