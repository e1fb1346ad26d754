"""Models that do not fit the simple adapter contract: extra inputs, bags, odd outputs, taggers.

Reusable from any test module: ``from support.any_models import SecondInput, train_tagger, ...``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from captum.testing.helpers.basic_models import TextModule
from torch import nn

from support.toy_models import WordTokenizer, import_transformers, tiny_bert_tokenizer

VOCAB = len(WordTokenizer().vocab)


class SecondInput(nn.Module):
    """Captum's ``TextModule`` called as ``embedding(ids, input3)``: the output needs input3."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = TextModule(VOCAB, 8, second_embedding=True)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor, input3: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(ids, input3))
        return self.head(out.mean(1))


class MaskedFeatures(nn.Module):
    """Masked mean pooling plus a dense feature vector: ``forward(ids, mask, features)``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(VOCAB, 8)
        self.mix = nn.Linear(8 + 4, 16)
        self.head = nn.Linear(16, 3)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        e = torch.tanh(self.emb(ids)) * mask.unsqueeze(-1)
        pooled = e.sum(1) / mask.sum(1, keepdim=True)
        return self.head(torch.tanh(self.mix(torch.cat([pooled, features], -1))))


class Named(NamedTuple):
    """A NamedTuple output whose logits are not the first field."""

    hidden: torch.Tensor
    logits: torch.Tensor


@dataclass
class Boxed:
    """A dataclass output with ``.logits``."""

    logits: torch.Tensor
    extra: torch.Tensor


class GRUBody(nn.Module):
    """Embedding → GRU → per-position outputs ``(batch, n, n_out)``; ``pack`` chooses the box."""

    def __init__(self, n_out: int = 3, seed: int = 0, pack: str = "tensor") -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(VOCAB, 8)
        self.rnn = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12, n_out)
        self.pack = pack

    def positions(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)

    def forward(self, ids: torch.Tensor) -> Any:
        per = self.positions(ids)
        logits = per.mean(1)
        if self.pack == "named":
            return Named(per.sum(-1), logits)
        if self.pack == "dataclass":
            return Boxed(logits, per)
        if self.pack == "positions":
            return per
        return logits


class HFStyle(nn.Module):
    """A plain model called like a transformer: ``forward(input_ids, attention_mask=None)``."""

    def __init__(self, vocab_size: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        out, _ = self.rnn(self.emb(input_ids))
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        pooled = (out * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return {"logits": self.head(pooled)}


class BagClassifier(nn.Module):
    """TorchText's news classifier: ``EmbeddingBag(text, offsets)`` → MLP."""

    def __init__(self, mode: str = "mean", seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.EmbeddingBag(VOCAB, 8, mode=mode)
        self.fc = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))

    def forward(self, text: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(text, offsets))


class Bag2D(nn.Module):
    """An ``EmbeddingBag`` on ``(batch, n)`` ids with per-token weights (mode ``sum``)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.EmbeddingBag(VOCAB, 8, mode="sum")
        self.fc = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        weights = torch.linspace(0.5, 1.5, ids.shape[1]).expand_as(ids).reshape(-1)
        bags = self.embedding(ids.reshape(-1), torch.arange(len(ids)) * ids.shape[1], weights)
        return self.fc(bags)


class BagAsEmbedding(nn.Module):
    """The same function as a bag model, through an ``nn.Embedding`` (Captum's reference)."""

    def __init__(self, bag: nn.Module, reduce: str) -> None:
        super().__init__()
        self.emb = nn.Embedding.from_pretrained(bag.embedding.weight.detach().clone())
        self.fc = bag.fc
        self.reduce = reduce

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids)
        if self.reduce == "mean":
            return self.fc(e.mean(1))
        weights = torch.linspace(0.5, 1.5, ids.shape[1]).view(1, -1, 1)
        return self.fc((e * weights).sum(1))


class Stateful(nn.Module):
    """Answers differently on every call: F at the input is never the model's own forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(VOCAB, 4)
        self.head = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.emb(ids).mean(1)) + self.calls


# --- a tagger trained on a synthetic task -------------------------------------------------

TAGS = ("O", "POS", "NEG")
_POSITIVE = ("good", "great", "fun")
_NEGATIVE = ("bad", "awful", "boring")
_FILLER = ("the", "a", "movie", "film", "was", "is", "plot", "acting", "and", "very", ".")


def tag_of(words: list[str], k: int) -> int:
    """The synthetic task: a sentiment word is POS/NEG, flipped after "not"; the rest is O."""
    word = words[k]
    if word not in _POSITIVE + _NEGATIVE:
        return 0
    positive = (word in _POSITIVE) != (k > 0 and words[k - 1] == "not")
    return 1 if positive else 2


def _sentence(rng: random.Random) -> list[str]:
    words = [rng.choice(_FILLER) for _ in range(rng.randint(3, 8))]
    for _ in range(rng.randint(1, 2)):
        at = rng.randrange(len(words) + 1)
        piece = [rng.choice(_POSITIVE + _NEGATIVE)]
        if rng.random() < 0.5:
            piece.insert(0, "not")
        words[at:at] = piece
    return words


class Tagger(nn.Module):
    """Embedding → bidirectional GRU → a label per token ``(batch, n, 3)``."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 12)
        self.rnn = nn.GRU(12, 16, batch_first=True, bidirectional=True)
        self.head = nn.Linear(32, len(TAGS))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)


def train_tagger(steps: int = 300, seed: int = 0) -> tuple[Tagger, WordTokenizer, float]:
    """Train :class:`Tagger` on the synthetic task; returns it, its tokenizer and accuracy.

    Sentences of one length per batch (no padding); ``<bos>`` first, tagged ``O``.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = WordTokenizer()
    model = Tagger()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)

    def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        length = rng.randint(5, 10)
        rows, tags = [], []
        while len(rows) < size:
            words = _sentence(rng)
            if len(words) != length:
                continue
            rows.append(tok.encode(" ".join(words))[0])
            tags.append([0] + [tag_of(words, k) for k in range(len(words))])
        return torch.tensor(rows), torch.tensor(tags)

    for _ in range(steps):
        ids, tags = batch(32)
        loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), tags.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ids, tags = batch(256)
        accuracy = float((model(ids).argmax(-1) == tags).float().mean())
    return model, tok, accuracy


def tiny_bert_tagger(num_labels: int = 3, seed: int = 0) -> tuple[Any, Any]:
    """A random 1-layer ``BertForTokenClassification`` and the tiny WordPiece tokenizer."""
    transformers = import_transformers()
    names = ("O", "B-X", "I-X")[:num_labels]
    tokenizer = tiny_bert_tokenizer()
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    return transformers.BertForTokenClassification(config).eval(), tokenizer
