"""Widgets ask the engine: one prepare per request, validated traits, the result hook, one seam."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
import traitlets as t
from support.any_models import TAGS, train_tagger
from support.live_threads import browser_message
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.quadrature import MAX_STEPS
from ig_widgets.views.selection import select
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.explorer import Explorer
from ig_widgets.widgets.teaching import PathView

TEXT = "The movie was not very good, but the acting is fun!"
WAIT = 60.0

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_explorer(explainer: igw.Explainer | None = None, **kwargs: Any) -> Explorer:
    options: dict[str, Any] = {"n_steps": 16, "debounce": 0.02, "discover_neutral": False}
    options.update(kwargs)
    explorer = Explorer(explainer or igw.Explainer(toy_bundle("gru", n_classes=3)), TEXT, **options)
    assert explorer.wait(WAIT), "the first computation never finished"
    return explorer


class TokenizeCalls:
    """Counts an explainer's tokenisations: asked by the widget, through the engine, real ones.

    ``asked`` counts the widget's own calls of ``tokenize``, ``token_labels`` and ``prepare``
    (not those they make of each other); ``total`` every call of ``Explainer.tokenize``
    (also the one inside ``refine``, a cache hit); ``real`` the adapter's tokenisations.
    """

    def __init__(self, explainer: igw.Explainer) -> None:
        self.asked = self.total = self.real = 0
        self._depth = 0
        for name in ("tokenize", "token_labels", "prepare"):
            self._wrap(explainer, name)
        adapter_tokenize = explainer.adapter.tokenize

        def real(*args: Any, **kwargs: Any) -> Any:
            self.real += 1
            return adapter_tokenize(*args, **kwargs)

        explainer.adapter.tokenize = real  # type: ignore[method-assign]

    def _wrap(self, explainer: igw.Explainer, name: str) -> None:
        original = getattr(explainer, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.total += name == "tokenize"
            self.asked += self._depth == 0 and not _inside_refine()
            self._depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self._depth -= 1

        setattr(explainer, name, wrapper)


def _inside_refine() -> bool:
    """Whether the caller is the engine's own stage loop (``refine_steps``)."""
    import sys

    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "refine_steps":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


# ---------------------------------------------------------------------------- prepare
@pytest.fixture(scope="module")
def tagger() -> igw.Explainer:
    model, tok, _ = train_tagger()
    return igw.Explainer(model, tokenizer=tok, embedding="emb", classes=TAGS)


def test_one_request_tokenises_once(tagger: igw.Explainer) -> None:
    """A token-classification request asked 3 times and tokenised 4; now once (refine takes it)."""
    explorer = make_explorer(tagger, faithfulness=False)
    try:
        calls = TokenizeCalls(tagger)
        explorer.text = "the acting was not fun and the plot is bad ."  # never tokenised yet
        assert explorer.wait(WAIT) and explorer.error == ""
        exp = explorer.explanation
        assert exp is not None and exp.position == 1 and exp.is_final
        assert calls.asked == 1  # one prepare: tokens, labels, first ordinary token
        assert calls.total == 1  # prepare's: refine takes the Prepared
        assert calls.real == 1  # the model's tokenizer ran once
    finally:
        explorer.close()


# ---------------------------------------------------------------------------- validators
def test_explorer_validates_steps_rule_and_level() -> None:
    explorer = make_explorer()
    try:
        for bad, message in [
            (0, f"between 1 and {MAX_STEPS}"),
            (MAX_STEPS + 1, f"between 1 and {MAX_STEPS}"),
            ("many", "an int or 'auto'"),
            (True, "an int or 'auto'"),
        ]:
            with pytest.raises(t.TraitError, match=message):
                explorer.n_steps = bad
        assert explorer.n_steps == 16
        with pytest.raises(t.TraitError, match="Unknown integration method 'simpson'; use one"):
            explorer.method = "simpson"
        with pytest.raises(t.TraitError, match="level must be one of"):
            explorer.level = "paragraph"
        assert (explorer.method, explorer.level) == ("gausslegendre", "word")
        explorer.n_steps = "auto"  # turns the search on, the slider keeps its count
        assert explorer.auto_steps is True and explorer.n_steps == 16
        assert explorer.wait(WAIT) and explorer.parameters is not None
        assert explorer.parameters.n_steps == "auto"
    finally:
        explorer.close()


def test_a_refused_browser_change_goes_to_the_banner_and_is_sent_back() -> None:
    explorer = make_explorer()
    try:
        shown = explorer.explanation
        sent: list[dict[str, Any]] = []
        explorer._send = lambda msg, buffers=None: sent.append(msg)  # type: ignore[method-assign]
        browser_message(
            explorer, {"method": "update", "state": {"method": "simpson", "n_steps": 20}}
        )
        assert "Unknown integration method 'simpson'" in explorer.error
        assert (explorer.method, explorer.n_steps) == ("gausslegendre", 16)  # all rolled back
        back = [m["state"] for m in sent if m.get("method") == "update"]
        assert back and back[-1] == {"method": "gausslegendre", "n_steps": 16}
        assert explorer.wait(WAIT) and explorer.explanation is shown  # nothing recomputed
        browser_message(explorer, {"method": "update", "state": {"level": "token"}})
        assert explorer.error == ""  # the next good change clears it
    finally:
        explorer.close()


def test_bad_options_reach_the_banner_and_the_text_stays() -> None:
    explorer = make_explorer()
    try:
        shown = explorer.explanation
        explorer.set_state({"method": "riemann_trapezoid", "n_steps": 1, "text": "a fun film"})
        assert explorer.wait(WAIT)
        assert "n_steps must be between 2 and" in explorer.error and "riemann_trapezoid" in (
            explorer.error
        )
        assert (explorer.text, explorer.n_steps) == ("a fun film", 1)
        assert explorer.explanation is shown and explorer.stale
        explorer.n_steps = 2
        assert explorer.wait(WAIT) and explorer.error == ""
    finally:
        explorer.close()


def test_the_default_rule_comes_from_the_options() -> None:
    bundle = toy_bundle("mean")
    for steps, rule in [("auto", "adaptive"), (8, "gausslegendre")]:
        explorer = Explorer(bundle, TEXT, n_steps=steps, discover_neutral=False)
        assert explorer.method == rule
        explorer.close()


# ---------------------------------------------------------------------------- result hook
def test_on_result_sees_every_shown_stage_and_can_be_removed() -> None:
    explorer = make_explorer()
    try:
        seen: list[Explanation] = []

        def broken(_exp: Explanation) -> None:
            raise RuntimeError("a follower's bug")

        explorer.on_result(broken)
        explorer.on_result(seen.append)
        explorer.on_result(seen.append)  # once is enough
        explorer.n_steps = 32
        assert explorer.wait(WAIT) and explorer.error == ""
        assert seen and seen[-1] is explorer.explanation and seen[-1].is_final
        assert [e.stage for e in seen] == list(range(1, len(seen) + 1))
        explorer.on_result(seen.append, remove=True)
        explorer.n_steps = 20
        assert explorer.wait(WAIT) and seen[-1].n_steps == 32
        with pytest.raises(TypeError, match="callable"):
            explorer.on_result("not a function")  # type: ignore[arg-type]
    finally:
        explorer.close()


def test_path_view_follows_the_explorer_through_the_hook() -> None:
    explorer = make_explorer()
    view = PathView.from_explorer(explorer, debounce=0.01)
    try:
        assert view.wait(WAIT)
        assert view._follow_result in explorer._on_result
        assert not any(view._follow_result == h for h in _observers(explorer, "computed_for"))
        before = view.result
        explorer.refresh()  # the same settings again: computed_for does not change
        assert explorer.wait(WAIT) and view.wait(WAIT)
        assert view.result is not before and view.error == ""
    finally:
        view.close()
        assert view._follow_result not in explorer._on_result
        explorer.close()


def _observers(widget: Any, name: str) -> list[Any]:
    return [h for handlers in widget._trait_notifiers.get(name, {}).values() for h in handlers]


# ---------------------------------------------------------------------------- one seam
def test_show_selection_is_what_set_data_of_a_selection_gives() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=3))
    exp = explainer.explain("A fun film. A bad plot!", n_steps=8)
    view = select(exp, "c1", "sentence")
    seam, by_hand = SaliencyChips(), SaliencyChips()
    seam.show_selection(view)
    by_hand.set_data(
        view.tokens,
        view.scores,
        special=view.special,
        oov=view.oov,
        parts=[[asdict(p) for p in parts] for parts in view.parts],
        label=view.attribution.label,
    )
    keys = ("tokens", "scores", "special", "oov", "parts", "values", "part_values", "label")
    assert {k: getattr(seam, k) for k in keys} == {k: getattr(by_hand, k) for k in keys}
    assert seam.parts and seam.label == "c1"
