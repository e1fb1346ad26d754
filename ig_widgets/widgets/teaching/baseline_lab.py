"""BaselineLab: how neutral each candidate baseline is, and how the uncertain one is found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import (
    AVERAGE,
    Baseline,
    UncertainBaseline,
    ZeroBaseline,
    baseline_from_choice,
)
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.metrics import comprehensiveness, faithfulness_summary, sufficiency
from ig_widgets.engine.neutral import NeutralToken, discover_neutral_tokens
from ig_widgets.engine.options import IGOptions
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.teaching.base import TeachingView
from ig_widgets.widgets.teaching.charts import Axis, Chart, ChartWidget, Series
from ig_widgets.widgets.worker import Request

#: the text whose shape (length, kept special tokens) the baselines are built for by default
DEFAULT_TEXT = "A quiet, honest film: the cast is good and the story takes its time."


@dataclass(frozen=True)
class Candidate:
    """A baseline and the class probabilities the model gives it.

    Attributes
    ----------
    label : str
        What the baseline is.
    kind : str
        ``"default"``, ``"zero"``, ``"uncertain"`` or ``"token"`` (a discovered neutral token).
    probs : np.ndarray
        Class probabilities at the baseline, ``(n_classes,)``.
    distance : float
        ``max |p − 1/n_classes|``: 0 is perfectly neutral.
    """

    label: str
    kind: str
    probs: np.ndarray
    distance: float


@dataclass(frozen=True)
class Faithfulness:
    """How faithful the attributions are with one baseline (ERASER's metrics at 20 %).

    Attributes
    ----------
    label, kind : str
        The baseline, as in :class:`Candidate`.
    comprehensiveness, sufficiency : float
        On the lab's text (``nan`` when it is too short).
    sample : dict[str, tuple[float, float]]
        Over the lab's sample of texts, per metric: the mean and the half width of its 95 %
        interval (empty without a sample).
    """

    label: str
    kind: str
    comprehensiveness: float
    sufficiency: float
    sample: dict[str, tuple[float, float]]

    @property
    def order(self) -> tuple[float, float]:
        """The ranking key: higher comprehensiveness first, then lower sufficiency; nan last."""
        comp = self.comprehensiveness if np.isfinite(self.comprehensiveness) else -np.inf
        suff = self.sufficiency if np.isfinite(self.sufficiency) else np.inf
        return (-comp, suff)


@dataclass(frozen=True)
class LabResult:
    """Everything a baseline lab shows.

    Attributes
    ----------
    candidates : tuple[Candidate, ...]
        The baseline kinds on the lab's text, then the discovered neutral tokens.
    neutral : tuple[NeutralToken, ...]
        The discovered tokens, most neutral first (probabilities on ``bos + token × 8``).
    history : tuple[float, ...]
        The uncertain baseline's optimisation curve: ``max |p − 1/C|`` per iteration.
    reached : np.ndarray
        The probabilities the uncertain baseline reached, ``(n_classes,)``.
    ranking : tuple[Faithfulness, ...]
        The baseline kinds ranked by the faithfulness of their attributions, best first.
    """

    candidates: tuple[Candidate, ...]
    neutral: tuple[NeutralToken, ...]
    history: tuple[float, ...]
    reached: np.ndarray
    ranking: tuple[Faithfulness, ...] = ()


def baseline_probs(exp: Explanation) -> np.ndarray:
    """Class probabilities at an explanation's baseline, ``(n_classes,)``."""
    f = np.asarray(exp.f_baseline, dtype=np.float64)
    if exp.output == "probs":
        return f
    e = np.exp(f - f.max())
    return e / e.sum()


def _number(value: float) -> float | None:
    """A float for the front end: None for nan (JSON has no nan)."""
    return float(value) if np.isfinite(value) else None


def _candidate(label: str, kind: str, probs: np.ndarray) -> Candidate:
    probs = np.asarray(probs, dtype=np.float64)
    return Candidate(label, kind, probs, float(np.abs(probs - 1.0 / len(probs)).max()))


class BaselineLab(TeachingView):
    """The model's most neutral tokens and the uncertain baseline's optimisation, side by side.

    Parameters
    ----------
    explainer_or_model : Any
        An :class:`ig_widgets.Explainer` or a model it accepts.
    top_k : int
        How many neutral tokens to list.
    text : str
        The text whose shape (length and kept special tokens) the default, zero and
        uncertain baselines are built for.
    uncertain : UncertainBaseline, optional
        The settings (``max_iter``, ``lr``, ``tol``) of the uncertain baseline; each
        computation optimises a fresh one, kept in :attr:`last_uncertain` (its ``last``
        holds the curve and the probabilities reached).
    sample : sequence of str
        Texts on which every baseline kind's faithfulness is also measured (mean and 95 %
        interval over them); empty: the lab's text only.
    n_steps : int
        Quadrature points of the explanations whose faithfulness ranks the baselines.

    Notes
    -----
    Neutral tokens are found by :func:`ig_widgets.discover_neutral_tokens` over the whole
    vocabulary (in blocks, so a newer request cancels quickly): each token ``t`` is scored on
    the model's leading special tokens followed by ``t`` repeated, as in the seed article.
    A neutral baseline is not necessarily a faithful one: the kinds (default token, zero,
    uncertain, averaged, the most neutral token) are also ranked by the faithfulness of the
    attributions they give (:func:`ig_widgets.metrics.comprehensiveness` and
    :func:`~ig_widgets.metrics.sufficiency` at 20 %, words deleted), on the text and on
    ``sample``.
    DOM: root ``.igw-baseline-lab``; rows ``.igw-candidate`` with ``data-kind``,
    ``data-label`` and ``data-distance``; the ranking ``.igw-faithfulness-rank`` with rows
    ``.igw-rank-row`` (``data-kind``, ``data-comprehensiveness``, ``data-sufficiency``); the
    curve is an ``.igw-chart``.
    """

    template = t.Unicode(
        vue_template("baseline_lab.vue"),
        help="the Vue template (js/baseline_lab.vue with its shared parts)",
    ).tag(sync=True)

    text = t.Unicode(DEFAULT_TEXT, help="the text the baselines are shaped for (its length)").tag(
        sync=True
    )
    top_k = t.Int(10, help="how many discovered neutral tokens to list").tag(sync=True)
    candidates = t.List(
        t.Dict(), help="each baseline with the class probabilities the model gives it"
    ).tag(sync=True)
    reached = t.List(t.Float(), help="the class probabilities the uncertain baseline reached").tag(
        sync=True
    )
    iterations = t.Int(0, help="gradient steps the uncertain baseline took").tag(sync=True)
    ranking = t.List(
        t.Dict(), help="the baseline kinds ranked by the faithfulness of their attributions"
    ).tag(sync=True)
    sample_size = t.Int(0, help="how many sample texts the ranking's means cover").tag(sync=True)
    chart = t.Instance(
        ChartWidget, help="the uncertain baseline's distance from uniform, per step"
    ).tag(sync=True, **widget_serialization)

    def __init__(
        self,
        explainer_or_model: Any,
        top_k: int = 10,
        *,
        text: str = DEFAULT_TEXT,
        uncertain: UncertainBaseline | None = None,
        sample: Sequence[str] = (),
        n_steps: int = 32,
        debounce: float = 0.2,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if isinstance(sample, str) or not all(isinstance(s, str) for s in sample):
            raise TypeError("sample must be a sequence of texts")
        self.uncertain = uncertain if uncertain is not None else UncertainBaseline()
        self.last_uncertain: UncertainBaseline | None = None
        self.sample = tuple(sample)
        self.n_steps = int(n_steps)
        super().__init__(
            explainer_or_model,
            debounce=debounce,
            text=text,
            top_k=top_k,
            chart=ChartWidget(),
            sample_size=len(self.sample),
        )
        self._schedule()

    @t.validate("top_k")
    def _check_top_k(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise t.TraitError("top_k must be at least 1")
        return proposal["value"]

    @t.observe("text", "top_k")
    def _on_param(self, _change: dict[str, Any]) -> None:
        self._schedule()

    def _children(self) -> list[Any]:
        chart = self._trait_values.get("chart")
        return [chart] if chart is not None else []

    def _request(self) -> tuple[str, int]:
        return (self.text, self.top_k)

    def _compute(self, params: tuple[str, int], request: Request) -> LabResult:
        text, top_k = params
        settings = self.uncertain  # a fresh optimisation each time: its curve is this text's
        uncertain = UncertainBaseline(max_iter=settings.max_iter, lr=settings.lr, tol=settings.tol)
        kinds: list[tuple[str, Baseline | str | None]] = [
            ("default", None),
            ("zero", ZeroBaseline()),
            ("uncertain", uncertain),
        ]
        candidates = []
        for kind, baseline in kinds:
            exp = self.explainer.explain(text, n_steps=1, baseline=baseline, cancel=request.cancel)
            label = {
                "default": f"model default: {exp.baseline}",
                "uncertain": "uncertain (optimised)",
            }
            candidates.append(_candidate(label.get(kind, exp.baseline), kind, baseline_probs(exp)))
        self.last_uncertain = uncertain
        last = dict(uncertain.last)
        neutral = self._discover(top_k, request)
        candidates += [_candidate(n.token, "token", n.probs) for n in neutral]
        kinds += [("average", baseline_from_choice(AVERAGE, self.explainer.adapter))]
        if neutral:
            kinds.append(("token", neutral[0].token))
        labels = [c.label for c in candidates[:3]] + ["average of default and zero"]
        labels += [f"most neutral token {neutral[0].token!r}"] if neutral else []
        ranking = [
            self._faithfulness(text, label, kind, baseline, request)
            for label, (kind, baseline) in zip(labels, kinds, strict=True)
        ]
        return LabResult(
            tuple(candidates),
            tuple(neutral),
            tuple(float(x) for x in last.get("history", ())),
            np.asarray(last.get("probs", candidates[2].probs), dtype=np.float64),
            tuple(sorted(ranking, key=lambda f: f.order)),
        )

    def _faithfulness(
        self, text: str, label: str, kind: str, baseline: Baseline | str | None, request: Request
    ) -> Faithfulness:
        """ERASER's metrics at 20 % of the attributions one baseline gives, text and sample."""
        options = {**IGOptions.build(self.n_steps).as_kwargs(), "cancel": request.cancel}
        exp = self.explainer.explain(text, baseline=baseline, **options)
        comp = comprehensiveness(exp, self.explainer).value
        suff = sufficiency(exp, self.explainer).value
        sample: dict[str, tuple[float, float]] = {}
        if self.sample:
            exps = [self.explainer.explain(s, baseline=baseline, **options) for s in self.sample]
            summary = faithfulness_summary(exps, self.explainer, cancel=request.cancel)
            for name in ("comprehensiveness", "sufficiency"):
                metric = summary[name]
                sample[name] = (float(metric.mean), float(metric.half_width))
        return Faithfulness(label, kind, float(comp), float(suff), sample)

    def _discover(self, top_k: int, request: Request) -> list[NeutralToken]:
        """The ``top_k`` most neutral tokens of the vocabulary (cancelled between batches)."""
        return discover_neutral_tokens(
            self.explainer,
            top_k=top_k,
            progress=lambda done, total: self._progress(request, done, total),
            cancel=request.cancel,
        )

    def _show(self, result: LabResult) -> None:
        self.candidates = [
            {
                "label": c.label,
                "kind": c.kind,
                "probs": [float(p) for p in c.probs],
                "distance": round(c.distance, 6),
            }
            for c in result.candidates
        ]
        self.ranking = [
            {
                "label": f.label,
                "kind": f.kind,
                "comprehensiveness": _number(f.comprehensiveness),
                "sufficiency": _number(f.sufficiency),
                "sample": {
                    name: [_number(mean), _number(half)] for name, (mean, half) in f.sample.items()
                },
            }
            for f in result.ranking
        ]
        self.reached = [float(p) for p in result.reached]
        self.iterations = len(result.history)
        history = [max(h, 1e-12) for h in result.history]
        self.chart.draw(
            Chart(
                "uncertain baseline: distance from uniform probabilities per Adam step",
                Axis("optimisation step", lo=0.0),
                Axis("max |p − 1/C|", log=True),
                series=[Series("", [float(i) for i in range(len(history))], history)],
                refs=[(self.uncertain.tol, f"tolerance {self.uncertain.tol:g}")],
            )
        )
        reached = " / ".join(f"{p:.3f}" for p in result.reached)
        self.status = f"uncertain baseline reached {reached} after {len(history)} evaluations"
