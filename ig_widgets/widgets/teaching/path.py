"""PathView: what Integrated Gradients integrates, drawn along the path from baseline to input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import BASELINE_KINDS, NEUTRAL, Baseline, baseline_from_choice
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.options import IGOptions
from ig_widgets.views.normalize import score_format
from ig_widgets.views.selection import FIXES, badge, baseline_meaning, class_name, rule_items
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.teaching.base import TeachingView
from ig_widgets.widgets.teaching.charts import Axis, Bar, Chart, ChartWidget, Series, as_floats
from ig_widgets.widgets.worker import Request

if TYPE_CHECKING:
    from ig_widgets.widgets.explorer import Explorer

#: points of the dense curve: the trapezoid rule's nodes i/32, i = 0..32 (α = 0 and 1 included)
DENSE_POINTS = 33
DENSE_METHOD = "riemann_trapezoid"


@dataclass(frozen=True)
class PathParams:
    """What one path computation ran with.

    Attributes
    ----------
    text : str
        The explained text.
    n_steps : int or "auto"
        Quadrature points of the rule shown ("auto": as many as the completeness check needs).
    method : str
        The quadrature rule shown.
    baseline : Baseline, str or None
        As :meth:`ig_widgets.Explainer.explain` takes it.
    """

    text: str
    n_steps: int | str
    method: str
    baseline: Baseline | str | None


@dataclass(frozen=True)
class PathResult:
    """The explanation at the requested rule and one on a dense grid of the same path.

    Attributes
    ----------
    explanation : Explanation
        At ``n_steps`` points of ``method``; its ``path`` holds the quadrature points used.
    dense : Explanation
        At the :data:`DENSE_POINTS` evenly spaced points ``α = i / 32`` (trapezoid nodes);
        its ``path`` draws the curves.
    """

    explanation: Explanation
    dense: Explanation


def path_charts(result: PathResult, target: str | int | None = None) -> list[Chart]:
    """The three panels of a path view for one class.

    1. ``F(baseline + α·(input − baseline))`` over α, the quadrature points marked;
    2. the integrand ``dF/dα`` with the rule's cells (their area is Σ attributions);
    3. the gradient magnitude ``‖∂F/∂e‖`` along the path.

    Parameters
    ----------
    result : PathResult
        What :class:`PathView` computed.
    target : str, int or None
        The class; None for the predicted one.
    """
    exp, dense = result.explanation, result.dense
    assert exp.path is not None and dense.path is not None
    c = exp.predicted if target in (None, "") else exp.class_index(target)
    name = exp.classes[c]
    pts, curve = exp.path, dense.path
    rule = f"{exp.method}, {exp.n_steps} points"
    tips = [
        f"α = {a:.4f}, weight {w:.4f}, F = {f:.4f}, dF/dα = {d:+.4f}"
        for a, w, f, d in zip(pts.alphas, pts.weights, pts.f[c], pts.dfdalpha[c], strict=True)
    ]
    alpha = Axis("α (0 = baseline, 1 = input)", 0.0, 1.0)

    def marked(label: str, values: np.ndarray) -> Series:
        """The rule's points, as markers with their weight in the tooltip."""
        xs, ys = as_floats(pts.alphas), as_floats(values)
        return Series(label, xs, ys, kind="4", markers=True, tips=tips, line=False)

    what = "probability" if exp.output == "probs" else "logit"
    f_chart = Chart(
        f"F = {what} of {name!r} along the straight path",
        alpha,
        Axis(f"F ({what})"),
        series=[
            Series("F on a dense grid", as_floats(curve.alphas), as_floats(curve.f[c])),
            marked(f"quadrature points ({rule})", pts.f[c]),
        ],
        refs=[
            (float(exp.f_baseline[c]), f"F(baseline) {exp.f_baseline[c]:.4f}"),
            (float(exp.f_input[c]), f"F(input) {exp.f_input[c]:.4f}"),
        ],
    )
    edges = np.concatenate([[0.0], np.cumsum(pts.weights)])
    total = float(exp.scores[c].sum())
    diff = float(exp.f_input[c] - exp.f_baseline[c])
    shown = score_format([total, diff])
    integrand = Chart(
        f"dF/dα: cells' area Σ attributions {shown.format(total)}; "
        f"exact area F(input) − F(baseline) {shown.format(diff)}",
        alpha,
        Axis("dF/dα"),
        series=[
            Series("dF/dα on a dense grid", as_floats(curve.alphas), as_floats(curve.dfdalpha[c])),
            marked("quadrature points", pts.dfdalpha[c]),
        ],
        bars=[
            Bar(float(lo), float(hi), float(d), f"weight {w:.4f} × dF/dα {d:+.4f}")
            for lo, hi, w, d in zip(
                edges[:-1], edges[1:], pts.weights, pts.dfdalpha[c], strict=True
            )
        ],
    )
    grad = Chart(
        "gradient magnitude ‖∂F/∂embeddings‖ along the path",
        alpha,
        Axis("‖∂F/∂e‖", lo=0.0),
        series=[
            Series("dense grid", as_floats(curve.alphas), as_floats(curve.grad_norm[c])),
            marked("quadrature points", pts.grad_norm[c]),
        ],
    )
    return [f_chart, integrand, grad]


class PathView(TeachingView):
    """F along the straight path from the baseline to the input, and what IG sums of it.

    Parameters
    ----------
    explainer_or_model : Any
        An :class:`ig_widgets.Explainer` or a model it accepts.
    text : str
        The text whose path is drawn.
    target : str, int or None
        The class; None follows the prediction.
    n_steps : int
        Quadrature points of the rule whose points are marked.
    method : str
        The quadrature rule (Captum's names).
    baseline : Baseline, str or None
        As :meth:`ig_widgets.Explainer.explain` takes it, or ``"[neutral]"``.

    Notes
    -----
    The curves come from the engine itself: an explanation at 33 evenly spaced points of the
    same path (``α = i/32``; it also gives ``dF/dα`` and the gradient norm there) and one at
    the requested rule, whose ``path`` holds the points actually used. Both go through the
    explainer's cache, so a linked view costs little beyond what the Explorer computed.
    A path that does not add up, or a baseline far from neutral, is warned about in
    :attr:`warnings`, each with its one-click fix (:meth:`vue_fix`: the points the check
    needs, or ``[neutral]``).
    DOM: root ``.igw-path-view``; three ``.igw-chart`` panels; summary ``.igw-path-summary``;
    warnings ``.igw-warning`` (``data-kind``) with their ``.igw-warning-fix`` buttons.
    """

    template = t.Unicode(
        vue_template("path_view.vue"),
        help="the Vue template (js/path_view.vue with its shared parts)",
    ).tag(sync=True)

    text = t.Unicode("", help="the text whose path is drawn").tag(sync=True)
    n_steps = t.Int(16, help="quadrature points of the drawn rule").tag(sync=True)
    method = t.Unicode("gausslegendre", help="the quadrature rule drawn").tag(sync=True)
    rule_items = t.List(
        t.Dict(), rule_items(), help="the method menu: every rule, as {title, value}"
    ).tag(sync=True)
    target = t.Unicode("", help="the class drawn; '' follows the prediction").tag(sync=True)
    baseline_label = t.Unicode("", help="the baseline's description").tag(sync=True)
    linked = t.Bool(
        False, help="follows an Explorer's text and settings (its own controls disabled)"
    ).tag(sync=True)
    summary = t.Dict(
        help="F at both ends, the rule, Σ attributions and delta of the drawn class"
    ).tag(sync=True)
    warnings = t.List(
        t.Dict(), help="what is wrong with the drawn path, as {kind, meaning, fix}"
    ).tag(sync=True)
    charts = t.List(
        t.Instance(ChartWidget), help="F, dF/dα and the gradient's magnitude along the path"
    ).tag(sync=True, **widget_serialization)

    def __init__(
        self,
        explainer_or_model: Any,
        text: str = "",
        *,
        target: str | int | None = None,
        n_steps: int = 16,
        method: str = "gausslegendre",
        baseline: Baseline | str | None = None,
        debounce: float = 0.2,
    ) -> None:
        self._baseline = baseline
        self._auto = False  # the steps fix asked for the points the check needs
        self._explorer: Explorer | None = None
        super().__init__(
            explainer_or_model,
            debounce=debounce,
            text=text,
            n_steps=n_steps,
            method=method,
            charts=[ChartWidget() for _ in range(3)],
        )
        if target is not None:
            self.target = class_name(self.explainer.classes, target)
        self._schedule()

    @classmethod
    def from_explorer(cls, explorer: Explorer, **kwargs: Any) -> PathView:
        """A path view that follows an Explorer's text, steps, rule, baseline and target.

        The view recomputes after each of the Explorer's final results, which it hears of
        through :meth:`Explorer.on_result` (so it shares the Explorer's cached gradients),
        and follows its target without a computation.
        """
        view = cls(
            explorer.explainer,
            explorer.text,
            n_steps=explorer.n_steps,
            method=explorer.method,
            target=explorer.target or None,
            baseline=_followed(explorer, explorer.baseline),
            **kwargs,
        )
        view._explorer = explorer
        view.linked = True
        explorer.on_result(view._follow_result)
        explorer.observe(view._follow_target, "target")
        return view

    @property
    def baseline(self) -> Baseline | str | None:
        """The baseline of the path (None: the model's default)."""
        return self._baseline

    @baseline.setter
    def baseline(self, value: Baseline | str | None) -> None:
        self._baseline = value
        self._schedule()

    def vue_fix(self, kind: Any) -> None:
        """A warning's one-click fix: ``"steps"`` or ``"baseline"``; others are ignored."""
        if kind == "steps":
            self._auto = True
            self._schedule()
        elif kind == "baseline":
            self.baseline = NEUTRAL

    def close(self) -> None:
        """Stop following the Explorer, then close."""
        explorer = self.__dict__.get("_explorer")
        if explorer is not None:
            explorer.on_result(self._follow_result, remove=True)
            explorer.unobserve(self._follow_target, "target")
            self._explorer = None
        super().close()

    # ---------------------------------------------------------------- linking
    def _follow_result(self, exp: Explanation) -> None:
        """The Explorer showed ``exp`` (its lock held): draw its path once it is final."""
        explorer = self._explorer
        if explorer is None or not exp.is_final or explorer.parameters is None:
            return
        params = explorer.parameters
        self._baseline = _followed(explorer, params.baseline)
        with self.hold_trait_notifications():
            self.text, self.n_steps, self.method = params.text, exp.n_steps, params.method
        self._schedule(force=True)  # the same settings may have a new result (refresh)

    def _follow_target(self, change: dict[str, Any]) -> None:
        self.target = change["new"]

    # ---------------------------------------------------------------- TeachingView
    @t.observe("text", "n_steps", "method")
    def _on_param(self, _change: dict[str, Any]) -> None:
        self._schedule()

    @t.observe("target")
    def _on_target(self, _change: dict[str, Any]) -> None:
        self._rerender()

    def _children(self) -> list[Any]:
        return list(self._trait_values.get("charts", []))

    def _request(self) -> PathParams:
        steps = "auto" if self._auto else self.n_steps
        return PathParams(self.text, steps, self.method, self._baseline)

    def _compute(self, params: PathParams, request: Request) -> PathResult:
        baseline = params.baseline
        if isinstance(baseline, str) and baseline in BASELINE_KINDS:
            length = sum(not s for s in self.explainer.tokenize(params.text).special)
            baseline = baseline_from_choice(baseline, self.explainer.adapter, length=length)
        exp = self.explainer.explain(
            params.text,
            **IGOptions.build(params.n_steps, params.method).as_kwargs(),  # type: ignore[arg-type]
            baseline=baseline,
            progress=lambda done, total: self._progress(request, done, 2 * total),
            cancel=request.cancel,
        )
        dense = self.explainer.explain(
            params.text,
            **IGOptions.build(DENSE_POINTS, DENSE_METHOD).as_kwargs(),
            baseline=baseline,
            progress=lambda done, total: self._progress(request, total + done, 2 * total),
            cancel=request.cancel,
        )
        return PathResult(exp, dense)

    def _show(self, result: PathResult) -> None:
        exp = result.explanation
        charts = path_charts(result, self.target or None)
        for widget, chart in zip(self.charts, charts, strict=True):
            widget.draw(chart)
        c = exp.predicted if not self.target else exp.class_index(self.target)
        attr = exp.for_class(c)
        self.baseline_label = exp.baseline
        self.summary = {
            "target": attr.label,
            "f_baseline": attr.f_baseline,
            "f_input": attr.f_input,
            "diff": attr.f_input - attr.f_baseline,
            "total": attr.total,
            "delta": attr.delta,
            "method": exp.method,
            "n_steps": exp.n_steps,
            "baseline": exp.baseline,
            "n_tokens": len(exp.tokens),
        }
        self.status = f"{exp.n_steps} points · {exp.method} · baseline {exp.baseline}"
        check, meaning = badge(attr, exp.output), baseline_meaning(exp)
        self.warnings = [
            {"kind": kind, "meaning": text, "fix": FIXES[kind]["button"]}
            for kind, text in (("steps", check["meaning"]), ("baseline", meaning))
            if text
        ]
        if self._auto:  # the fix found its count: the slider shows it (the points are cached)
            self._auto = False
            self.n_steps = exp.n_steps


def _followed(explorer: Explorer, choice: str) -> Baseline | str | None:
    """What a linked view draws for the Explorer's choice (``[neutral]`` at the text's length)."""
    return choice if choice == NEUTRAL else explorer.baseline_object(choice)
