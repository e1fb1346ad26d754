"""The Explorer's LM mode without a browser: candidates, continue, continuation box, baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.lm_models import tiny_lm, toy_lm_learner

import ig_widgets as igw
from ig_widgets.views.selection import select
from ig_widgets.widgets.explorer import Explorer
from ig_widgets.widgets.lm_mode import appended

PROMPT = "the film was"
STEPS = 8
WAIT = 120.0

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gpt() -> igw.Explainer:
    model, tok = tiny_lm("gpt2")
    return igw.Explainer(model, tokenizer=tok)


def lm_explorer(explainer: igw.Explainer, text: str = PROMPT, **kwargs: Any) -> Explorer:
    explorer = Explorer(explainer, text, n_steps=STEPS, debounce=0.02, **kwargs)
    assert explorer.wait(WAIT), "the Explorer never finished"
    assert explorer.error == "", explorer.error
    return explorer


def event(widget: Any, name: str, data: Any) -> None:
    """A template's method call as the front end sends it."""
    widget._handle_event(None, {"event": name, "data": data}, [])


def settle(explorer: Explorer) -> None:
    assert explorer.wait(WAIT), "the Explorer never finished"


def test_candidates_are_the_target_menu_and_match_a_lone_explain(gpt: igw.Explainer) -> None:
    explorer = lm_explorer(gpt)
    try:
        exp = explorer.explanation
        alone = gpt.explain(PROMPT, n_steps=STEPS)
        assert exp is not None and exp.classes == alone.classes
        assert explorer.classes == list(alone.classes)  # the target menu lists them
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=0, atol=1e-8)
        items = explorer.lm_panel.candidates
        assert [c["name"] for c in items] == list(alone.classes)  # most probable first
        assert [c["id"] for c in items] == list(alone.target_ids)
        probs = [c["prob"] for c in items]
        assert probs == sorted(probs, reverse=True) and probs[0] > 0
        assert [c["explained"] for c in items] == [True] + [False] * (len(items) - 1)
        assert explorer.lm_panel.explained == alone.predicted_class
        assert explorer.lm_panel.row_titles == [] and explorer.lm_panel.rows == []
    finally:
        explorer.close()


def test_clicking_a_candidate_explains_it_without_a_model_call(gpt: igw.Explainer) -> None:
    explorer = lm_explorer(gpt)
    try:
        exp = explorer.explanation
        assert exp is not None
        third = exp.classes[2]
        calls: list[Any] = []
        explorer.on_result(calls.append)
        event(explorer.lm_panel, "pick", third)
        assert explorer.target == third and explorer.lm_panel.explained == third
        assert explorer.chips.scores == pytest.approx(list(select(exp, third).scores))
        assert [c["name"] for c in explorer.lm_panel.candidates if c["explained"]] == [third]
        event(explorer.lm_panel, "pick", "not a candidate")  # ignored
        event(explorer.lm_panel, "pick", 3)
        assert explorer.target == third
        assert calls == [], "choosing a candidate called the model"
    finally:
        explorer.close()


def test_continue_appends_the_token_and_explains_the_next_step(gpt: igw.Explainer) -> None:
    explorer = lm_explorer(gpt)
    try:
        exp = explorer.explanation
        assert exp is not None
        second = exp.classes[1]
        event(explorer.lm_panel, "pick", second)
        event(explorer.lm_panel, "continue_with", second)
        assert explorer.text == PROMPT + second and explorer.target == ""
        settle(explorer)
        after = explorer.explanation
        assert after is not None and explorer.parameters is not None
        assert explorer.parameters.text == PROMPT + second
        grown = gpt.tokenize(PROMPT + second).ids
        assert grown == (*gpt.tokenize(PROMPT).ids, exp.target_ids[1])
        alone = gpt.explain(PROMPT + second, n_steps=STEPS)
        assert after.classes == alone.classes and explorer.classes == list(alone.classes)
        np.testing.assert_allclose(after.scores, alone.scores, rtol=0, atol=1e-8)
        event(explorer.lm_panel, "continue_with", None)  # the explained (predicted) one
        assert explorer.text == PROMPT + second + alone.predicted_class
        settle(explorer)
    finally:
        explorer.close()


def test_continuation_box_explains_each_target_token_then_the_whole(
    gpt: igw.Explainer,
) -> None:
    explorer = lm_explorer(gpt)
    try:
        target = " great fun"
        event(explorer.lm_panel, "commit_continuation", target)
        settle(explorer)
        exp = explorer.explanation
        alone = gpt.explain(PROMPT, target=target, n_steps=STEPS)
        assert exp is not None and exp.target_tokens == alone.target_tokens == (" great", " fun")
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=0, atol=1e-8)
        panel = explorer.lm_panel
        assert panel.candidates == []  # a continuation has no menu of next tokens
        assert [r["name"] for r in panel.row_titles] == [" great", " fun", target]
        assert [r["whole"] for r in panel.row_titles] == [False, False, True]
        assert len(panel.rows) == 3
        for i, chips in enumerate(panel.rows):
            view = select(alone, i, "word")
            assert chips.tokens == list(view.tokens) and chips.tokens
            assert chips.scores == pytest.approx(list(view.scores), abs=1e-9)
        assert explorer.chips.label == target  # the main chips show the whole by default
        event(panel, "commit_continuation", "  ")  # blank: back to the next token
        settle(explorer)
        assert panel.continuation == "" and panel.rows == [] and panel.candidates
        assert explorer.explanation is not None and not explorer.explanation.target_tokens
    finally:
        explorer.close()


def test_a_bad_continuation_is_a_banner_and_keeps_text_and_result(gpt: igw.Explainer) -> None:
    explorer = lm_explorer(gpt)
    try:
        shown = explorer.explanation
        event(explorer.lm_panel, "commit_continuation", " zzqx")  # 'z', 'q', 'x': unknown
        settle(explorer)
        assert "not in the model's vocabulary" in explorer.error
        assert explorer.text == PROMPT and explorer.explanation is shown and explorer.stale
        assert explorer.lm_panel.continuation == " zzqx"  # what the user typed stays
    finally:
        explorer.close()


def test_the_baseline_badge_shows_the_baselines_own_next_token(gpt: igw.Explainer) -> None:
    model, tok = tiny_lm("gpt2")
    explorer = lm_explorer(gpt)
    try:
        ids = tok(PROMPT)["input_ids"]
        pad = [i if i == tok.bos_token_id else tok.pad_token_id for i in ids]  # <s> kept
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([pad])).logits[0, -1].double(), -1)
        best = int(probs.argmax())
        text = explorer.baseline_info["text"]
        expected = f"{tok.decode([best])!r} {float(probs[best]):.2f}"
        assert text == f"baseline token '<pad>' → next {expected}"
    finally:
        explorer.close()


def test_word_level_vocabularies_join_with_a_space() -> None:
    explainer = igw.Explainer(toy_lm_learner())
    ids = explainer.tokenize("the film was").ids
    great = explainer.adapter.token_id("great")
    assert appended(explainer, "the film was", great, "great") == "the film was great"
    assert explainer.tokenize("the film was great").ids == (*ids, great)


def test_the_demo_lm_pair_opens_in_lm_mode_and_a_prompted_lm_does_not() -> None:
    explorer = lm_explorer(igw.load_demo_model("gpt_lm"))  # a (model, tokenizer) pair
    model, tok = tiny_lm("gpt2")
    prompted = Explorer(
        igw.Explainer(
            model,
            tokenizer=tok,
            prompt="Review: {text}. Sentiment:",
            labels={"positive": " positive", "negative": " negative"},
        ),
        PROMPT,
        n_steps=STEPS,
        debounce=0.02,
    )
    try:
        assert explorer.lm_panel is not None and len(explorer.classes) == 5
        assert prompted.wait(WAIT) and prompted.error == ""
        assert prompted.lm_panel is None and prompted.classes == ["positive", "negative"]
    finally:
        explorer.close()
        prompted.close()


def test_several_lm_widgets_on_one_model_at_once_give_lone_numbers(gpt: igw.Explainer) -> None:
    texts = [PROMPT, "a bad movie with", "I loved the story and"]
    explorers = [Explorer(gpt, text, n_steps=STEPS, debounce=0.0) for text in texts]
    event(explorers[2].lm_panel, "commit_continuation", " the music")  # all three computing
    try:
        for explorer in explorers:
            settle(explorer)
            assert explorer.error == "", explorer.error
        model, tok = tiny_lm("gpt2")  # the same weights, no cache shared with the widgets
        fresh = igw.Explainer(model, tokenizer=tok)
        for explorer, text in zip(explorers, texts, strict=True):
            target = explorer.lm_panel.continuation or None
            alone = fresh.explain(text, target=target, n_steps=STEPS)
            exp = explorer.explanation
            assert exp is not None and exp.classes == alone.classes
            np.testing.assert_allclose(exp.scores, alone.scores, rtol=0, atol=1e-8)
    finally:
        for explorer in explorers:
            explorer.close()


def test_compare_and_explain_many_refuse_a_bare_lm_with_the_way_out(gpt: igw.Explainer) -> None:
    with pytest.raises(ValueError, match="prompt="):
        igw.Compare([gpt, gpt], text=PROMPT, n_steps=STEPS)
    with pytest.raises(ValueError, match=r"needs fixed classes.*prompt="):
        gpt.explain_many([PROMPT], n_steps=STEPS, progress=False)


def test_target_in_the_constructor_is_the_first_continuation(gpt: igw.Explainer) -> None:
    several = lm_explorer(gpt, target=" great fun")
    great = gpt.adapter.token_id("Ġgreat")
    one = lm_explorer(gpt, target=great)  # a token id: that token among the candidates
    try:
        assert several.lm_panel.continuation == " great fun"
        assert [r["name"] for r in several.lm_panel.row_titles] == [" great", " fun", " great fun"]
        exp = one.explanation
        assert exp is not None and one.lm_panel.continuation == " great"
        assert great in exp.target_ids and one.lm_panel.explained == " great"
        alone = gpt.explain(PROMPT, target=" great", n_steps=STEPS)
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=0, atol=1e-8)
    finally:
        several.close()
        one.close()
