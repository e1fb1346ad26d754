"""Compare: several models explain the same text side by side, aligned word by word."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import ipyvuetify as v
import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import (
    DEFAULT,
    NEUTRAL,
    UNCERTAIN,
    ZERO,
    Baseline,
    UncertainBaseline,
    baseline_from_choice,
)
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import ClassAttribution, Explanation
from ig_widgets.engine.metrics import comprehensiveness, sufficiency
from ig_widgets.engine.options import IGOptions, default_method
from ig_widgets.engine.words import Alignment, align
from ig_widgets.views.align import difference
from ig_widgets.views.lm import needs_prompt
from ig_widgets.views.selection import (
    FIXES,
    badge,
    baseline_meaning,
    class_name,
    faithfulness_view,
    legend,
    rule_items,
)
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.live import REFINING, LiveWidget
from ig_widgets.widgets.worker import Request

#: the shared baseline choices (the engine's encoding): each model's most neutral token at the
#: text's length, its default token, zero embeddings, or an embedding sequence optimised (per
#: model) to uniform class probabilities
BASELINE_KINDS: tuple[str, ...] = (NEUTRAL, DEFAULT, ZERO, UNCERTAIN)
#: their menu titles
BASELINE_TITLES = {
    NEUTRAL: "each model's most neutral token at this length",
    DEFAULT: "each model's default token",
    ZERO: "zero embeddings",
    UNCERTAIN: "uncertain (optimised per model)",
}
#: the share of the words removed (or kept) by the rows' faithfulness metrics
FAITHFULNESS_AT = 0.2
#: how rows are coloured: one scale in raw units across models, or each model to its own max
SCALES = ("shared", "own")


@dataclass(frozen=True)
class CompareParams:
    """The parameters one comparison ran with (kept with its results).

    Attributes
    ----------
    text : str
        The explained text.
    n_steps : int or "auto"
        Quadrature points, the same for every model, or "auto" (each model until it adds up).
    method : str
        Quadrature rule.
    baseline : str
        One of :data:`BASELINE_KINDS`.
    """

    text: str
    n_steps: int | str
    method: str
    baseline: str


class Compare(LiveWidget, v.VuetifyTemplate):
    """Several models explain one text side by side, one row of word chips per model.

    Parameters
    ----------
    models : sequence
        Two or more models: fastai ``Learner``s, ``TorchTextClassifier``s or ready
        :class:`ig_widgets.Explainer`s (one explainer per model). They must share their
        class names (the order may differ).
    text : str
        The text every model explains.
    n_steps : int or "auto"
        Quadrature points (the shared ``steps`` slider), or ``"auto"`` (the default: each
        model adds points until its completeness check passes).
    baseline : {"[neutral]", "[default]", "[zero]", "[uncertain]"}
        Each model's most neutral token at the text's length (the default), its default
        token, zero embeddings, or an uncertain baseline optimised for each model (the
        engine's encoding; the bare names are accepted too).
    target : str or None
        The class every row explains, by name; None follows the first model's prediction.
    method : str or None
        Quadrature rule (Captum's names, or ``adaptive``); None: as ``Explainer.explain``.
    names : sequence of str, optional
        Row names; default the models' own names (made unique).
    scale : {"shared", "own"}
        ``"shared"`` (default): one colour scale in raw units across every model, so a model
        that explains 0.007 looks weaker than one that explains 0.43; ``"own"``: each row
        scaled to its own largest score.
    debounce : float
        Seconds of quiet after a change before the computation starts.

    Notes
    -----
    Rows are aligned through the words of the original text (its whitespace pieces, with
    their character spans), which every tokenizer shares; a word's score is the sum of its
    tokens'. The difference row is ``A − B`` per word (raw with the shared scale; after
    scaling each model to its own ``max |score|`` with the own scale). The live machinery is
    :class:`ig_widgets.widgets.live.LiveWidget`'s: newer requests cancel older ones, every
    model's coarse stage is shown together before the final one, and a stale result is never
    shown. DOM: root ``.igw-compare``; rows ``.igw-compare-row`` with ``data-model``; chips
    ``.igw-chip`` (``data-index``, ``data-score``); badges ``.igw-delta``; the difference row
    ``.igw-compare-diff``; aria-labels ``text``, ``steps``, ``method``, ``baseline``,
    ``target``, ``scale``.
    """

    template = t.Unicode(
        vue_template("compare.vue"), help="the Vue template (js/compare.vue with its shared parts)"
    ).tag(sync=True)

    text = t.Unicode("", help="the text every model explains").tag(sync=True)
    n_steps = t.Int(50, help="quadrature points for every model").tag(sync=True)
    auto_steps = t.Bool(True, help="each model adds points until it adds up").tag(sync=True)
    steps_max = t.Int(256, help="the steps slider's maximum").tag(sync=True)
    method = t.Unicode("gausslegendre", help="the quadrature rule for every model").tag(sync=True)
    rule_items = t.List(
        t.Dict(), rule_items(), help="the method menu: every rule, as {title, value}"
    ).tag(sync=True)
    baseline = t.Unicode(
        DEFAULT, help="the baseline kind every model uses: [default], [zero] or [uncertain]"
    ).tag(sync=True)
    baseline_items = t.List(
        t.Dict(),
        [{"title": BASELINE_TITLES[k], "value": k} for k in BASELINE_KINDS],
        help="the baseline menu, as {title, value}",
    ).tag(sync=True)
    scale = t.Unicode(
        "shared", help="'shared' (one scale in raw units for every model) or 'own' (per row)"
    ).tag(sync=True)
    classes = t.List(t.Unicode(), help="the class names the models share").tag(sync=True)
    target = t.Unicode("", help="the class explained; '' follows the first model's prediction").tag(
        sync=True
    )
    models = t.List(t.Unicode(), help="the models' names, one row each").tag(sync=True)
    diff_a = t.Int(0, help="index of the model the difference row starts from").tag(sync=True)
    diff_b = t.Int(1, help="index of the model the difference row subtracts").tag(sync=True)
    rows = t.List(t.Dict(), help="per model: prediction, probabilities, completeness badge").tag(
        sync=True
    )
    diff_label = t.Unicode("", help="the difference row's title ('A − B')").tag(sync=True)
    legend = t.Unicode("", help="what the rows' colours mean for the shown class").tag(sync=True)
    shown_target = t.Unicode("", help="the class the rows show").tag(sync=True)
    computed_for = t.Dict(help="the settings of the shown result (for UI tests)").tag(sync=True)
    row_chips = t.List(t.Instance(SaliencyChips), help="each model's saliency chips").tag(
        sync=True, **widget_serialization
    )
    diff_chips = t.Instance(
        SaliencyChips, help="the chips of the difference between two models"
    ).tag(sync=True, **widget_serialization)

    def __init__(
        self,
        models: Sequence[Any],
        text: str = "",
        *,
        n_steps: int | str = "auto",
        baseline: str = NEUTRAL,
        target: str | None = None,
        method: str | None = None,
        names: Sequence[str] | None = None,
        scale: str = "shared",
        debounce: float = 0.25,
    ) -> None:
        if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
            raise TypeError("models must be a list of models or Explainers")
        if len(models) < 2:
            raise ValueError(f"Compare needs at least two models, got {len(models)}")
        self.explainers = [m if isinstance(m, Explainer) else Explainer(m) for m in models]
        classes = _shared_classes(self.explainers)
        row_names = _unique_names(
            [e.name for e in self.explainers] if names is None else [str(n) for n in names]
        )
        if len(row_names) != len(self.explainers):
            raise ValueError(f"names must give one name per model ({len(self.explainers)})")
        self._uncertain = [UncertainBaseline() for _ in self.explainers]
        self._measured_for: list[Explanation] | None = None  # the results measured, by class
        self._measured: dict[str, dict[int, dict[str, Any]]] = {}
        self._start_live(debounce=debounce, name="igw-compare")
        super().__init__(
            text=text,
            n_steps=50 if n_steps == "auto" else n_steps,
            auto_steps=n_steps == "auto",
            method=method or default_method(n_steps).value,  # type: ignore[arg-type]
            baseline=_kind(baseline),
            scale=scale,
            classes=classes,
            target=class_name(classes, target),
            models=row_names,
            row_chips=[SaliencyChips() for _ in self.explainers],
            diff_chips=SaliencyChips(normalize="none"),
        )
        self._schedule()

    # ------------------------------------------------------------------ public API
    @property
    def explanations(self) -> list[Explanation] | None:
        """The latest results shown, one per model (a coarse stage while refining), or None."""
        return None if self._result is None else list(self._result)

    @property
    def parameters(self) -> CompareParams | None:
        """The parameters :attr:`explanations` were computed for."""
        return self._params

    @property
    def uncertain_baselines(self) -> list[UncertainBaseline]:
        """The per-model uncertain baselines (``.last`` holds what each optimisation reached)."""
        return list(self._uncertain)

    def alignment(self) -> Alignment | None:
        """The shown rows as an :class:`Alignment` (None before the first result)."""
        with self._lock:
            if self._result is None:
                return None
            return align(self._result, self._target_name(self._result))

    # ------------------------------------------------------------------ validation
    @t.validate("baseline")
    def _check_baseline(self, proposal: dict[str, Any]) -> str:
        return _kind(proposal["value"], error=t.TraitError)

    @t.validate("scale")
    def _check_scale(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in SCALES:
            raise t.TraitError(f"scale must be one of {SCALES}, got {proposal['value']!r}")
        return proposal["value"]

    @t.validate("n_steps")
    def _check_steps(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise t.TraitError("n_steps must be at least 1")
        return proposal["value"]

    @t.validate("target")
    def _check_target(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] and proposal["value"] not in self.classes:
            raise t.TraitError(f"target must be '' or one of {list(self.classes)}")
        return proposal["value"]

    @t.validate("diff_a", "diff_b")
    def _check_pair(self, proposal: dict[str, Any]) -> int:
        if not 0 <= proposal["value"] < len(self.explainers):
            raise t.TraitError(f"a difference row compares models 0..{len(self.explainers) - 1}")
        return proposal["value"]

    # ------------------------------------------------------------------ observers
    @t.observe("text", "n_steps", "auto_steps", "method", "baseline")
    def _on_compute_param(self, _change: dict[str, Any]) -> None:
        self._schedule()

    def vue_fix_steps(self, _data: Any = None) -> None:
        """The completeness warning's fix: every model adds points until it adds up."""
        self.auto_steps = True

    def vue_fix_baseline(self, _data: Any = None) -> None:
        """The far-from-neutral warning's fix: each model's most neutral token."""
        self.baseline = NEUTRAL

    @t.observe("target", "diff_a", "diff_b", "scale")
    def _on_view_param(self, _change: dict[str, Any]) -> None:
        self._rerender()

    # ------------------------------------------------------------------ LiveWidget
    def _children(self) -> list[Any]:
        return [*self._trait_values.get("row_chips", []), self._trait_values.get("diff_chips")]

    def _request(self) -> CompareParams:
        steps = "auto" if self.auto_steps else self.n_steps
        return CompareParams(self.text, steps, self.method, self.baseline)

    def _stages(self, params: CompareParams, request: Request) -> Iterator[list[Explanation]]:
        done = [0.0] * len(self.explainers)

        def progress_of(i: int) -> Any:
            def hook(k: int, total: int) -> None:
                done[i] = k / max(total, 1)
                self._progress(request, sum(done) / len(done))

            return hook

        self._progress(request, 0.0)
        options = IGOptions.build(params.n_steps, params.method).as_kwargs()  # type: ignore[arg-type]
        # refine is a generator function (annotated Iterator): close() releases its stage
        stages = [
            cast(
                Generator[Explanation, None, None],
                explainer.refine(
                    params.text,
                    **options,
                    baseline=self._baseline_for(i, params.baseline, params.text),
                    progress=progress_of(i),
                    cancel=request.cancel,
                ),
            )
            for i, explainer in enumerate(self.explainers)
        ]
        try:
            yield from _lockstep(stages)
        finally:
            for gen in stages:  # release each explainer's lock on this thread
                gen.close()

    def _finished(self, request: Request, result: list[Explanation]) -> None:
        """Each model's faithfulness on its final result, for every class (≈ 2 % of IG each)."""
        if result is None:
            return
        measured: dict[str, dict[int, dict[str, Any]]] = {}
        for target in result[0].classes:
            views = {}
            for i, (explainer, exp) in enumerate(zip(self.explainers, result, strict=True)):
                if request.cancel.is_set():
                    return
                comp = comprehensiveness(exp, explainer, k=FAITHFULNESS_AT, target=target)
                suff = sufficiency(exp, explainer, k=FAITHFULNESS_AT, target=target)
                views[i] = faithfulness_view(comp.value, suff.value, target, FAITHFULNESS_AT)
            measured[target] = views
        with self._lock:
            if self._worker.is_current(request) and self._result is result:
                self._measured_for, self._measured = result, measured
                self._rerender()

    def _baseline_for(self, i: int, kind: str, text: str) -> Baseline | str | None:
        explainer = self.explainers[i]
        length = sum(not s for s in explainer.tokenize(text).special) if kind == NEUTRAL else 0
        return baseline_from_choice(
            kind, explainer.adapter, uncertain=self._uncertain[i], length=length
        )

    # ------------------------------------------------------------------ rendering
    def _target_name(self, exps: Sequence[Explanation]) -> str:
        return self.target or exps[0].predicted_class

    def _show(self, exps: list[Explanation]) -> None:
        """Show the explanations for the current target, difference pair and scale."""
        target = self._target_name(exps)
        aligned = align(exps, target)
        texts = [w.text for w in aligned.words]
        a, b = self.diff_a, self.diff_b
        diff = difference(aligned.scores[a], aligned.scores[b], self.scale)
        top = float(np.max(np.abs(aligned.scores))) if aligned.scores.size else 0.0
        shared = self.scale == "shared"
        for chips, name, scores in zip(self.row_chips, self.models, aligned.scores, strict=True):
            chips.vmax = top if shared else 0.0
            chips.set_data(texts, scores, label=f"{name}: {target}")
        label = f"{self.models[a]} − {self.models[b]}"
        self.diff_chips.normalize = "maxabs" if shared else "none"
        self.diff_chips.vmax = top if shared else 0.0
        self.diff_chips.set_data(texts, diff, label=label)
        self.diff_label = label
        self.shown_target = target
        self.computed_for = {
            **asdict(self._params),
            "stage": exps[0].stage,
            "final": exps[0].is_final,
        }
        self.legend = legend(target, "word", self.row_chips[0].palette)
        measured = self._measured.get(target, {}) if self._measured_for is exps else {}
        self.rows = [
            _row(name, exp, attr, measured.get(i, {}))
            for i, (name, exp, attr) in enumerate(
                zip(self.models, exps, aligned.attributions, strict=True)
            )
        ]
        first = exps[0]
        refining = "" if first.is_final else REFINING
        stage = f"stage {first.stage}/{first.n_stages} · " if first.n_stages > 1 else ""
        scale = "one scale (raw units)" if shared else "each model to its own max"
        self.status = (
            f"{stage}{first.n_steps} steps · {first.method} · {len(texts)} words · "
            f"{scale}{refining}"
        )


def _kind(value: str, error: type[Exception] = ValueError) -> str:
    """A baseline kind in the engine's encoding (the bare names are accepted too)."""
    kind = value if value.startswith("[") else f"[{value}]"
    if kind not in BASELINE_KINDS:
        raise error(f"baseline must be one of {BASELINE_KINDS}, got {value!r}")
    return kind


def _row(
    name: str, exp: Explanation, attr: ClassAttribution, faithfulness: dict[str, Any]
) -> dict[str, Any]:
    """What a model's row header shows: prediction, probabilities, badge, faithfulness."""
    return {
        "faithfulness": faithfulness,
        "model": name,
        "prediction": exp.predicted_class,
        "probs": [
            {"name": c, "prob": float(p)} for c, p in zip(exp.classes, exp.probs, strict=True)
        ],
        "badge": badge(attr, exp.output),
        "n_tokens": len(exp.tokens),
        "baseline": exp.baseline,
        "baseline_meaning": baseline_meaning(exp),
        "baseline_fix": FIXES["baseline"]["button"] if baseline_meaning(exp) else "",
    }


def _lockstep(stages: Sequence[Iterator[Explanation]]) -> Iterator[list[Explanation]]:
    """One stage of every model's refinement at a time; a model done early keeps its last.

    (With a fixed count the plans match; with ``"auto"`` each model stops when it adds up.)
    """
    last: list[Explanation | None] = [None] * len(stages)
    while True:
        batch = [next(gen, None) for gen in stages]
        if all(exp is None for exp in batch):
            return
        last = [new if new is not None else old for new, old in zip(batch, last, strict=True)]
        if any(exp is None for exp in last):
            raise RuntimeError("a model's refinement gave no result")
        yield list(last)  # type: ignore[arg-type]


def _shared_classes(explainers: Sequence[Explainer]) -> list[str]:
    """The first model's class names; ``ValueError`` when another model's differ."""
    first = list(explainers[0].classes)
    for bare in (e for e in explainers if not e.classes):  # a language model without prompt=
        raise ValueError(needs_prompt("Compare", bare.name))
    for explainer in explainers[1:]:
        if sorted(explainer.classes) != sorted(first):
            raise ValueError(
                "Compare needs models with the same class names: "
                f"{explainers[0].name} has {first}, {explainer.name} has "
                f"{list(explainer.classes)}"
            )
    return first


def _unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats numbered (``toy``, ``toy #2``) so each row has its own name."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out
