"""Issue 21's last unhelpful failures: each model explained exactly or refused with what to do.

GPT-2 classifiers without a pad token (exact), encoder-decoder classifiers such as BART
(refused), quantized, TorchScript and meta-device models (refused), and an ``EmbeddingBag``
model whose forward is ``forward(text, offs)`` (exact, or an error that says how).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from support.any_models import BagAsEmbedding
from support.lm_models import lm_tokenizer
from support.toy_models import (
    MeanLinear,
    RNNClassifier,
    WordTokenizer,
    baseline_ids,
    captum_scores,
    import_transformers,
    tiny_bert,
)
from torch import nn

import ig_widgets as igw

TEXT = "the movie was not good"
LM_TEXT = "the film was good and the story was fun"


# --- GPT-2 classifier without a pad token: exact --------------------------------------------


def _gpt2_classifier(num_labels: int, seed: int, n_layer: int) -> tuple[Any, Any]:
    transformers = import_transformers()
    tok = lm_tokenizer()
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=len(tok.get_vocab()), n_embd=16, n_layer=n_layer, n_head=2, n_positions=64,
        num_labels=num_labels, pad_token_id=None, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, initializer_range=0.3,
    )  # fmt: skip
    return transformers.GPT2ForSequenceClassification(config).eval(), tok


@pytest.mark.parametrize(("num_labels", "seed", "n_layer"), [(2, 0, 1), (3, 1, 2), (2, 2, 2)])
def test_gpt2_classifier_without_a_pad_token_is_exact(
    num_labels: int, seed: int, n_layer: int
) -> None:
    model, tok = _gpt2_classifier(num_labels, seed, n_layer)
    explainer = igw.Explainer(model, tokenizer=tok)
    exp = explainer.explain(LM_TEXT, n_steps=16)
    assert model.config.pad_token_id is None  # the stand-in pad is put back

    tokens = explainer.tokenize(LM_TEXT)
    start = explainer.adapter.token_id(explainer.adapter.default_baseline_token)
    starts = baseline_ids(tokens, start)
    # Captum's reference: a copy that pools the last position of a batch because its pad id
    # is one that neither the text nor the baseline holds (the model's own rule, batched)
    reference_model = copy.deepcopy(model)
    unused = next(
        i for i in range(len(tok.get_vocab())) if i not in {*tokens.ids, *starts.tolist()}
    )
    reference_model.config.pad_token_id = unused
    reference = captum_scores(
        lambda batch: reference_model(input_ids=batch).logits.softmax(-1),
        reference_model.get_input_embeddings(), torch.tensor(tokens.ids), starts, num_labels,
        16, "gausslegendre",
    )  # fmt: skip
    assert np.abs(exp.scores).max() > 1e-4
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)
    with torch.no_grad():
        own = model(input_ids=torch.tensor([tokens.ids])).logits.softmax(-1)[0].double().numpy()
    np.testing.assert_allclose(exp.f_input, own, atol=1e-6)


# --- encoder-decoder classifiers: refused -------------------------------------------------


def _encoder_decoder(kind: str, num_labels: int) -> Any:
    transformers = import_transformers()
    tok = lm_tokenizer()
    sizes = dict(
        vocab_size=len(tok.get_vocab()), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
        decoder_ffn_dim=16, max_position_embeddings=64, num_labels=num_labels,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    if kind == "bart":
        model = transformers.BartForSequenceClassification(transformers.BartConfig(**sizes))
    else:
        model = transformers.MBartForSequenceClassification(transformers.MBartConfig(**sizes))
    return model.eval(), tok


@pytest.mark.parametrize(("kind", "num_labels"), [("bart", 2), ("bart", 3), ("mbart", 2)])
def test_encoder_decoder_classifiers_are_refused_naming_what_works(
    kind: str, num_labels: int
) -> None:
    model, tok = _encoder_decoder(kind, num_labels)
    with pytest.raises(TypeError, match="encoder-decoder classifier") as info:
        igw.Explainer(model, tokenizer=tok)
    assert type(model).__name__ in str(info.value)
    assert "encoder classifier (BERT" in str(info.value)  # what to use instead


# --- quantized, TorchScript and meta-device models: refused up front ----------------------


def _word_models(seed: int) -> list[nn.Module]:
    vocab = len(WordTokenizer().vocab)
    torch.manual_seed(seed)
    return [MeanLinear(vocab).eval(), RNNClassifier(vocab, cell="gru").eval()]


def _plain(model: nn.Module) -> Any:
    return igw.Explainer(model, tokenizer=WordTokenizer(), embedding="emb", classes=["n", "p"])


@pytest.mark.parametrize("seed", [0, 1])
def test_quantized_models_are_refused(seed: int) -> None:
    for model in _word_models(seed):
        quantized = torch.ao.quantization.quantize_dynamic(
            model, {nn.Linear, nn.GRU}, dtype=torch.qint8
        )
        with pytest.raises(TypeError, match="quantized modules") as info:
            _plain(quantized)
        assert "Explain the float model" in str(info.value)
        _plain(model).explain(TEXT, n_steps=4)  # the float model itself is explained


@pytest.mark.parametrize("compile_", ["script", "trace"])
def test_torchscript_modules_are_refused(compile_: str) -> None:
    for model in _word_models(2):
        ids = torch.tensor([WordTokenizer().encode(TEXT)[0]])
        compiled = torch.jit.script(model) if compile_ == "script" else torch.jit.trace(model, ids)
        with pytest.raises(TypeError, match="TorchScript module") as info:
            _plain(compiled)
        assert "Pass the Python module" in str(info.value)


def test_meta_device_models_are_refused() -> None:
    with torch.device("meta"):
        models = _word_models(3)
    for model in models:
        with pytest.raises(ValueError, match="meta device") as info:
            _plain(model)
        assert "Load the weights first" in str(info.value)
    transformers = import_transformers()
    bert, tok = tiny_bert()
    with torch.device("meta"):
        on_meta = transformers.BertForSequenceClassification(bert.config)
    with pytest.raises(ValueError, match="meta device"):
        igw.Explainer(on_meta, tokenizer=tok)


# --- EmbeddingBag with forward(text, offs) ------------------------------------------------


class _Bag(nn.Module):
    """``EmbeddingBag(text, offsets)`` → MLP; the subclasses name the offsets differently."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.EmbeddingBag(len(WordTokenizer().vocab), 8, mode="mean")
        self.fc = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))

    def bags(self, text: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(text, offsets))


class BagOffs(_Bag):
    def forward(self, text: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        return self.bags(text, offs)


class BagOff(_Bag):
    def forward(self, text: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
        return self.bags(text, off)


class BagTextOffsets(_Bag):
    def forward(self, text: torch.Tensor, text_offsets: torch.Tensor) -> torch.Tensor:
        return self.bags(text, text_offsets)


class BagBounds(_Bag):
    def forward(self, text: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
        return self.bags(text, bounds)


@pytest.mark.parametrize(("kind", "seed"), [(BagOffs, 0), (BagOff, 1), (BagTextOffsets, 2)])
def test_embedding_bag_with_short_offsets_names_is_exact(kind: type[_Bag], seed: int) -> None:
    model = kind(seed).eval()
    same = BagAsEmbedding(model, "mean").eval()
    explainer = igw.Explainer(
        model, tokenizer=WordTokenizer(), embedding="embedding", classes=["a", "b", "c"]
    )
    exp = explainer.explain(TEXT, n_steps=16)
    tok = explainer.tokenize(TEXT)
    reference = captum_scores(
        lambda ids: same(ids).softmax(-1), same.emb, torch.tensor(tok.ids),
        baseline_ids(tok, explainer.adapter.token_id("<unk>")), 3, 16, "gausslegendre",
    )  # fmt: skip
    assert np.abs(exp.scores).max() > 1e-4
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


def test_an_embedding_bag_forward_with_another_second_input_says_how() -> None:
    model = BagBounds(3).eval()
    explainer = igw.Explainer(
        model, tokenizer=WordTokenizer(), embedding="embedding", classes=["a", "b", "c"]
    )
    with pytest.raises(TypeError, match=r"nn\.EmbeddingBag") as info:
        explainer.explain(TEXT, n_steps=4)
    assert "name the forward's second parameter offsets" in str(info.value)
