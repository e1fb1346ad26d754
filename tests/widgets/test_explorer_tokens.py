"""The Explorer on a token-classification model: each token's label, a click explains a token."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.any_models import TAGS, train_tagger
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.widgets.explorer import Explorer, chip_token

WAIT = 60.0
TEXT = "the plot was not good and the acting is fun ."

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tagger_explainer() -> igw.Explainer:
    model, tok, _ = train_tagger()
    return igw.Explainer(model, tokenizer=tok, embedding="emb", classes=TAGS)


def _explorer(explainer: igw.Explainer, **kw: Any) -> Explorer:
    options: dict[str, Any] = {"n_steps": 16, "debounce": 0.02, "discover_neutral": False}
    options.update(kw)
    explorer = Explorer(explainer, text=TEXT, **options)
    assert explorer.wait(WAIT), "the first computation never finished"
    return explorer


def _settled(explorer: Explorer, position: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        exp = explorer.explanation
        if exp is not None and exp.position == position and exp.is_final:
            assert explorer.wait(WAIT)
            return
        time.sleep(0.01)
    raise AssertionError(f"token {position} was never explained")


def test_token_labels_and_a_click_explain_one_token(tagger_explainer: igw.Explainer) -> None:
    explorer = _explorer(tagger_explainer)
    try:
        exp = explorer.explanation
        assert exp is not None and exp.position == 1  # the first ordinary token, after <bos>
        labels = [item["label"] for item in explorer.token_labels]
        assert labels == list(tagger_explainer.token_labels(TEXT))
        good = exp.tokens.index("good")
        assert labels[good] == "NEG" and explorer.token_labels[good]["token"] == "good"
        explorer.vue_explain_token(good)
        _settled(explorer, good)
        shown = explorer.explanation
        assert shown is not None and explorer.computed_for["position"] == good
        assert explorer.prediction == "NEG"  # the explained token's label
        direct = tagger_explainer.explain(TEXT, n_steps=16, target=(good, None))
        assert shown.scores.tolist() == direct.scores.tolist()
        explorer.vue_explain_token(99)  # not a token: nothing happens
        explorer.vue_explain_token("3")
        assert explorer.position == good
    finally:
        explorer.close()


def test_a_chip_click_explains_its_token(tagger_explainer: igw.Explainer) -> None:
    explorer = _explorer(tagger_explainer, level="word")
    try:
        exp = explorer.explanation
        assert exp is not None
        word = next(k for k, w in enumerate(exp.words) if w.text == "fun")
        explorer.chips.selected = word
        token = exp.words[word].tokens[0]
        _settled(explorer, token)
        assert explorer.position == token and explorer.prediction == "POS"
        explorer.text = "not bad at all"
        assert explorer.position == -1  # a new text starts again at its first token
    finally:
        explorer.close()


def test_chip_token_by_level(tagger_explainer: igw.Explainer) -> None:
    exp = tagger_explainer.explain(TEXT, n_steps=4, target=(1, None))
    assert chip_token(exp, "token", 3) == 3
    assert chip_token(exp, "word", 0) == 0  # <bos>, a special word: its own token
    assert chip_token(exp, "word", 1) == exp.words[1].tokens[0]
    assert chip_token(exp, "sentence", 0) is None
    assert chip_token(exp, "token", 99) is None


def test_sequence_classifier_has_no_token_labels() -> None:
    explorer = _explorer(igw.Explainer(toy_bundle("gru", n_classes=3)))
    try:
        assert explorer.token_labels == [] and explorer.computed_for["position"] == -1
        explorer.vue_explain_token(2)
        assert explorer.position == -1
    finally:
        explorer.close()
