"""Find the character span of each token string in a text, for tokenizers that give no offsets."""

from __future__ import annotations

import re
from collections.abc import Sequence

Span = tuple[int, int] | None

#: prefixes subword tokenizers put on pieces (WordPiece ``##``, SentencePiece ``▁``, GPT-2 ``Ġ``)
SUBWORD_MARKERS = ("##", "▁", "Ġ", "Ċ")

_SPECIAL = re.compile(r"^(<[^<>\s]+>|\[[^\[\]\s]+\])$")


def looks_special(token: str) -> bool:
    """Whether ``token`` looks like a special token: ``<unk>``, ``<bos>``, ``[CLS]``, ``[PAD]``."""
    return bool(_SPECIAL.match(token))


def token_text(token: str) -> str:
    """The characters a token stands for: ``token`` without a subword marker prefix."""
    for marker in SUBWORD_MARKERS:
        if token.startswith(marker):
            return token[len(marker) :]
    return token


def align_spans(text: str, tokens: Sequence[str]) -> list[Span]:
    """Best-effort character spans of ``tokens`` in ``text``, scanning left to right.

    Each token (its subword marker removed) is looked up case-insensitively from the end of
    the previous match, at the first place that starts a word or continues the previous
    token directly; a token that looks special (``<unk>``, ``[CLS]``) only matches when its
    literal text comes next. A token that is not found gets ``None`` and does not move the
    scan, so tokens that a tokenizer normalised (``n't`` → ``not``) or replaced (unknown
    words) are simply left without a span.

    Parameters
    ----------
    text : str
        The original text.
    tokens : Sequence[str]
        Token strings in model order, ``(n_tokens,)``.

    Returns
    -------
    list[tuple[int, int] | None]
        ``[start, end)`` of each token in ``text``, or ``None``; ``(n_tokens,)``.
    """
    folded = text.lower()
    case_blind = len(folded) == len(text)
    haystack = folded if case_blind else text
    cursor = 0
    spans: list[Span] = []
    for token in tokens:
        if looks_special(token):
            pos = _skip_space(text, cursor)
            found = text.startswith(token, pos)
            spans.append((pos, pos + len(token)) if found else None)
            cursor = pos + len(token) if found else cursor
            continue
        piece = token_text(token)
        needle = piece.lower() if case_blind else piece
        pos = _find_at_boundary(haystack, needle, cursor) if needle.strip() else -1
        if pos < 0:
            spans.append(None)
            continue
        spans.append((pos, pos + len(piece)))
        cursor = pos + len(piece)
    return spans


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _find_at_boundary(haystack: str, needle: str, cursor: int) -> int:
    """First index ≥ cursor where ``needle`` starts a word or directly continues at ``cursor``."""
    pos = haystack.find(needle, cursor)
    while pos >= 0:
        if pos == cursor or pos == 0 or not haystack[pos - 1].isalnum() or not needle[0].isalnum():
            return pos
        pos = haystack.find(needle, pos + 1)
    return -1
