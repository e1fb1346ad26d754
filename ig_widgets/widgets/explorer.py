"""Explorer: a live Integrated Gradients view of one text, recomputed as the controls move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import ipyvuetify as v
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import NEUTRAL, Baseline
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.metrics import comprehensiveness, sufficiency
from ig_widgets.engine.options import IGOptions, default_method
from ig_widgets.engine.quadrature import ALL_METHODS, MAX_STEPS
from ig_widgets.views.selection import (
    LEVELS,
    UNITS,
    badge,
    chip_token,
    class_index,
    class_name,
    contrast_class,
    faithfulness_view,
    legend,
    rule_items,
    select,
    why_not_note,
)
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.bars import AttributionBars
from ig_widgets.widgets.baseline_menu import BaselineMenu
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.live import REFINING, error_message
from ig_widgets.widgets.lm_mode import LMMode, as_explainer
from ig_widgets.widgets.worker import Request

#: the share of the words removed (or kept) by the faithfulness badge's metrics
FAITHFULNESS_AT = 0.2
#: the note shown when the model knows none of the text's words
ALL_UNKNOWN = (
    "The model knows none of these words: each one reads as its unknown token, so every "
    "word looks the same to it. Try words from its vocabulary."
)


@dataclass(frozen=True)
class Params:
    """The parameters one computation ran with (kept with its result).

    Attributes
    ----------
    text : str
        The explained text.
    n_steps : int or "auto"
        Requested quadrature points.
    method : str
        Quadrature rule.
    baseline : str
        A baseline choice: a vocabulary token, or one of ``[default]``, ``[zero]``,
        ``[average]``, ``[uncertain]`` (the engine's encoding).
    position : int
        For a token-classification model, the token explained (an index into the model's
        tokens); -1 for a sequence classifier, or the first ordinary token until one is
        chosen.
    continuation : str
        A language model's continuation explained token by token; '' for its next token.
    """

    text: str
    n_steps: int | str
    method: str
    baseline: str
    position: int = -1
    continuation: str = ""


class Explorer(LMMode, v.VuetifyTemplate):
    """Live Integrated Gradients for one text: every control recomputes, no button.

    Parameters
    ----------
    model_or_explainer : Any
        An :class:`ig_widgets.Explainer`, or anything it accepts (a fastai ``Learner``, a
        ``TorchTextClassifier``, ...; ``explainer_kwargs`` are passed to it).
    text : str
        The text to explain.
    n_steps : int or "auto"
        Quadrature points (the ``steps`` slider), or ``"auto"`` (the default) to refine until
        the completeness check passes.
    method : str or None
        Quadrature rule: Captum's names or ``adaptive``; None is ``adaptive`` with
        ``n_steps="auto"`` and ``gausslegendre`` otherwise (as in ``Explainer.explain``).
    baseline : str, Baseline or None
        A vocabulary token, ``ZeroBaseline()``, ``AverageBaseline([...])``,
        ``UncertainBaseline()``, ``"[neutral]"`` (the default: the model's most neutral
        frequent token at the text's length) or None for the model's default.
    target : str, int or None
        The class to explain; None follows the predicted class. For a language model, the
        continuation box's first text (one token: a candidate; several: a continuation).
    level : {"word", "token", "sentence"}
        Chips per word, per model token, or per sentence (a sentence chip expands into its
        words on click).
    debounce : float
        Seconds of quiet after a change before the computation starts.
    max_tokens : int
        Longer texts are refused with a message (the engine itself has no limit).
    faithfulness : bool
        Measure comprehensiveness and sufficiency at 20 % after each final result (in the
        background, about 2 % of the IG time; ``.igw-faithfulness``).
    discover_neutral : bool
        Find the model's most neutral tokens in the background (offered as baselines): a
        scan of the vocabulary at 8 repeats, whose best :data:`SHORTLIST` are re-ranked at
        the text's length (an LSTM's state keeps moving as a token repeats).

    Notes
    -----
    The work runs on a background thread. A newer request cancels the running one; the first
    (coarse) stage of ``Explainer.refine`` is shown at once and then sharpened; a result is
    shown only while its request is the newest. Target, contrast and level changes re-render
    the last :class:`Explanation` (it holds every class) without a model call.
    The baseline box searches the vocabulary as one types and changes the baseline only when
    an item is chosen or Enter is pressed; an unknown token gives an error banner and keeps
    what is shown. The baseline's own prediction is shown beside the completeness badge, and a
    baseline far from neutral is flagged with a one-click switch to the most neutral token at
    the text's length (once the background scan found it).
    For a token-classification model (``target=(i, label)`` in the engine) one token is
    explained at a time, first the first ordinary token: ``token_labels`` lists each token's
    predicted label, and a click on a chip or a token label (:meth:`vue_explain_token`)
    explains that token; ``target`` then chooses among its labels.
    For a causal language model without ``prompt=`` the Explorer opens in LM mode
    (:class:`~ig_widgets.widgets.lm_mode.LMMode`: candidates, continue, continuation box).
    ``n_steps`` (an int in ``[1, MAX_STEPS]``; ``"auto"`` turns on ``auto_steps``),
    ``method`` (a rule of :data:`~ig_widgets.engine.quadrature.ALL_METHODS`) and ``level``
    are validated: a bad value raises ``TraitError``, and from the browser it is shown in the
    banner and sent back; a step count the rule refuses (1 for a trapezoid) reaches the banner
    through :class:`~ig_widgets.engine.options.IGOptions`, the controls kept as set. Each
    request tokenises once (:meth:`Explainer.prepare`). Follow the shown results with
    :meth:`on_result`.
    DOM: root ``.igw-explorer`` (``data-method``, ``data-final``, ``data-n-steps``); token
    labels ``.igw-token-label`` (``data-index``, ``data-label``); badge
    ``.igw-delta``; ``.igw-baseline``; ``.igw-legend``; ``.igw-note``; aria-labels ``text``,
    ``steps``, ``method``, ``target``, ``baseline``; the chips and bars widgets inside.
    """

    template = t.Unicode(
        vue_template("explorer.vue"),
        help="the Vue template (js/explorer.vue with its shared parts)",
    ).tag(sync=True)

    text = t.Unicode("", help="the text to explain").tag(sync=True)
    n_steps = t.Union(
        [t.Int(), t.Unicode()],
        default_value=50,
        help=f"quadrature points (the steps slider), an int in [1, {MAX_STEPS}]; setting "
        "'auto' turns on auto_steps and keeps the count",
    ).tag(sync=True)
    auto_steps = t.Bool(
        False, help="add points until the completeness check passes (n_steps='auto')"
    ).tag(sync=True)
    steps_max = t.Int(256, help="the steps slider's maximum").tag(sync=True)
    method = t.Unicode(
        "gausslegendre", help=f"the quadrature rule, one of {', '.join(ALL_METHODS)}"
    ).tag(sync=True)
    rule_items = t.List(
        t.Dict(), rule_items(), help="the method menu: every rule, as {title, value}"
    ).tag(sync=True)
    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)
    target = t.Unicode("", help="the class explained; '' follows the prediction").tag(sync=True)
    contrast = t.Bool(
        False, help="why target and not contrast_class (attributions of the difference)"
    ).tag(sync=True)
    contrast_class = t.Unicode(
        "", help="the class of 'why not?'; '' is the most probable other"
    ).tag(sync=True)
    level = t.Unicode("word", help="'word', 'token' or 'sentence': what one chip stands for").tag(
        sync=True
    )
    baseline = t.Unicode(
        NEUTRAL,
        help="the committed baseline: a token, or [neutral]/[default]/[zero]/[average]/[uncertain]",
    ).tag(sync=True)
    baseline_items = t.List(
        t.Dict(), help="the baseline menu: kinds, discovered neutral tokens, search matches"
    ).tag(sync=True)
    probabilities = t.List(
        t.Dict(), help="the shown result's class probabilities, for the summary"
    ).tag(sync=True)
    prediction = t.Unicode("", help="the predicted class of the shown result").tag(sync=True)
    badge = t.Dict(
        help="the completeness check of what is shown: numbers, verdict and a plain sentence"
    ).tag(sync=True)
    baseline_info = t.Dict(
        help="the baseline's prediction {text, far}; a neutral switch {suggest, suggest_text}"
    ).tag(sync=True)
    legend = t.Unicode("", help="what the colours mean for the shown class").tag(sync=True)
    faithfulness = t.Dict(
        help="comprehensiveness and sufficiency at 20 % of the final result (in the background)"
    ).tag(sync=True)
    note = t.Unicode("", help="a plain note on what is shown (why not?, unknown words)").tag(
        sync=True
    )
    computed_for = t.Dict(
        help="the settings, stage and step count of the shown result (for UI tests)"
    ).tag(sync=True)
    chips = t.Instance(SaliencyChips, help="the saliency chips of the shown result").tag(
        sync=True, **widget_serialization
    )
    bars = t.Instance(AttributionBars, help="the bar chart of the shown result").tag(
        sync=True, **widget_serialization
    )
    position = t.Int(
        -1,
        help="token classification: the token explained (an index into the model's tokens); "
        "-1 for a sequence classifier, or the first ordinary token until a chip is clicked",
    ).tag(sync=True)
    token_labels = t.List(
        t.Dict(),
        help="token classification: each token's predicted label as {index, token, label}; "
        "[] for a sequence classifier",
    ).tag(sync=True)

    def __init__(
        self,
        model_or_explainer: Any,
        text: str = "",
        *,
        n_steps: int | str = "auto",
        method: str | None = None,
        baseline: str | Baseline | None = NEUTRAL,
        target: str | int | None = None,
        level: str = "word",
        debounce: float = 0.25,
        max_tokens: int = 2000,
        discover_neutral: bool = True,
        faithfulness: bool = True,
        **explainer_kwargs: Any,
    ) -> None:
        self.explainer = as_explainer(model_or_explainer, **explainer_kwargs)
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.menu = BaselineMenu(self.explainer)
        self._discovering = discover_neutral
        self._measure_faithfulness = faithfulness
        self._measured: Explanation | None = None
        self._count = 50 if n_steps == "auto" else int(n_steps)
        self._start_live(debounce=debounce, name="igw-explorer")
        classes = list(self.explainer.classes)
        lm_panel = self._start_lm(target)  # a language model: target= is its continuation
        super().__init__(
            classes=classes,
            text=text,
            n_steps=50 if n_steps == "auto" else int(n_steps),
            auto_steps=n_steps == "auto",
            method=method or default_method(n_steps).value,  # type: ignore[arg-type]
            level=level,
            target="" if lm_panel is not None else class_name(classes, target),
            baseline=self.menu.adopt(baseline),
            chips=SaliencyChips(),
            bars=AttributionBars(order="sorted", top_k=20),
            lm_panel=lm_panel,
        )
        self.baseline_items = self.menu.items([], self.baseline)
        self.chips.observe(self._on_chip, "selected")
        self._schedule()

    # ------------------------------------------------------------------ public API
    @property
    def explanation(self) -> Explanation | None:
        """The latest result shown (a coarse stage while refining), or None."""
        return self._result

    @property
    def parameters(self) -> Params | None:
        """The parameters :attr:`explanation` was computed for."""
        return self._params

    def baseline_object(self, choice: str) -> Baseline | str | None:
        """What the engine receives for a baseline choice (``ValueError`` for unknown ones)."""
        return self.menu.resolve(choice)

    def vue_search_baseline(self, query: Any) -> None:
        """Offer vocabulary tokens matching ``query`` as baselines; changes nothing else."""
        self.baseline_items = self.menu.items(self.menu.search(query), self.baseline)

    def vue_choose_baseline(self, choice: Any) -> None:
        """Commit a baseline chosen in the menu or typed + Enter; unknown ones show an error."""
        if isinstance(choice, dict):
            choice = choice.get("value", "")
        if not isinstance(choice, str) or not choice.strip():
            return
        choice = choice.strip()
        try:
            self.menu.resolve(choice)
        except (ValueError, TypeError) as exc:
            self._show_error(error_message(exc))
            return
        if choice == self.baseline and self.error and not self.computing:
            with self.hold_sync():
                self.error, self.stale = "", False
        self.baseline = choice

    def vue_explain_token(self, index: Any) -> None:
        """Token classification: explain why token ``index`` (of the model's) got its label.

        Ignored for a sequence classifier and for an index that is not a token of the shown
        result.
        """
        exp = self._result
        if exp is None or not exp.token_labels:
            return
        if isinstance(index, bool) or not isinstance(index, int):
            return
        if 0 <= index < len(exp.tokens):
            self.position = index

    def vue_use_suggested_baseline(self, _data: Any = None) -> None:
        """Switch to the baseline the far-from-neutral warning offers."""
        suggest = self.baseline_info.get("suggest")
        if suggest:
            self.vue_choose_baseline(suggest)

    def vue_fix_steps(self, _data: Any = None) -> None:
        """The completeness warning's fix: add points until the check passes."""
        self.auto_steps = True

    # ------------------------------------------------------------------ observers
    @t.observe("text", "n_steps", "auto_steps", "method", "baseline", "position")
    def _on_compute_param(self, change: dict[str, Any]) -> None:
        if change["name"] == "n_steps":
            self._count = change["new"]  # what n_steps="auto" keeps on the slider
        if change["name"] == "text" and self.position >= 0:
            self.position = -1  # a token of the old text means nothing in the new one
        self._schedule()

    def _on_chip(self, change: dict[str, Any]) -> None:
        """Token classification: a click on a chip explains its (first ordinary) token."""
        exp = self._result
        if exp is None or not exp.token_labels or change["new"] < 0:
            return
        token = chip_token(exp, self.level, change["new"])
        if token is not None:
            self.vue_explain_token(token)

    @t.observe("target", "contrast", "contrast_class", "level")
    def _on_view_param(self, _change: dict[str, Any]) -> None:
        self._rerender()

    # ------------------------------------------------------------------ validators
    @t.validate("n_steps")
    def _check_n_steps(self, proposal: dict[str, Any]) -> int:
        """An int in ``[1, MAX_STEPS]``; ``"auto"`` turns on ``auto_steps`` (count kept)."""
        value = proposal["value"]
        if value == "auto":  # the stored value may be "auto" already: keep the last count
            self.auto_steps = True
            return self._count
        if isinstance(value, bool) or not isinstance(value, int):
            raise t.TraitError(f"n_steps must be an int or 'auto', got {value!r}")
        if not 1 <= value <= MAX_STEPS:
            raise t.TraitError(f"n_steps must be between 1 and {MAX_STEPS}, got {value}")
        return value

    @t.validate("method")
    def _check_method(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in ALL_METHODS:
            raise t.TraitError(
                f"Unknown integration method {proposal['value']!r}; use one of "
                f"{', '.join(ALL_METHODS)}"
            )
        return proposal["value"]

    @t.validate("level")
    def _check_level(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in LEVELS:
            raise t.TraitError(f"level must be one of {LEVELS}, got {proposal['value']!r}")
        return proposal["value"]

    # ------------------------------------------------------------------ LiveWidget
    def _children(self) -> list[Any]:
        return [self._trait_values.get("chips"), self._trait_values.get("bars")]

    def _request(self) -> Params:
        return Params(
            text=self.text,
            n_steps="auto" if self.auto_steps else self.n_steps,
            method=self.method,
            baseline=self.baseline,
            position=self.position,
            continuation=self.lm_panel.continuation if self.lm_panel is not None else "",
        )

    def _stages(self, params: Params, request: Request) -> Iterator[Explanation]:
        self._progress(request, 0, 1)
        options = IGOptions.build(params.n_steps, params.method)  # type: ignore[arg-type]
        prepared = self.explainer.prepare(
            params.text,
            max_tokens=self.max_tokens,
            who="the Explorer",
            setting="Explorer(..., max_tokens=...)",
        )
        ordinary = sum(not s for s in prepared.tokenized.special)
        baseline = self.menu.resolve(params.baseline, ordinary)
        position = prepared.position(params.position)  # token classification: one token
        yield from self.explainer.refine(
            prepared,  # its tokens: the request tokenises once
            **options.as_kwargs(),
            baseline=baseline,
            target=self._lm_target(params, baseline, position),
            progress=lambda done, total: self._progress(request, done, total),
            cancel=request.cancel,
        )

    def _finished(self, request: Request, result: Explanation) -> None:
        """Measure the final result's faithfulness, then find the neutral tokens at its length."""
        if result is None:
            return
        if self._measure_faithfulness:
            self._faithfulness(request, result)
        if not self._discovering:
            return
        length = max(1, sum(not s for s in result.special))
        if self.menu.discover(length, request.cancel):
            with self._lock:
                self.baseline_items = self.menu.items([], self.baseline)
                if self._worker.is_current(request):
                    self._rerender()

    def _faithfulness(self, request: Request, exp: Explanation) -> None:
        """Comprehensiveness and sufficiency at 20 % for the shown class (≈ 2 % of the IG time)."""
        cls = class_index(exp.classes, self.target)
        target = exp.predicted if cls is None else cls
        comp = comprehensiveness(exp, self.explainer, k=FAITHFULNESS_AT, target=target)
        suff = sufficiency(exp, self.explainer, k=FAITHFULNESS_AT, target=target)
        view = faithfulness_view(comp.value, suff.value, exp.classes[target], FAITHFULNESS_AT)
        with self._lock:
            if self._worker.is_current(request) and self._result is exp:
                self.faithfulness = view

    # ------------------------------------------------------------------ rendering
    def _show(self, exp: Explanation) -> None:
        """Show ``exp`` for the current target, contrast and level."""
        target = self._shown_target(exp)
        other = contrast_class(exp, target, self.contrast_class) if self.contrast else None
        view = select(exp, target, self.level, other)
        attr = view.attribution
        if self.faithfulness and (not exp.is_final or exp is not self._measured):
            self.faithfulness = {}  # measured on another result: it comes again after this one
        self._measured = exp
        with self.chips.hold_sync(), self.bars.hold_sync():
            self.bars.unit = UNITS[view.level]
            self.chips.show_selection(view)
            self.bars.show_selection(view)
        params = self._params
        self.computed_for = {
            **(asdict(params) if params is not None else {}),
            "stage": exp.stage,
            "final": exp.is_final,
            "shown_steps": exp.n_steps,
            "position": -1 if exp.position is None else exp.position,
        }
        self.token_labels = [
            {"index": i, "token": token, "label": label}
            for i, (token, label) in enumerate(zip(exp.tokens, exp.token_labels, strict=False))
        ]
        self.probabilities = [
            {"name": name, "prob": float(p), "predicted": i == exp.predicted}
            for i, (name, p) in enumerate(zip(exp.classes, exp.probs, strict=True))
        ]
        self.prediction = exp.predicted_class
        self.badge = badge(attr, exp.output)
        self.baseline_info = self.menu.info(exp, self.baseline)
        self.legend = legend(attr.label, self.level, self.chips.palette)
        notes = [why_not_note(exp, target, other) if other is not None else ""]
        if exp.all_unknown:
            notes.insert(0, ALL_UNKNOWN)
        self.note = " ".join(n for n in notes if n)
        stage = f"stage {exp.stage}/{exp.n_stages} · " if exp.n_stages > 1 else ""
        self.status = f"{stage}{exp.n_steps} steps · {exp.method} · baseline {exp.baseline}" + (
            "" if exp.is_final else REFINING
        )
        self._show_lm(exp, target)
