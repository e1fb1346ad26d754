"""Explainer.prepare: one tokenisation and one cached forward give a view every per-text fact."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from support.any_models import TAGS, train_tagger
from support.same import assert_same
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.prepared import Prepared

TEXT = "the plot was not good and the acting is fun ."


@pytest.fixture(scope="module")
def tagger() -> igw.Explainer:
    model, tok, _ = train_tagger()
    return igw.Explainer(model, tokenizer=tok, embedding="emb", classes=TAGS)


def counted(obj: Any, name: str) -> list[int]:
    """Replace ``obj.name`` by a wrapper that counts its calls; the count is ``calls[0]``."""
    calls = [0]
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)
    return calls


def test_a_sequence_classifier_labels_no_token() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=3))
    prepared = explainer.prepare("a fun film zzqx")
    tok = explainer.tokenize("a fun film zzqx")
    assert isinstance(prepared, Prepared) and prepared.tokenized == tok
    assert prepared.labels == () and not prepared.per_token
    assert prepared.position(2) is None and prepared.position(-1) is None
    assert prepared.oov == tok.oov and prepared.n_tokens == len(tok)
    assert prepared.first_ordinary == tok.special.index(False)
    assert explainer.token_labels("a fun film zzqx") == ()


def test_a_token_classifier_labels_every_token_from_one_forward(tagger: igw.Explainer) -> None:
    tokenized = counted(tagger.adapter, "tokenize")
    forwards = counted(tagger.adapter, "reference_forward")
    text = TEXT + " again"  # not tokenised by another test
    prepared = tagger.prepare(text)
    assert prepared.per_token and len(prepared.labels) == prepared.n_tokens
    assert set(prepared.labels) <= set(TAGS)
    assert prepared.tokenized.special[0] and prepared.first_ordinary == 1  # after <bos>
    assert prepared.position(-1) == 1 and prepared.position(4) == 4
    assert prepared.position(prepared.n_tokens) == 1  # not a token: the first ordinary one
    exp = tagger.explain(text, n_steps=4, target=(prepared.position(3), None))
    assert exp.token_labels == prepared.labels and tagger.token_labels(text) == prepared.labels
    assert tokenized[0] == 1 and forwards[0] == 1  # the explanation reused both


def test_a_caller_limit_is_refused_in_words() -> None:
    explainer = igw.Explainer(toy_bundle("mean"))
    text = " ".join(["good"] * 30)
    n = len(explainer.tokenize(text))
    assert explainer.prepare(text, max_tokens=n).n_tokens == n
    with pytest.raises(ValueError, match=rf"The text has {n} tokens; the Lab explains at most 5 "):
        explainer.prepare(text, max_tokens=5, who="the Lab", setting="Lab(max_tokens=...)")
    with pytest.raises(ValueError, match="The text is empty"):
        explainer.prepare("  ")


def test_refine_takes_a_prepared_text_without_tokenising_again() -> None:
    """A Prepared explains as its text does, and the tokenizer is not asked again."""
    explainer = igw.Explainer(toy_bundle("gru", n_classes=3))
    text = "a fun film zzqx"
    expected = explainer.explain(text, n_steps=8)
    prepared = explainer.prepare(text)
    calls = counted(explainer, "tokenize")
    stages = list(explainer.refine(prepared, n_steps=8))
    assert calls[0] == 0
    assert_same(stages[-1], expected)
    assert_same(explainer.explain(prepared, n_steps=8), expected)


def test_a_text_prepared_for_another_model_is_refused() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=3))
    prepared = replace(explainer.prepare("a fun film"), model_name="another-model")
    with pytest.raises(ValueError, match="prepared by the explainer of 'another-model'"):
        explainer.explain(prepared, n_steps=4)
