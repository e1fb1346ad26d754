"""The Explorer's language-model mode: next-token menu, step-through generation, continuations."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import ipyvuetify as v
import torch
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.adapters.lm import LMAdapter
from ig_widgets.engine.baselines import Baseline, parse_baseline
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import Explanation
from ig_widgets.views.lm import (
    baseline_next,
    candidate_items,
    continuation_rows,
    is_continuation,
    shown_class,
)
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.live import LiveWidget

if TYPE_CHECKING:
    from ig_widgets.widgets.explorer import Params

#: how many (prompt, baseline) pairs keep the baseline's next-token guess
_GUESSES_KEPT = 16


def as_explainer(model: Any, **kwargs: Any) -> Explainer:
    """An :class:`Explainer` for ``model``: itself, or one built (a demo LM's pair unpacked).

    ``igw.load_demo_model("gpt_lm")`` gives a ``(model, tokenizer)`` named tuple; it becomes
    ``Explainer(model, tokenizer=tokenizer, **kwargs)``.
    """
    if isinstance(model, Explainer):
        return model
    pair = getattr(model, "_fields", None)
    if pair == ("model", "tokenizer"):
        return Explainer(model.model, tokenizer=model.tokenizer, **kwargs)
    return Explainer(model, **kwargs)


def is_bare_lm(explainer: Explainer) -> bool:
    """A language model without a prompt: its classes are each request's candidates."""
    return isinstance(explainer.adapter, LMAdapter)


def appended(explainer: Explainer, text: str, token_id: int, piece: str) -> str:
    """``text`` with the token ``token_id`` (read as ``piece``) put after it.

    A byte-level token carries its own space (``" great"``); a word-level vocabulary's
    (fastai's ``great``) needs one: the join whose tokens are the prompt's and then
    ``token_id`` is taken, else the piece with a space unless it starts with one.
    """
    before = tuple(explainer.tokenize(text).ids)
    joins = [text + piece, f"{text} {piece}"] if text else [piece]
    for joined in joins:
        if tuple(explainer.tokenize(joined).ids) == (*before, token_id):
            return joined
    return joins[0] if piece[:1].isspace() or not text else joins[1]


def baseline_guess(
    explainer: Explainer, text: str, baseline: Baseline | str | None
) -> tuple[str, float]:
    """The baseline's own most probable next token over the vocabulary, and its probability.

    The baseline's embeddings of the prompt (special tokens kept, as IG starts from them)
    run through the language model once, on the caller's thread, under the model's lock.
    """
    lm = explainer.adapter
    assert isinstance(lm, LMAdapter)
    tok = explainer.tokenize(text)
    ids = torch.tensor(tok.ids, dtype=torch.long).unsqueeze(0)
    with lm.prepared(), torch.no_grad():
        inputs = lm.embed(ids)[0]
        start = parse_baseline(baseline, lm).starts(lm, tok, inputs)[0]
        logits = lm.logits_from_embeds(start.embeds.unsqueeze(0), 1)[0, -1]
    probs = torch.softmax(logits.double(), dim=-1)
    best = int(probs.argmax())
    return lm.piece_name(best), float(probs[best])


class LMPanel(v.VuetifyTemplate):
    """The Explorer's language-model controls: candidates, continue, continuation box, rows.

    Made by the Explorer for a language model without a prompt; every click goes to it
    (under its lock). Token text is rendered with ``{{ }}`` only.
    DOM: root ``.igw-lm``; candidates ``.igw-lm-candidate`` (``data-name``, ``data-prob``,
    ``data-explained``); ``.igw-lm-continue``; the box ``input[aria-label=continuation]``;
    rows ``.igw-lm-row`` (``data-name``, ``data-whole``) with their chips.
    """

    template = t.Unicode(vue_template("lm_panel.vue"), help="the Vue template").tag(sync=True)
    candidates = t.List(
        t.Dict(), help="the next-token menu {index, name, id, prob, text, explained}"
    ).tag(sync=True)
    explained = t.Unicode("", help="the class the Explorer's chips show").tag(sync=True)
    continuation = t.Unicode(
        "", help="the committed continuation ('' explains the next token)"
    ).tag(sync=True)
    row_titles = t.List(t.Dict(), help="each continuation row's {name, score, whole}").tag(
        sync=True
    )
    rows = t.List(t.Instance(SaliencyChips), help="one chip row per target token, the whole").tag(
        sync=True, **widget_serialization
    )

    def __init__(self, owner: LMMode, lock: threading.RLock, **kwargs: Any) -> None:
        self._owner = owner
        self._owner_lock = lock
        super().__init__(**kwargs)

    def _handle_msg(self, msg: dict[str, Any]) -> None:
        with self._owner_lock:  # the Explorer's worker publishes into this panel under it
            super()._handle_msg(msg)

    def vue_pick(self, name: Any) -> None:
        """Explain the candidate ``name`` (no model call: every candidate is computed)."""
        if isinstance(name, str) and any(c["name"] == name for c in self.candidates):
            self._owner.target = name

    def vue_continue_with(self, name: Any = None) -> None:
        """Append the candidate (the explained one by default) and explain the next step."""
        self._owner.continue_with(name if isinstance(name, str) and name else None)

    def vue_commit_continuation(self, text: Any) -> None:
        """Explain ``text`` as a continuation of the prompt ('' goes back to the next token)."""
        if isinstance(text, str):
            self._owner.explain_continuation(text)

    def show_rows(self, exp: Explanation, level: str) -> None:
        """One chip row per target token of a continuation, then the whole (none otherwise)."""
        rows = continuation_rows(exp, level)
        chips = list(self.rows)
        while len(chips) < len(rows):
            chips.append(SaliencyChips())
        for widget, row in zip(chips, rows, strict=False):
            widget.show_selection(row.view)
        for extra in chips[len(rows) :]:
            extra.close()
        with self.hold_sync():
            self.rows = chips[: len(rows)]
            self.row_titles = [{"name": r.name, "score": r.score, "whole": r.whole} for r in rows]

    def close(self) -> None:
        """Close the rows too."""
        for chips in self.rows:
            chips.close()
        super().close()


class LMMode(LiveWidget):
    """The Explorer's mixin for a bare language model (``lm_panel`` is None otherwise).

    The classes of each result are its candidates (``classes`` follows them, so the target
    menu lists them); a click on one explains it; :meth:`continue_with` appends one to the
    text; :meth:`explain_continuation` explains a target text token by token.
    """

    lm_panel = t.Instance(
        LMPanel, allow_none=True, help="the language-model controls; None for a classifier"
    ).tag(sync=True, **widget_serialization)

    _guesses: dict[tuple[str, str], tuple[str, float]]
    _params: Params | None
    _discovering: bool
    _measure_faithfulness: bool
    # the Explorer's own (traits, and what its constructor sets)
    explainer: Explainer
    text: str
    target: str
    contrast_class: str
    level: str
    classes: list[str]
    baseline_info: dict[str, Any]

    def _start_lm(self, target: str | int | None = None) -> LMPanel | None:
        """The panel of a bare language model (made after ``_start_live``), else None.

        ``target`` (a text, or a token id) is its first continuation.

        The faithfulness badge and the neutral-token scan are off for it: the metrics need
        a model with fixed classes (a prompted LM has them).
        """
        self._guesses = {}
        if not is_bare_lm(self.explainer):
            return None
        self._discovering = self._measure_faithfulness = False
        if isinstance(target, int) and not isinstance(target, bool):
            target = self.explainer.adapter.piece_name(target)  # type: ignore[attr-defined]
        if target is not None and not isinstance(target, str):
            raise TypeError(f"target must be a text or a token id, got {type(target).__name__}")
        text = target if target and target.strip() else ""
        return LMPanel(self, self._lock, continuation=text)

    @t.observe("text")
    def _lm_on_text(self, change: dict[str, Any]) -> None:
        """A new prompt has new candidates: the chips follow its most probable one."""
        if self.lm_panel is not None:
            self.target = self.contrast_class = ""

    # ------------------------------------------------------------------ public API
    def continue_with(self, name: str | None = None) -> str:
        """Append a candidate next token to the text and explain the step after it.

        ``name`` is one of the shown candidates; None is the one the chips show. Returns
        the new text ('' and nothing changes when nothing is shown, a continuation is
        shown, or ``name`` is not a candidate).
        """
        exp = self._result
        if self.lm_panel is None or exp is None or is_continuation(exp):
            return ""
        name = name or self.lm_panel.explained
        if name not in exp.classes:
            return ""
        index = exp.classes.index(name)
        text = appended(self.explainer, self.text, exp.target_ids[index], name)
        with self.hold_sync():  # type: ignore[attr-defined]  # the widget class after this
            self.target = self.contrast_class = ""
            self.text = text
        return text

    def explain_continuation(self, text: str) -> None:
        """Explain ``text`` after the prompt, each token given those before it; '' clears it."""
        if self.lm_panel is None:
            raise ValueError("A continuation needs a language model without prompt=.")
        if text.strip() == "":
            text = ""
        if text != self.lm_panel.continuation:
            with self.hold_sync():  # type: ignore[attr-defined]  # the widget class after this
                self.target = self.contrast_class = ""
                self.lm_panel.continuation = text
            self._schedule()

    # ------------------------------------------------------------------ Explorer hooks
    def _lm_target(
        self, params: Params, baseline: Baseline | str | None, position: int | None
    ) -> Any:
        """The engine's ``target`` of a request: a classifier's token ``position`` or None.

        For a language model: the continuation, or None for the top-k next tokens; the
        baseline's own next-token guess is measured first (one forward, kept per prompt).
        """
        if self.lm_panel is None:
            return None if position is None else (position, None)
        key = (params.text, params.baseline)
        if key not in self._guesses:
            self._guesses[key] = baseline_guess(self.explainer, params.text, baseline)
            while len(self._guesses) > _GUESSES_KEPT:
                self._guesses.pop(next(iter(self._guesses)))
        return params.continuation or None

    def _shown_target(self, exp: Explanation) -> str:
        """The class the chips show: the Explorer's target, or the LM mode's default."""
        if self.lm_panel is None:
            return self.target
        return shown_class(exp, self.target, self.lm_panel.continuation)

    def _show_lm(self, exp: Explanation, shown: str) -> None:
        """Follow a language model's result: its candidates, rows and the baseline's guess."""
        panel = self.lm_panel
        if panel is None:
            return
        self.classes = list(exp.classes)
        params = self._params
        guess = self._guesses.get((params.text, params.baseline)) if params else None
        with panel.hold_sync():
            panel.candidates = candidate_items(exp, shown)
            panel.explained = shown or exp.predicted_class
            panel.show_rows(exp, "token" if self.level == "token" else "word")
        if guess is not None:  # beside the badge: the baseline's own next token, whole vocab
            self.baseline_info = {"text": baseline_next(exp.baseline, *guess), "far": False}
