"""Small hand-checkable text classifiers and tokenizers for engine tests (nothing downloaded).

Reusable from any test module: ``from support.toy_models import toy_bundle, WordTokenizer, ...``.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

import torch
from torch import nn

from ig_widgets.models.bundle import TorchTextClassifier

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
WORDS = (
    "the", "a", "movie", "film", "was", "is", "good", "great", "bad", "awful", "not", "very",
    "plot", "acting", "boring", "fun", "and", "but", ".", ",", "!",
)  # fmt: skip

_TOKEN = re.compile(r"\w+|[^\w\s]")


class WordTokenizer:
    """Lower-cased words and punctuation with exact character spans (a ``TextTokenizer``).

    ``<bos>`` (and ``<eos>`` when asked) surround the text with span ``None``; a word that
    is not in the vocabulary becomes ``<unk>`` with the word's span.
    """

    def __init__(self, words: tuple[str, ...] = WORDS, bos: bool = True, eos: bool = False):
        self.vocab = [*SPECIALS, *words]
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.bos, self.eos = bos, eos

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int] | None]]:
        ids: list[int] = [self.index["<bos>"]] if self.bos else []
        spans: list[tuple[int, int] | None] = [None] if self.bos else []
        for m in _TOKEN.finditer(text):
            ids.append(self.index.get(m.group().lower(), self.index["<unk>"]))
            spans.append((m.start(), m.end()))
        if self.eos:
            ids.append(self.index["<eos>"])
            spans.append(None)
        return ids, spans

    @property
    def unk_id(self) -> int:
        """The id unknown words map to (the engine marks them out of vocabulary)."""
        return self.index["<unk>"]

    def ids(self, text: str) -> list[int]:
        """Only the ids: the plain-callable form of this tokenizer."""
        return self.encode(text)[0]


class MeanLinear(nn.Module):
    """Embedding → mean over tokens → linear: ``logits = W · mean(e) + b`` (hand-checkable)."""

    def __init__(self, vocab_size: int, dim: int = 6, n_classes: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids).mean(dim=1))


class RNNClassifier(nn.Module):
    """Embedding → dropout → GRU or LSTM → mean over time → linear (smooth; eval matters)."""

    def __init__(
        self, vocab_size: int, cell: str = "gru", dim: int = 6, hidden: int = 8, n_classes: int = 2
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.drop = nn.Dropout(0.5)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.drop(self.emb(ids)))
        return self.head(out.mean(dim=1))


class TupleOutput(nn.Module):
    """Wraps a classifier so that forward returns ``(logits, extra)``."""

    def __init__(self, inner: nn.Module, logits_at: int = 0) -> None:
        super().__init__()
        self.inner = inner
        self.logits_at = logits_at

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.inner(ids)
        extra = torch.zeros(ids.shape[0], 5)
        return (logits, extra) if self.logits_at == 0 else (extra, logits)


class DictOutput(nn.Module):
    """Wraps a classifier so that forward returns ``{"hidden": ..., key: logits}``."""

    def __init__(self, inner: nn.Module, key: str = "logits") -> None:
        super().__init__()
        self.inner = inner
        self.key = key

    def forward(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"hidden": torch.zeros(ids.shape[0], 5), self.key: self.inner(ids)}


class NaNOutput(nn.Module):
    """Wraps a classifier so that its logits are NaN."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.inner(ids) * float("nan")


class TwiceEmbedded(nn.Module):
    """Calls its embedding twice per forward (the generic adapter must refuse it)."""

    def __init__(self, vocab_size: int, dim: int = 6, n_classes: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids).mean(1) + self.emb(ids).max(1).values)


def make_module(kind: str, vocab_size: int, n_classes: int = 2, seed: int = 0) -> nn.Module:
    """A seeded toy classifier: ``"mean"``, ``"gru"`` or ``"lstm"``, in eval mode."""
    torch.manual_seed(seed)
    if kind == "mean":
        module: nn.Module = MeanLinear(vocab_size, n_classes=n_classes)
    elif kind in ("gru", "lstm"):
        module = RNNClassifier(vocab_size, cell=kind, n_classes=n_classes)
    else:
        raise ValueError(f"unknown toy model kind {kind!r}")
    return module.eval()


def toy_bundle(
    kind: str = "mean", n_classes: int = 2, seed: int = 0, output: str = "probs", **kw: Any
) -> TorchTextClassifier:
    """A :class:`TorchTextClassifier` around a toy model and a :class:`WordTokenizer`.

    Classes are ``negative``/``positive`` for two classes, else ``c0``, ``c1``, ...
    """
    tok = WordTokenizer(**kw)
    module = make_module(kind, len(tok.vocab), n_classes, seed)
    classes = (
        ("negative", "positive") if n_classes == 2 else tuple(f"c{i}" for i in range(n_classes))
    )
    return TorchTextClassifier(
        module,
        tok,
        module.emb,
        classes,
        name=f"toy-{kind}",
        output=output,  # type: ignore[arg-type]
    )


# --- a tiny Hugging Face BERT, built offline -------------------------------------------------

BERT_WORDS = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "movie", "film", "was", "is",
    "good", "great", "bad", "awful", "not", "very", "plot", "act", "##ing", "##ly", "##s", "fun",
    "bor", "and", "but", ".", ",", "!", "'", "t", "don",
)  # fmt: skip


def import_transformers() -> Any:
    """Import transformers, hiding the broken torchvision of this venv from it.

    torchvision 0.28 (pulled in by fastai) cannot load beside the CPU torch 2.13; transformers
    imports it whenever it is installed, which breaks every model class. Marking it absent
    in ``sys.modules`` makes transformers skip its vision code.
    """
    if "torchvision" not in sys.modules:
        sys.modules["torchvision"] = None  # type: ignore[assignment]
    return importlib.import_module("transformers")


def tiny_bert_tokenizer(max_length: int = 64) -> Any:
    """A fast WordPiece tokenizer over :data:`BERT_WORDS`, lower-casing, ``[CLS] … [SEP]``."""
    transformers = import_transformers()
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(BERT_WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def tiny_bert(num_labels: int = 3, seed: int = 0, max_length: int = 64) -> tuple[Any, Any]:
    """A randomly initialised 1-layer ``BertForSequenceClassification`` and its tokenizer.

    Hidden size 16, 2 heads; ``initializer_range=0.3`` so that predictions are not all
    uniform. Labels ``neg``/``neu``/``pos`` for three classes. Returned in eval mode.
    """
    transformers = import_transformers()
    names = ("neg", "neu", "pos") if num_labels == 3 else tuple(f"L{i}" for i in range(num_labels))
    config = transformers.BertConfig(
        vocab_size=len(BERT_WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_length,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config).eval()
    return model, tiny_bert_tokenizer(max_length)


# --- a reference to compare the engine with ---------------------------------------------------


def captum_scores(
    forward: Any,
    layer: nn.Module,
    ids: torch.Tensor,
    baseline_ids: torch.Tensor,
    n_classes: int,
    n_steps: int,
    method: str,
) -> Any:
    """Captum ``LayerIntegratedGradients`` on ``layer`` for every class, summed over dims.

    Parameters
    ----------
    forward : callable
        ``ids (batch, n) -> F (batch, n_classes)``, the same ``F`` as the engine's.
    ids, baseline_ids : torch.Tensor
        ``(n,)`` each.

    Returns
    -------
    numpy.ndarray
        ``(n_classes, n)``, float64.
    """
    from captum.attr import LayerIntegratedGradients

    lig = LayerIntegratedGradients(forward, layer)
    rows = [
        lig.attribute(
            ids[None], baselines=baseline_ids[None], target=c, n_steps=n_steps, method=method
        ).sum(-1)[0]
        for c in range(n_classes)
    ]
    return torch.stack(rows).detach().double().numpy()


def baseline_ids(tok: Any, token_id: int) -> torch.Tensor:
    """The ids of a token baseline: ``token_id`` everywhere the tokenisation does not keep."""
    return torch.tensor([i if k else token_id for i, k in zip(tok.ids, tok.keep, strict=True)])


def tiny_roberta(seed: int = 0) -> tuple[Any, Any]:
    """A random 1-layer ``RobertaForSequenceClassification`` and a byte-level BPE tokenizer.

    ``<s> … </s>``, ``Ġ`` pieces and a few merges; two classes; at most 64 tokens.
    """
    transformers = import_transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    merges = [("Ġ", "g"), ("o", "o"), ("Ġg", "oo"), ("Ġgoo", "d"), ("f", "i"), ("fi", "l")]
    merges += [("fil", "m"), ("Ġ", "film")]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", *alphabet])}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=64,
    )
    config = transformers.RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,  # RoBERTa's positions start after the padding index
        num_labels=2,
        pad_token_id=1,
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    return transformers.RobertaForSequenceClassification(config).eval(), tokenizer
