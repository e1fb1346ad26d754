"""A small word-level tokenizer with exact character spans, used by the bundled CNN model."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

Span = tuple[int, int] | None

PAD, UNK, BOS = "<pad>", "<unk>", "<bos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS)

# One alternative per kind of match, tried in order at each position:
#   an HTML line break (IMDB reviews contain "<br />"), skipped like whitespace;
#   a word: letters/digits (any script), with inner apostrophes ("don't", "jackson's");
#   any other single visible character (punctuation, symbols, emoji).
_PATTERN = re.compile(
    r"(?P<br><br\s*/?>)"
    r"|(?P<word>[^\W_]+(?:['\u2019][^\W_]+)*)"
    r"|(?P<other>[^\s])",
    re.IGNORECASE,
)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into lower-cased tokens with their character spans.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    list[tuple[str, int, int]]
        ``(token, start, end)`` for each token, in order, with
        ``token == text[start:end].lower()``.
        HTML line breaks (``<br />``) and whitespace produce no token.
    """
    out = []
    for match in _PATTERN.finditer(text):
        if match.lastgroup == "br":
            continue
        start, end = match.span()
        out.append((text[start:end].lower(), start, end))
    return out


class WordTokenizer:
    """Lower-cased regex word tokenizer implementing the ``TextTokenizer`` protocol.

    Ids ``0, 1, 2`` are ``<pad>``, ``<unk>`` and ``<bos>``; every encoded text starts with
    ``<bos>`` (span ``None``); words outside the vocabulary map to ``<unk>`` but keep their span.

    Parameters
    ----------
    words : Sequence[str]
        The vocabulary after the special tokens, most frequent first.
    """

    def __init__(self, words: Sequence[str]) -> None:
        vocab = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self._vocab: tuple[str, ...] = tuple(vocab)
        self._index = {w: i for i, w in enumerate(self._vocab)}
        if len(self._index) != len(self._vocab):
            raise ValueError("The vocabulary contains duplicate tokens")

    @property
    def vocab(self) -> Sequence[str]:
        """Token strings, index = id (``vocab[0] == "<pad>"``)."""
        return self._vocab

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (0)."""
        return self._index[PAD]

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>`` (1)."""
        return self._index[UNK]

    @property
    def bos_id(self) -> int:
        """Id of ``<bos>`` (2)."""
        return self._index[BOS]

    def __len__(self) -> int:
        return len(self._vocab)

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={len(self._vocab)})"

    def encode(self, text: str) -> tuple[list[int], list[Span]]:
        """Token ids and character spans of ``text``.

        Parameters
        ----------
        text : str
            A non-empty text with at least one word or symbol.

        Returns
        -------
        ids : list[int]
            Shape ``(n_tokens,)``: ``<bos>`` then one id per token.
        spans : list[tuple[int, int] | None]
            Shape ``(n_tokens,)``: ``None`` for ``<bos>``, else ``[start, end)`` in ``text``.

        Raises
        ------
        TypeError
            If ``text`` is not a string.
        ValueError
            If ``text`` is empty or holds no token (only whitespace or ``<br />``).
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        pieces = split_words(text)
        if not pieces:
            raise ValueError("text is empty: it must contain at least one word or symbol")
        unk = self.unk_id
        ids = [self.bos_id] + [self._index.get(tok, unk) for tok, _, _ in pieces]
        spans: list[Span] = [None] + [(s, e) for _, s, e in pieces]
        return ids, spans

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int, min_freq: int = 2) -> WordTokenizer:
        """Build a vocabulary from ``texts``.

        Parameters
        ----------
        texts : Iterable[str]
            Training texts.
        max_size : int
            Largest vocabulary, special tokens included.
        min_freq : int
            Words seen fewer times are left out (they become ``<unk>``).

        Returns
        -------
        WordTokenizer
            Words ordered by decreasing count, ties broken alphabetically (deterministic).
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tok for tok, _, _ in split_words(text))
        kept = (w for w, c in counts.items() if c >= min_freq)
        ranked = sorted(kept, key=lambda w: (-counts[w], w))
        return cls(ranked[: max(0, max_size - len(SPECIALS))])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary (all tokens, index = id) as JSON."""
        Path(path).write_text(json.dumps(list(self._vocab), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        """Read a vocabulary written by :meth:`save`."""
        vocab = json.loads(Path(path).read_text(encoding="utf-8"))
        if list(vocab[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"{path}: the vocabulary must start with {SPECIALS}")
        return cls(vocab[len(SPECIALS) :])
