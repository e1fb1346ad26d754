"""Held-out perplexity of a causal language model, shared by the training script and the tests."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: ids ``(1, n)`` -> next-token logits ``(1, n, vocab)``; the model starts from a fresh state
LogitsFn = Callable[[torch.Tensor], torch.Tensor]

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def plain_text(text: str) -> str:
    """The text as the language models were trained on it: HTML breaks as spaces, spaces single.

    Parameters
    ----------
    text : str
        A sentence or review (imdb reviews hold ``<br />``).

    Returns
    -------
    str
        ``text`` with every ``<br />`` replaced by a space, runs of whitespace collapsed to one
        space and both ends stripped.
    """
    return _SPACE.sub(" ", _BREAK.sub(" ", text)).strip()


@dataclass(frozen=True)
class PerplexityResult:
    """Summed negative log-likelihood over a set of texts and what it was normalised by.

    Attributes
    ----------
    nll : float
        Sum over every predicted token of ``-log p(token | tokens before it)``, in nats.
    tokens : int
        Number of predicted tokens (each text's tokens after its start marker, plus its end
        marker).
    words : int
        Number of whitespace-separated words plus one end per text: the same count for any
        tokenizer, so per-word perplexities of different models can be compared.
    texts : int
        Number of texts.
    """

    nll: float
    tokens: int
    words: int
    texts: int

    @property
    def per_token(self) -> float:
        """``exp(nll / tokens)``: perplexity in the model's own tokens."""
        return math.exp(self.nll / self.tokens)

    @property
    def per_word(self) -> float:
        """``exp(nll / words)``: perplexity per word (comparable across tokenizers)."""
        return math.exp(self.nll / self.words)

    def to_dict(self) -> dict[str, float | int]:
        """Both perplexities and the counts, JSON-friendly."""
        return {
            "per_token": round(self.per_token, 3),
            "per_word": round(self.per_word, 3),
            "nll": round(self.nll, 3),
            "tokens": self.tokens,
            "words": self.words,
            "texts": self.texts,
        }


@torch.no_grad()
def sequence_nll(logits_fn: LogitsFn, ids: Sequence[int], window: int) -> float:
    """Summed next-token negative log-likelihood of one id sequence.

    The sequence is cut into windows of at most ``window`` ids that overlap by one id, so every
    id after the first is predicted exactly once, from the ids before it in its window.

    Parameters
    ----------
    logits_fn : callable
        Ids of shape ``(1, m)``, ``m <= window``, to logits of shape ``(1, m, vocab)``.
    ids : Sequence[int]
        Shape ``(n,)``, ``n >= 2``: a start marker, the text's tokens, an end marker.
    window : int
        Longest input of ``logits_fn`` (the model's context), at least 2.

    Returns
    -------
    float
        ``sum_{i >= 1} -log p(ids[i] | ids[start:i])`` in nats, over ``n - 1`` predictions.
    """
    if window < 2 or len(ids) < 2:
        raise ValueError(f"need window >= 2 and at least 2 ids, got {window} and {len(ids)}")
    total = 0.0
    for start in range(0, len(ids) - 1, window - 1):
        chunk = torch.tensor([list(ids[start : start + window])], dtype=torch.long)
        logits = logits_fn(chunk)[0, :-1].float()  # (m - 1, vocab)
        total += float(F.cross_entropy(logits, chunk[0, 1:], reduction="sum"))
    return total


def perplexity(
    logits_fn: LogitsFn,
    encode: Callable[[str], list[int]],
    texts: Iterable[str],
    window: int,
) -> PerplexityResult:
    """Perplexity of a language model on ``texts``, each scored on its own.

    Parameters
    ----------
    logits_fn : callable
        Ids ``(1, m)`` to logits ``(1, m, vocab)``, see :func:`sequence_nll`.
    encode : callable
        A text to its ids, shape ``(n,)``: start marker, tokens, end marker.
    texts : Iterable[str]
        Held-out texts, passed through :func:`plain_text` first.
    window : int
        The model's longest input.

    Returns
    -------
    PerplexityResult
        Summed NLL, token, word and text counts.
    """
    nll, tokens, words, count = 0.0, 0, 0, 0
    for raw in texts:
        text = plain_text(raw)
        ids = encode(text)
        nll += sequence_nll(logits_fn, ids, window)
        tokens += len(ids) - 1
        words += len(text.split()) + 1
        count += 1
    if not count:
        raise ValueError("no texts to score")
    return PerplexityResult(nll=nll, tokens=tokens, words=words, texts=count)
