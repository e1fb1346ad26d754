"""Baselines for every model family: TextBaseline, the [MASK] default, announced zero embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.fastai_models import toy_learner
from support.toy_models import (
    baseline_ids,
    captum_scores,
    make_module,
    tiny_bert,
    tiny_roberta,
    toy_bundle,
)

import ig_widgets as igw
from ig_widgets.engine import baselines
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.adapters.hf import HFAdapter
from ig_widgets.engine.baselines import (
    AVERAGE,
    NO_DEFAULT_TOKEN,
    ZERO,
    TextBaseline,
    ZeroBaseline,
    baseline_from_choice,
)

torch.set_num_threads(1)

BERT_TEXT = "the movie was not good, but the acting is very fun!"
ANNOUNCED = f"zero embeddings ({NO_DEFAULT_TOKEN})"


def test_text_baseline_is_public() -> None:
    assert "TextBaseline" in igw.__all__ and "TextBaseline" in dir(igw)
    assert igw.TextBaseline is baselines.TextBaseline
    assert igw.TextBaseline("a film").description == "text 'a film'"


# --- TextBaseline: the reference's ordinary tokens tiled, each family's kept tokens kept ----


def _start_ids(adapter, text: str, reference: str) -> tuple[int, ...]:
    tok = adapter.tokenize(text)
    inputs = adapter.embed(torch.tensor([tok.ids]))[0]
    (start,) = TextBaseline(reference).starts(adapter, tok, inputs)
    expected = adapter.embed(torch.tensor([start.key[1]]))[0]
    torch.testing.assert_close(start.embeds, expected)
    return tuple(adapter.vocab[i] for i in start.key[1])


def test_text_baseline_tiles_the_reference_in_every_family() -> None:
    torch_adapter = adapter_for(toy_bundle("gru"))
    assert _start_ids(torch_adapter, "the plot was very awful !", "a good film") == (
        "<bos>", "a", "good", "film", "a", "good", "film",
    )  # fmt: skip
    model, tokenizer = tiny_bert()
    bert = HFAdapter(model, tokenizer=tokenizer)
    assert _start_ids(bert, "a very good movie !", "the film") == (
        "[CLS]", "the", "film", "the", "film", "the", "[SEP]",
    )  # fmt: skip
    fastai = adapter_for(toy_learner())
    ids = _start_ids(fastai, "a moving story, a gorgeous cast", "the plot")
    assert ids[0] == "xxbos" and ids[1:5] == ("the", "plot", "the", "plot")
    assert len(ids) == len(fastai.tokenize("a moving story, a gorgeous cast"))


def test_text_baseline_agrees_with_captum_and_completeness() -> None:
    bundle = toy_bundle("gru", n_classes=3)
    explainer = igw.Explainer(bundle)
    text, reference = "the movie was not very good , but the acting is fun", "a film"
    exp = explainer.explain(text, n_steps=64, baseline=igw.TextBaseline(reference))
    assert exp.baseline == "text 'a film'"
    tok = explainer.tokenize(text)
    ref_ids = explainer.adapter.tokenize(reference).ids[1:]  # without <bos>
    start = [tok.ids[0], *[ref_ids[j % 2] for j in range(len(tok) - 1)]]
    reference_scores = captum_scores(
        lambda ids: torch.softmax(bundle.module(ids), -1),
        bundle.module.emb,
        torch.tensor(tok.ids),
        torch.tensor(start),
        3,
        64,
        "gausslegendre",
    )
    np.testing.assert_allclose(exp.scores, reference_scores, atol=1e-5, rtol=0)
    diff = np.abs(exp.f_input - exp.f_baseline)
    assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(diff, 1e-3))
    # the same path as a one-item average of that text
    avg = explainer.explain(text, n_steps=64, baseline=igw.AverageBaseline([reference]))
    np.testing.assert_allclose(avg.scores, exp.scores, atol=1e-7, rtol=0)


# --- Hugging Face: [MASK] by default, [PAD] and [UNK] one keyword away ----------------------


@pytest.fixture(scope="module")
def bert():
    return tiny_bert()


def _captum(model, explainer: igw.Explainer, text: str, token: str) -> np.ndarray:
    tok = explainer.tokenize(text)
    return captum_scores(
        lambda ids: torch.softmax(
            model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1
        ),
        model.get_input_embeddings(),
        torch.tensor(tok.ids),
        baseline_ids(tok, explainer.adapter.token_id(token)),
        3,
        32,
        "gausslegendre",
    )


def test_masked_lm_default_is_the_mask_token(bert) -> None:
    model, tokenizer = bert
    explainer = igw.Explainer(model, tokenizer=tokenizer)
    assert explainer.adapter.default_baseline_token == "[MASK]"
    exp = explainer.explain(BERT_TEXT, n_steps=32)
    assert exp.baseline == "token '[MASK]'"
    np.testing.assert_allclose(
        exp.scores, _captum(model, explainer, BERT_TEXT, "[MASK]"), atol=1e-5, rtol=0
    )
    for token in ("[PAD]", "[UNK]"):  # one keyword away, special tokens still kept
        other = explainer.explain(BERT_TEXT, n_steps=32, baseline=token)
        assert other.baseline == f"token {token!r}"
        np.testing.assert_allclose(
            other.scores, _captum(model, explainer, BERT_TEXT, token), atol=1e-5, rtol=0
        )
        assert not np.allclose(other.scores, exp.scores, atol=1e-4)
    for_every_call = igw.Explainer(model, tokenizer=tokenizer, baseline_token="[PAD]")
    assert for_every_call.explain(BERT_TEXT, n_steps=8).baseline == "token '[PAD]'"


def test_no_mask_token_falls_back_to_pad() -> None:
    model, tokenizer = tiny_roberta()
    assert tokenizer.mask_token is None
    assert HFAdapter(model, tokenizer=tokenizer).default_baseline_token == "<pad>"


# --- no default token: zero embeddings, announced ------------------------------------------

WORDS = ["<s>", "the", "film", "was", "good", "bad", "not"]


def no_token_explainer() -> igw.Explainer:
    """A model whose vocabulary has no unknown, pad or mask token."""
    return igw.Explainer(
        make_module("gru", len(WORDS), n_classes=2, seed=3),
        tokenizer=lambda text: [0, *(WORDS.index(w) for w in text.split())],
        vocab=WORDS,
        embedding="emb",
        classes=("neg", "pos"),
    )


def test_zero_fallback_is_announced() -> None:
    explainer = no_token_explainer()
    adapter = explainer.adapter
    assert adapter.default_baseline_token is None
    exp = explainer.explain("the film was not good", n_steps=16)
    assert exp.baseline == ANNOUNCED
    chosen = explainer.explain("the film was not good", n_steps=16, baseline=ZeroBaseline())
    assert chosen.baseline == "zero embeddings"  # asked for: nothing to announce
    np.testing.assert_array_equal(chosen.scores, exp.scores)  # the same path
    assert baseline_from_choice(AVERAGE, adapter).description == ANNOUNCED
    assert baseline_from_choice(ZERO, adapter).description == "zero embeddings"
    assert ZeroBaseline(reason="why") == ZeroBaseline()
    assert ZeroBaseline(keep_special=False, reason="why").description == (
        "zero embeddings (special tokens too; why)"
    )
    lone = baselines.UncertainBaseline(max_iter=3)  # starts from the announced zeros
    assert explainer.explain("the film", n_steps=4, baseline=lone).baseline.startswith("uncertain")


def test_the_explorer_shows_the_announcement() -> None:
    from ig_widgets.widgets.explorer import Explorer

    explorer = Explorer(
        no_token_explainer(),
        text="the film was good",
        n_steps=8,
        baseline="[default]",  # the announcement of the model's default (not [neutral])
        discover_neutral=False,
    )
    try:
        assert explorer.wait(60), "the first computation never finished"
        assert explorer.error == ""
        assert f"baseline {ANNOUNCED}" in explorer.status
        titles = {item["value"]: item["title"] for item in explorer.baseline_items}
        assert titles["[default]"] == f"model default: {ANNOUNCED}"
        assert titles["[average]"] == ANNOUNCED
    finally:
        explorer.close()
