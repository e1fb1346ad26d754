"""The Hugging Face adapter on a tiny randomly initialised BERT built offline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from support.toy_models import (
    baseline_ids,
    captum_scores,
    import_transformers,
    make_module,
    tiny_bert,
    tiny_roberta,
    toy_bundle,
)

import ig_widgets as igw
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.adapters.hf import HFAdapter, is_hf_model
from ig_widgets.engine.adapters.torch import TorchAdapter
from ig_widgets.engine.quadrature import METHODS
from ig_widgets.engine.spans import token_text

import_transformers()  # the test extra installs transformers: a missing one is a failure

TEXT = "The acting was not GOOD, but the film is very funly! Don't zap it."


@pytest.fixture(scope="module")
def bert():
    return tiny_bert()


@pytest.fixture
def adapter(bert) -> HFAdapter:
    model, tokenizer = bert
    return HFAdapter(model, tokenizer=tokenizer)


def test_forward_embeds_equals_the_model(adapter: HFAdapter, bert) -> None:
    model, _ = bert
    ids = torch.tensor(adapter.tokenize(TEXT).ids)
    with adapter.prepared():
        f = adapter.forward_embeds(adapter.embed(ids[None]), ids)
        logits = model(input_ids=ids[None]).logits
    probs = torch.softmax(logits, -1)
    assert f.shape == (1, 3)
    torch.testing.assert_close(f, probs, atol=1e-6, rtol=0)
    assert probs.max() - probs.min() > 0.05  # the tiny model is not trivially uniform


def test_logits_output_and_batch_rows(bert) -> None:
    model, tokenizer = bert
    adapter = HFAdapter(model, tokenizer=tokenizer, output="logits")
    ids = torch.tensor(adapter.tokenize(TEXT).ids)
    e = adapter.embed(ids[None])
    points = torch.cat([e * 0.5, e])
    f = adapter.forward_embeds(points, ids)
    with torch.no_grad():
        half = model(inputs_embeds=e * 0.5).logits
        full = model(input_ids=ids[None]).logits
    torch.testing.assert_close(f, torch.cat([half, full]), atol=1e-6, rtol=0)
    assert not torch.allclose(f[0], f[1])


def test_tokenize_spans_and_specials(adapter: HFAdapter) -> None:
    tok = adapter.tokenize(TEXT)
    assert tok.tokens[0] == "[CLS]" and tok.tokens[-1] == "[SEP]"
    assert tok.special[0] and tok.special[-1] and not any(tok.special[1:-1])
    assert tok.keep == tok.special
    assert tok.spans[0] is None and tok.spans[-1] is None
    assert "##ly" in tok.tokens and "[UNK]" in tok.tokens
    for token, span in zip(tok.tokens[1:-1], tok.spans[1:-1], strict=True):
        piece = TEXT[span[0] : span[1]].lower()
        assert token == "[UNK]" or token_text(token) == piece
    unk = tok.tokens.index("[UNK]")
    assert TEXT[slice(*tok.spans[unk])] == "zap"


def test_classes_vocab_limits_and_defaults(adapter: HFAdapter, bert) -> None:
    model, tokenizer = bert
    assert adapter.family == "huggingface"
    assert adapter.classes == ("neg", "neu", "pos")
    assert adapter.output == "probs" and adapter.default_baseline_token == "[MASK]"
    assert adapter.max_tokens == 64
    assert adapter.vocab[adapter.token_id("movie")] == "movie"
    assert adapter.name == "BertForSequenceClassification"
    with pytest.raises(ValueError, match="at most 64"):
        adapter.tokenize("good " * 70)
    named = HFAdapter(model, tokenizer=tokenizer, classes=("a", "b", "c"), baseline_token="[UNK]")
    assert named.classes == ("a", "b", "c") and named.default_baseline_token == "[UNK]"


def test_embed_is_the_word_embeddings_only(adapter: HFAdapter, bert) -> None:
    model, _ = bert
    ids = torch.tensor([adapter.tokenize(TEXT).ids])
    expected = model.bert.embeddings.word_embeddings.weight[ids]
    torch.testing.assert_close(adapter.embed(ids), expected.detach())


def test_training_flags_restored(bert) -> None:
    model, tokenizer = bert
    model.train()
    model.bert.pooler.eval()
    before = {n: m.training for n, m in model.named_modules()}
    try:
        adapter = HFAdapter(model, tokenizer=tokenizer)
        ids = torch.tensor(adapter.tokenize(TEXT).ids)
        e = adapter.embed(ids[None]).expand(3, -1, -1)
        f = adapter.forward_embeds(e, ids)  # dropout would make the rows differ
        torch.testing.assert_close(f, f[:1].expand(3, -1), atol=1e-6, rtol=0)
        with adapter.prepared():
            assert not any(m.training for m in model.modules())
        assert {n: m.training for n, m in model.named_modules()} == before
    finally:
        model.eval()


def test_errors(bert) -> None:
    model, tokenizer = bert
    with pytest.raises(TypeError, match="Pass tokenizer="):
        HFAdapter(model)
    with pytest.raises(TypeError, match="fast"):
        HFAdapter(model, tokenizer=SimpleNamespace(is_fast=False))
    with pytest.raises(ValueError, match="'probs', 'logits', 'sigmoid' or 'identity'"):
        HFAdapter(model, tokenizer=tokenizer, output="softmax")
    with pytest.raises(ValueError, match="Unknown baseline token"):
        HFAdapter(model, tokenizer=tokenizer, baseline_token="nope")
    with pytest.raises(ValueError, match="3 distinct names"):
        HFAdapter(model, tokenizer=tokenizer, classes=("a", "b"))
    with pytest.raises(TypeError, match="PreTrainedModel"):
        HFAdapter(make_module("mean", 10), tokenizer=tokenizer)


def test_nan_output_is_a_clear_error(adapter: HFAdapter) -> None:
    ids = torch.tensor(adapter.tokenize(TEXT).ids)
    e = adapter.embed(ids[None])
    e[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="output contains NaN"):
        adapter.forward_embeds(e, ids)


def test_adapter_for_routes_by_family(bert) -> None:
    model, tokenizer = bert
    assert is_hf_model(model) and not is_hf_model(torch.nn.Linear(2, 2))
    assert isinstance(adapter_for(model, tokenizer=tokenizer), HFAdapter)
    # the general torch family would take it too: the Hugging Face one wins by its priority
    assert TorchAdapter.accepts(model, tokenizer=tokenizer)
    assert HFAdapter.priority > TorchAdapter.priority
    assert isinstance(adapter_for(toy_bundle()), TorchAdapter)
    with pytest.raises(TypeError, match="Pass tokenizer="):
        adapter_for(model)
    generic = adapter_for(
        model, tokenizer=_Words(tokenizer), embedding="bert.embeddings.word_embeddings",
        classes=("neg", "neu", "pos"), output_key="logits",
    )  # fmt: skip
    assert isinstance(generic, TorchAdapter)
    ids = torch.tensor(generic.tokenize(TEXT).ids)
    with torch.no_grad():
        f = generic.forward_embeds(generic.embed(ids[None]), ids)
        expected = torch.softmax(model(input_ids=ids[None]).logits, -1)
    torch.testing.assert_close(f, expected, atol=1e-6, rtol=0)


class _Words:
    """The BERT tokenizer seen through the generic ``TextTokenizer`` protocol."""

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer
        self.vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))

    def encode(self, text: str):
        enc = self.tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        mask, offsets = enc["special_tokens_mask"], enc["offset_mapping"]
        spans = [None if s else tuple(o) for s, o in zip(mask, offsets, strict=True)]
        return enc["input_ids"], spans


# ------------------------------------------------- the engine through this adapter vs Captum
@pytest.fixture(scope="module")
def bert_explainer(bert) -> igw.Explainer:
    model, tokenizer = bert
    return igw.Explainer(model, tokenizer=tokenizer)


@pytest.mark.parametrize("method", METHODS)
def test_engine_agrees_with_captum(bert_explainer: igw.Explainer, bert, method: str) -> None:
    model, _ = bert
    exp = bert_explainer.explain(TEXT, n_steps=50, method=method)
    assert exp.baseline == "token '[MASK]'"  # masked-LM tokenizer: [MASK] by default
    tok = bert_explainer.tokenize(TEXT)
    reference = captum_scores(
        lambda ids: torch.softmax(
            model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1
        ),
        model.get_input_embeddings(),
        torch.tensor(tok.ids),
        baseline_ids(tok, bert_explainer.adapter.token_id("[MASK]")),
        3,
        50,
        method,
    )
    assert np.abs(exp.scores).max() > 1e-3
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("baseline", [None, "[UNK]", "zero"])
def test_completeness_at_64_gauss_legendre(bert_explainer: igw.Explainer, baseline) -> None:
    base = igw.ZeroBaseline() if baseline == "zero" else baseline
    for text in (TEXT, "a good film", "not bad, not great: a boring plot and very bad acting."):
        exp = bert_explainer.explain(text, n_steps=64, baseline=base)
        diff = np.abs(exp.f_input - exp.f_baseline)
        assert diff.max() > 1e-3
        assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(diff, 1e-3))


def test_byte_level_bpe_roberta() -> None:
    model, tokenizer = tiny_roberta()
    adapter = HFAdapter(model, tokenizer=tokenizer)
    text = "A good film, très good!"
    tok = adapter.tokenize(text)
    assert (tok.tokens[0], tok.tokens[-1]) == ("<s>", "</s>") and tok.keep[0] and tok.keep[-1]
    assert tok.tokens[1:4] == ("A", "Ġgood", "Ġfilm")
    assert [text[slice(*s)] for s in tok.spans[1:4]] == ["A", "good", "film"]
    inner = [s for s in tok.spans[1:-1] if s is not None]
    assert len(inner) == len(tok) - 2 and inner == sorted(inner)
    assert adapter.max_tokens == 64 and adapter.default_baseline_token == "<pad>"
    ids = torch.tensor(tok.ids)
    with torch.no_grad():
        expected = torch.softmax(model(input_ids=ids[None]).logits, -1)
        torch.testing.assert_close(adapter.forward_embeds(adapter.embed(ids[None]), ids), expected)
    exp = igw.Explainer(adapter).explain(text, n_steps=64)
    diff = np.abs(exp.f_input - exp.f_baseline)
    assert diff.max() > 1e-3 and np.all(np.abs(exp.delta) <= 0.01 * diff)
