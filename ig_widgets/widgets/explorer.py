"""Explorer: a live Integrated Gradients view of one text, recomputed as the controls move."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import ipyvuetify as v
import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import (
    AverageBaseline,
    Baseline,
    NeutralToken,
    TokenBaseline,
    UncertainBaseline,
    ZeroBaseline,
    discover_neutral_tokens,
)
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.bars import AttributionBars
from ig_widgets.widgets.chips import LEVELS, SaliencyChips, attribution_view
from ig_widgets.widgets.live import LiveWidget
from ig_widgets.widgets.worker import Request, Worker

#: baseline choices that are not vocabulary tokens (brackets keep them apart from tokens)
DEFAULT, ZERO, AVERAGE, UNCERTAIN = "[default]", "[zero]", "[average]", "[uncertain]"
#: how many vocabulary matches a baseline search returns
SEARCH_LIMIT = 30
#: vocabulary tokens scored per block by the background neutral-token discovery
DISCOVERY_BLOCK = 2048
#: the scan's most neutral tokens (at 8 repeats) that are re-ranked at the text's length
SHORTLIST = 30
#: shortlisted tokens re-ranked per block (a newer request is let through between blocks)
RERANK_BLOCK = 6


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
        A vocabulary token, or one of ``[default]``, ``[zero]``, ``[average]``, ``[uncertain]``.
    """

    text: str
    n_steps: int | str
    method: str
    baseline: str


class Explorer(LiveWidget, v.VuetifyTemplate):
    """Live Integrated Gradients for one text: every control recomputes, no button.

    Parameters
    ----------
    model_or_explainer : Any
        An :class:`ig_widgets.Explainer`, or anything it accepts (a fastai ``Learner``, a
        ``TorchTextClassifier``, ...; ``explainer_kwargs`` are passed to it).
    text : str
        The text to explain.
    n_steps : int or "auto"
        Quadrature points (the ``steps`` slider), or ``"auto"`` to refine until the
        completeness check passes.
    method : str or None
        Quadrature rule: Captum's names or ``adaptive``; None is ``adaptive`` with
        ``n_steps="auto"`` and ``gausslegendre`` otherwise (as in ``Explainer.explain``).
    baseline : str, Baseline or None
        A vocabulary token, ``ZeroBaseline()``, ``AverageBaseline([...])``,
        ``UncertainBaseline()``, or None for the model's default.
    target : str, int or None
        The class to explain; None follows the predicted class.
    level : {"word", "token"}
        Chips per word or per model token.
    debounce : float
        Seconds of quiet after a change before the computation starts.
    max_tokens : int
        Longer texts are refused with a message (the engine itself has no limit).
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
    DOM: root ``.igw-explorer``; badge ``.igw-delta``; aria-labels ``text``, ``steps``,
    ``target``, ``baseline``; the chips and bars widgets inside.
    """

    template = t.Unicode(
        vue_template("explorer.vue"),
        help="the Vue template (js/explorer.vue with its shared parts)",
    ).tag(sync=True)

    text = t.Unicode("", help="the text to explain").tag(sync=True)
    n_steps = t.Int(50, help="quadrature points (the steps slider)").tag(sync=True)
    auto_steps = t.Bool(
        False, help="add points until the completeness check passes (n_steps='auto')"
    ).tag(sync=True)
    steps_max = t.Int(256, help="the steps slider's maximum").tag(sync=True)
    method = t.Unicode("gausslegendre", help="the quadrature rule").tag(sync=True)
    methods = t.List(t.Unicode(), list(ALL_METHODS), help="the rules the method menu offers").tag(
        sync=True
    )
    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)
    target = t.Unicode("", help="the class explained; '' follows the prediction").tag(sync=True)
    contrast = t.Bool(
        False, help="why target and not contrast_class (attributions of the difference)"
    ).tag(sync=True)
    contrast_class = t.Unicode(
        "", help="the class of 'why not?'; '' is the most probable other"
    ).tag(sync=True)
    level = t.Unicode("word", help="'word' or 'token': what one chip stands for").tag(sync=True)
    baseline = t.Unicode(
        DEFAULT,
        help="the baseline menu's value: a token, or [default]/[zero]/[average]/[uncertain]",
    ).tag(sync=True)
    baseline_items = t.List(
        t.Dict(), help="the baseline menu: kinds, discovered neutral tokens, search matches"
    ).tag(sync=True)
    stale = t.Bool(
        False, help="what is shown belongs to older settings (an error came after it)"
    ).tag(sync=True)
    probabilities = t.List(
        t.Dict(), help="the shown result's class probabilities, for the summary"
    ).tag(sync=True)
    prediction = t.Unicode("", help="the predicted class of the shown result").tag(sync=True)
    badge = t.Dict(help="the completeness check of what is shown (sum, F difference, delta)").tag(
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

    def __init__(
        self,
        model_or_explainer: Any,
        text: str = "",
        *,
        n_steps: int | str = 50,
        method: str | None = None,
        baseline: str | Baseline | None = None,
        target: str | int | None = None,
        level: str = "word",
        debounce: float = 0.25,
        max_tokens: int = 2000,
        discover_neutral: bool = True,
        **explainer_kwargs: Any,
    ) -> None:
        if isinstance(model_or_explainer, Explainer):
            self.explainer = model_or_explainer
        else:
            self.explainer = Explainer(model_or_explainer, **explainer_kwargs)
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self._lock = threading.RLock()
        self._explanation: Explanation | None = None
        self._params: Params | None = None
        self._submitted: Params | None = None
        self._uncertain = UncertainBaseline()
        self._average: Baseline | None = None
        self._objects: dict[str, Baseline] = {}
        self._discovering = discover_neutral
        self._shortlist: list[NeutralToken] | None = None  # after the scan
        self._neutral: list[NeutralToken] = []  # offered: the shortlist ranked at a length
        self._ranked_at: int | None = None
        self._found: list[NeutralToken] = []
        self._scanned = 0
        self.last_traceback = ""
        self._view_error = False
        self._worker = Worker(self._job, self._failed, debounce=debounce)
        classes = list(self.explainer.classes)
        super().__init__(
            classes=classes,
            text=text,
            n_steps=50 if n_steps == "auto" else int(n_steps),
            auto_steps=n_steps == "auto",
            method=method or ("adaptive" if n_steps == "auto" else "gausslegendre"),
            level=level,
            target=_class_name(target, classes),
            baseline=self._baseline_value(baseline),
            chips=SaliencyChips(),
            bars=AttributionBars(order="sorted", top_k=20),
        )
        self.baseline_items = self._items([])
        self._schedule(force=True)

    # ------------------------------------------------------------------ public API
    @property
    def explanation(self) -> Explanation | None:
        """The latest result shown (a coarse stage while refining), or None."""
        return self._explanation

    @property
    def parameters(self) -> Params | None:
        """The parameters :attr:`explanation` was computed for."""
        return self._params

    def close(self) -> None:
        """Stop the background work and close the widget and its children."""
        self._stop_worker()
        for child in (self._trait_values.get("chips"), self._trait_values.get("bars")):
            if child is not None:
                child.close()
        super().close()

    def vue_search_baseline(self, query: Any) -> None:
        """Offer vocabulary tokens matching ``query`` (prefix matches first) as baselines."""
        query = query if isinstance(query, str) else ""
        matches: list[str] = []
        if query.strip() and not query.startswith("["):
            q = query.strip().lower()
            vocab = self.explainer.adapter.vocab
            prefix = [tok for tok in vocab if tok.lower().startswith(q)]
            inner = [tok for tok in vocab if q in tok.lower() and not tok.lower().startswith(q)]
            matches = (prefix + inner)[:SEARCH_LIMIT]
        self.baseline_items = self._items(matches)

    # ------------------------------------------------------------------ observers
    @t.observe("text", "n_steps", "auto_steps", "method", "baseline")
    def _on_compute_param(self, _change: dict[str, Any]) -> None:
        self._schedule()

    @t.observe("target", "contrast", "contrast_class", "level")
    def _on_view_param(self, _change: dict[str, Any]) -> None:
        with self._lock:
            if self._explanation is not None:
                self._render()

    def refresh(self) -> None:
        """Recompute for the current parameters (e.g. after the model's weights changed)."""
        self._schedule(force=True)

    def _schedule(self, force: bool = False) -> None:
        params = Params(
            text=self.text,
            n_steps="auto" if self.auto_steps else self.n_steps,
            method=self.method,
            baseline=self.baseline,
        )
        if params == self._submitted and not force:
            return  # several traits of one message: their observers all see the same values
        self._submitted = params
        self._worker.submit(params)
        self.computing = True

    # ------------------------------------------------------------------ worker thread
    def _job(self, request: Request) -> None:
        params: Params = request.params
        self._progress(request, 0, 1)
        baseline = self.baseline_object(params.baseline)
        tok = self.explainer.tokenize(params.text)
        n_tokens = len(tok)
        if n_tokens > self.max_tokens:
            raise ValueError(
                f"The text has {n_tokens} tokens; the Explorer explains at most "
                f"{self.max_tokens} (Explorer(..., max_tokens=...)). Shorten the text."
            )
        for exp in self.explainer.refine(
            params.text,
            n_steps=params.n_steps,  # type: ignore[arg-type]
            method=params.method,
            baseline=baseline,
            progress=lambda done, total: self._progress(request, done, total),
            cancel=request.cancel,
        ):
            if not self._publish(request, exp):
                return
        with self._lock:
            if self._worker.is_current(request):
                self.computing = False
        self._discover(request, repeats=max(1, sum(not keep for keep in tok.keep)))

    def _publish(self, request: Request, exp: Explanation) -> bool:
        """Show ``exp`` if its request is still the newest; False when it is stale."""
        with self._lock:
            if not self._worker.is_current(request):
                return False
            self._explanation, self._params = exp, request.params
            with self.hold_sync():
                self.error, self.stale, self._view_error = "", False, False
                self.computed_for = {
                    **asdict(request.params),
                    "stage": exp.stage,
                    "final": exp.is_final,
                    "shown_steps": exp.n_steps,
                }
                self._render()
            return True

    def _on_error(self) -> None:
        self.stale = self._explanation is not None

    def _discover(self, request: Request, repeats: int) -> None:
        """Neutral tokens for a text of ``repeats`` non-special tokens, while nothing newer waits.

        The vocabulary is scanned once, a block at a time (8 repeats each); the shortlist is
        then re-ranked at the text's length whenever that length changes.
        """
        if not self._discovering:
            return
        if self._shortlist is None:
            vocab = list(self.explainer.adapter.vocab)
            while self._scanned < len(vocab):
                if request.cancel.is_set():
                    return
                block = vocab[self._scanned : self._scanned + DISCOVERY_BLOCK]
                found = discover_neutral_tokens(self.explainer, top_k=SHORTLIST, candidates=block)
                self._found += found
                self._scanned += len(block)
            self._shortlist = sorted(self._found, key=lambda n: n.distance)[:SHORTLIST]
        if self._ranked_at == repeats:
            return
        names = [n.token for n in self._shortlist]
        ranked: list[NeutralToken] = []
        for start in range(0, len(names), RERANK_BLOCK):  # 1.7 s in all at 2,000 tokens
            if request.cancel.is_set():
                return
            block = names[start : start + RERANK_BLOCK]
            ranked += discover_neutral_tokens(
                self.explainer, top_k=len(block), length=repeats, candidates=block
            )
        self._neutral = sorted(ranked, key=lambda n: n.distance)[:10]
        self._ranked_at = repeats
        self.baseline_items = self._items([])

    # ------------------------------------------------------------------ rendering
    def _render(self) -> None:
        """Show the current Explanation for the current target, contrast and level."""
        exp = self._explanation
        assert exp is not None
        try:
            target = self.target or None
            other = self._contrast_with(exp) if self.contrast else None
            view = attribution_view(exp, target, self.level, other)
        except (ValueError, TypeError) as exc:
            self.error, self._view_error = str(exc), True
            return
        attr = view.attribution
        diff = attr.f_input - attr.f_baseline
        with self.hold_sync(), self.chips.hold_sync(), self.bars.hold_sync():
            for widget in (self.chips, self.bars):
                widget.set_data(view.tokens, view.scores, special=view.special, label=attr.label)
            if self._view_error:
                self.error, self._view_error = "", False
            self.probabilities = [
                {"name": name, "prob": round(float(p), 4), "predicted": i == exp.predicted}
                for i, (name, p) in enumerate(zip(exp.classes, exp.probs, strict=True))
            ]
            self.prediction = exp.predicted_class
            self.badge = {
                "label": attr.label,
                "total": attr.total,
                "diff": diff,
                "delta": attr.delta,
                "large": bool(abs(attr.delta) > 0.01 * abs(diff)),
                "output": exp.output,
            }
            stage = f"stage {exp.stage}/{exp.n_stages} · " if exp.n_stages > 1 else ""
            self.status = f"{stage}{exp.n_steps} steps · {exp.method} · baseline {exp.baseline}" + (
                "" if exp.is_final else " · refining…"
            )

    def _contrast_with(self, exp: Explanation) -> str:
        """The class of "why not?": the chosen one, else the most probable other class."""
        cls = exp.predicted if not self.target else exp.class_index(self.target)
        if self.contrast_class:
            if exp.class_index(self.contrast_class) == cls:
                raise ValueError(
                    f"Why not? needs two classes: pick a class other than {exp.classes[cls]!r} "
                    "to contrast with."
                )
            return self.contrast_class
        others = [i for i in np.argsort(-exp.probs) if i != cls]
        return exp.classes[int(others[0])]

    # ------------------------------------------------------------------ baselines
    def _baseline_value(self, baseline: str | Baseline | None) -> str:
        """The ``baseline`` trait's value for a constructor argument."""
        if baseline is None:
            return DEFAULT
        if isinstance(baseline, str):
            return baseline
        if isinstance(baseline, TokenBaseline):
            return baseline.token
        if isinstance(baseline, ZeroBaseline):
            self._objects[ZERO] = baseline
            return ZERO
        if isinstance(baseline, UncertainBaseline):
            self._uncertain = baseline
            return UNCERTAIN
        if isinstance(baseline, AverageBaseline):
            self._average = baseline
            return AVERAGE
        raise TypeError(
            "baseline must be a vocabulary token, None, ZeroBaseline(), AverageBaseline([...]) "
            f"or UncertainBaseline(), got {type(baseline).__name__}"
        )

    def baseline_object(self, value: str) -> Baseline | str | None:
        """What the engine receives for the ``baseline`` trait's value."""
        if value in ("", DEFAULT):
            return None
        if value == ZERO:
            return self._objects.get(ZERO, ZeroBaseline())
        if value == UNCERTAIN:
            return self._uncertain
        if value == AVERAGE:
            return self._average or self._default_average()
        if value.startswith("[") and value.endswith("]") and value not in self._vocab_set():
            raise ValueError(
                f"Unknown baseline {value!r}; choose {DEFAULT}, {ZERO}, {AVERAGE}, {UNCERTAIN} "
                "or a vocabulary token."
            )
        self.explainer.adapter.token_id(value)  # a clear ValueError for unknown tokens
        return value

    def _default_average(self) -> Baseline:
        token = self.explainer.adapter.default_baseline_token
        parts: list[Baseline] = [ZeroBaseline()]
        if token:
            parts.insert(0, TokenBaseline(token))
        return AverageBaseline(parts) if len(parts) > 1 else parts[0]

    def _vocab_set(self) -> frozenset[str]:
        cached = getattr(self, "_vocab_cache", None)
        if cached is None:
            cached = frozenset(self.explainer.adapter.vocab)
            self._vocab_cache = cached
        return cached

    def _items(self, matches: Sequence[str]) -> list[dict[str, str]]:
        """The baseline menu: the kinds, the neutral tokens, search matches, the current value."""
        default = self.explainer.adapter.default_baseline_token
        average = (self._average or self._default_average()).description
        items = [
            {"title": f"model default ({default or 'zero embeddings'})", "value": DEFAULT},
            {"title": "zero embeddings", "value": ZERO},
            {"title": average, "value": AVERAGE},
            {"title": "uncertain (optimised to uniform probabilities)", "value": UNCERTAIN},
        ]
        for n in self._neutral:
            probs = "/".join(f"{p:.2f}" for p in n.probs)
            title = f"{n.token}  (neutral: {probs} at this length)"
            items.append({"title": title, "value": n.token})
        known = {item["value"] for item in items}
        for token in [*matches, self.baseline]:
            if token not in known:
                items.append({"title": token, "value": token})
                known.add(token)
        return items


def _class_name(target: str | int | None, classes: Sequence[str]) -> str:
    """The ``target`` trait's value: a class name, or "" to follow the prediction."""
    if target is None:
        return ""
    if isinstance(target, str):
        if target not in classes:
            raise ValueError(f"Unknown target class {target!r}; the classes are {list(classes)}")
        return target
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a class name or index, got {type(target).__name__}")
    if not -len(classes) <= int(target) < len(classes):
        raise ValueError(f"Target index {target} is out of range for classes {list(classes)}")
    return classes[int(target)]
