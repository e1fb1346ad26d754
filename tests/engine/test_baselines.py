"""The one string encoding of a baseline choice: codes, exact token lookup, and back."""

from __future__ import annotations

import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.baselines import (
    AVERAGE,
    BASELINE_KINDS,
    DEFAULT,
    NEUTRAL,
    UNCERTAIN,
    ZERO,
    AverageBaseline,
    TextBaseline,
    TokenBaseline,
    UncertainBaseline,
    ZeroBaseline,
    baseline_from_choice,
    choice_of,
)


@pytest.fixture(scope="module")
def adapter():  # the toy vocabulary: <pad> <unk> <bos> <eos> the a movie film ...
    return adapter_for(toy_bundle("mean"))


def test_codes(adapter) -> None:
    assert BASELINE_KINDS == ("[neutral]", "[default]", "[zero]", "[average]", "[uncertain]")
    neutral = baseline_from_choice(NEUTRAL, adapter, length=5)  # resolved: a plain token
    assert isinstance(neutral, str) and adapter.has_token(neutral)
    assert baseline_from_choice(DEFAULT, adapter) is None
    assert baseline_from_choice("", adapter) is None  # a cleared box: the model's default
    assert baseline_from_choice(ZERO, adapter) == ZeroBaseline()
    assert isinstance(baseline_from_choice(UNCERTAIN, adapter), UncertainBaseline)
    mine = UncertainBaseline(max_iter=5)
    assert baseline_from_choice(UNCERTAIN, adapter, uncertain=mine) is mine
    assert baseline_from_choice(AVERAGE, adapter) == AverageBaseline(
        [TokenBaseline("<unk>"), ZeroBaseline()]
    )
    average = AverageBaseline(["the film"])
    assert baseline_from_choice(AVERAGE, adapter, average=average) is average


def test_tokens_are_looked_up_exactly(adapter) -> None:
    assert baseline_from_choice("film", adapter) == "film"
    assert baseline_from_choice("<unk>", adapter) == "<unk>"
    for part in ("fil", "ilm", "films", "Film"):
        with pytest.raises(ValueError, match=f"Unknown baseline token '{part}'") as info:
            baseline_from_choice(part, adapter)
        assert "[default], [zero], [average], [uncertain]" in str(info.value)
    with pytest.raises(ValueError, match="Close matches: film"):
        baseline_from_choice("fil", adapter)


def test_unknown_bracketed_code(adapter) -> None:
    with pytest.raises(
        ValueError, match=r"Unknown baseline '\[zeros\]': choose one of \[neutral\], \[default\]"
    ):
        baseline_from_choice("[zeros]", adapter)


def test_a_bracketed_vocabulary_token_is_a_token() -> None:
    bert_like = adapter_for(toy_bundle("mean", words=("film", "[MASK]")))
    assert baseline_from_choice("[MASK]", bert_like) == "[MASK]"


def test_choice_of_is_the_inverse(adapter) -> None:
    assert choice_of(None) == DEFAULT
    assert choice_of("film") == "film"
    assert choice_of(TokenBaseline("film")) == "film"
    assert choice_of(ZeroBaseline()) == ZERO
    assert choice_of(UncertainBaseline()) == UNCERTAIN
    assert choice_of(AverageBaseline(["a film"])) == AVERAGE
    for choice in (*BASELINE_KINDS, "film"):
        if choice != NEUTRAL:
            assert choice_of(baseline_from_choice(choice, adapter)) == choice
    # [neutral] is stored as the token it resolved to, so a reload reproduces the numbers
    token = baseline_from_choice(NEUTRAL, adapter, length=5)
    assert choice_of(token) == token
    with pytest.raises(TypeError, match="TextBaseline has no menu choice"):
        choice_of(TextBaseline("a film"))


def test_choices_run(adapter) -> None:
    explainer = igw.Explainer(adapter)
    for choice in (*BASELINE_KINDS, "film"):
        exp = explainer.explain(
            "the film was good",
            n_steps=4,
            baseline=baseline_from_choice(choice, adapter, uncertain=UncertainBaseline(max_iter=3)),
        )
        assert exp.scores.shape == (2, 5)
