"""Fold a model's tokens into the words of the original text, by character spans."""

from __future__ import annotations

import bisect
import re

from ig_widgets.engine.adapters.base import Tokenized
from ig_widgets.engine.explanation import Word

_WORD = re.compile(r"\S+")


def fold_words(tok: Tokenized) -> tuple[Word, ...]:
    """The word-level view of a tokenised text.

    Words are the whitespace-separated pieces of the original text, so two models with
    different tokenizers get the same word list for the same text (this is what aligns
    them in a comparison). Every token is folded into the word that holds the start of its
    span; a token with no span (a marker such as ``xxmaj`` or ``xxrep``) joins the word of
    the next token that has one. Kept special tokens (``xxbos``, ``[CLS]``, ``[SEP]``) become
    words of their own, marked ``special``, at their place in the sequence. A piece of text
    that no token covers (e.g. ``<br />`` removed by a tokenizer) is a word with no tokens.
    A word is ``oov`` when every non-special token in it is out of vocabulary.

    Returns
    -------
    tuple[Word, ...]
        The words in text order, kept special tokens at their sequence positions.
    """
    pieces = [(m.start(), m.end()) for m in _WORD.finditer(tok.text)]
    starts = [s for s, _ in pieces]
    members: list[list[int]] = [[] for _ in pieces]
    pending: list[int] = []
    specials: list[tuple[int, int]] = []  # (index among pieces before which it stands, token)
    for i, span in enumerate(tok.spans):
        if span is None:
            if tok.keep[i]:
                specials.append((_first_unfilled(members), i))
            else:
                pending.append(i)
            continue
        if not pieces:
            pending.append(i)
            continue
        piece = max(0, bisect.bisect_right(starts, span[0]) - 1)
        members[piece].extend(pending)
        members[piece].append(i)
        pending = []
    if pending and pieces:
        members[-1].extend(pending)
    elif pending:
        specials.extend((0, i) for i in pending)

    words: list[Word] = []
    special_iter = iter(sorted(specials))
    nxt = next(special_iter, None)
    for p, (start, end) in enumerate(pieces):
        while nxt is not None and nxt[0] <= p:
            words.append(_special_word(tok, nxt[1], start))
            nxt = next(special_iter, None)
        tokens = tuple(sorted(members[p]))
        words.append(Word(tok.text[start:end], start, end, tokens, oov=_unknown(tok, tokens)))
    while nxt is not None:
        words.append(_special_word(tok, nxt[1], len(tok.text)))
        nxt = next(special_iter, None)
    return tuple(words)


def _first_unfilled(members: list[list[int]]) -> int:
    """Index of the first text piece that has not received a token yet."""
    filled = [p for p, m in enumerate(members) if m]
    return filled[-1] + 1 if filled else 0


def _unknown(tok: Tokenized, tokens: tuple[int, ...]) -> bool:
    """Whether every non-special token of a word is out of the model's vocabulary."""
    real = [i for i in tokens if not tok.special[i]]
    return bool(real) and all(tok.oov[i] for i in real)


def _special_word(tok: Tokenized, index: int, at: int) -> Word:
    return Word(tok.tokens[index], at, at, (index,), special=True)
