"""A plain PyTorch text classifier bundled with what the generic engine adapter needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from torch import nn

Span = tuple[int, int] | None


@runtime_checkable
class TextTokenizer(Protocol):
    """What the generic adapter needs from a tokenizer.

    ``encode(text)`` returns the token ids, shape ``(n_tokens,)``, and for each token its
    character span ``[start, end)`` in ``text``, or ``None`` for a special token with no
    characters of its own (begin/end tokens, markers). ``vocab[i]`` is the string of id ``i``.
    A tokenizer may also have an ``unk_id`` attribute, the id that words outside its
    vocabulary map to: the engine then marks those tokens as unknown to the model.
    """

    @property
    def vocab(self) -> Sequence[str]:
        """Token strings, index = id."""
        ...

    def encode(self, text: str) -> tuple[list[int], list[Span]]:
        """Ids and character spans of ``text``."""
        ...


@dataclass(frozen=True)
class TorchTextClassifier:
    """A ``torch.nn.Module`` classifier with its tokenizer, embedding layer and class names.

    ``module(ids)`` with ids of shape ``(batch, n_tokens)`` returns logits
    ``(batch, n_classes)`` (or ``(batch, n_tokens, n_classes)``, one output per token);
    ``embedding`` is the ``nn.Embedding`` (or any module) whose output the engine integrates
    over; ``output`` is the head the engine applies: ``"probs"`` (softmax), ``"logits"``,
    ``"sigmoid"`` (multi-label) or ``"identity"`` (regression).
    """

    module: nn.Module
    tokenizer: TextTokenizer
    embedding: nn.Module
    classes: tuple[str, ...]
    name: str = "model"
    output: Literal["probs", "logits", "sigmoid", "identity"] = "probs"
    baseline_token: str | None = None
