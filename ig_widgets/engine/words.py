"""Fold a model's tokens into the words of the original text, and align models on those words."""

from __future__ import annotations

import bisect
import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ig_widgets.engine.adapters.base import Tokenized
from ig_widgets.engine.explanation import ClassAttribution, Explanation, Word

_WORD = re.compile(r"\S+")
#: quotes, dashes and ellipses stripped from a word's ends besides ASCII punctuation
_PUNCTUATION = string.punctuation + "“”‘’«»…–—"
#: HTML tag fragments left in whitespace-separated words (``<br />`` in IMDB reviews)
_TAG = re.compile(r"<[^>\s]*>?|^[^<\s]*/?>")


def word_key(text: str) -> str:
    """How :meth:`CorpusExplanation.word_importance` groups words.

    Lower-cased, HTML tag fragments (``<br``, ``/>``) removed and the punctuation around the
    word stripped; punctuation inside a word stays (``don't``, ``well-made``). ``""`` for a
    word made only of punctuation.
    """
    return _TAG.sub("", text).strip(_PUNCTUATION + string.whitespace).lower()


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


@dataclass(frozen=True)
class Alignment:
    """Every model's attributions for one class on the shared word list.

    Attributes
    ----------
    words : tuple[Word, ...]
        The text's words (whitespace pieces, identical for every tokenizer), ``(n_words,)``;
        the models' special tokens are left out (every baseline keeps them, so their
        attribution is zero).
    scores : np.ndarray
        Raw attributions, ``(n_models, n_words)``.
    attributions : tuple[ClassAttribution, ...]
        Each model's attributions for the class, with its completeness check.
    """

    words: tuple[Word, ...]
    scores: np.ndarray
    attributions: tuple[ClassAttribution, ...]


def align(explanations: Sequence[Explanation], target: str) -> Alignment:
    """Put several models' explanations of one text on one word list.

    Parameters
    ----------
    explanations : sequence of Explanation
        One per model, all of the same text.
    target : str
        The class (by name) every row explains.

    Raises
    ------
    ValueError
        When the explanations are of different texts or their words do not line up.
    """
    if not explanations:
        raise ValueError("align needs at least one explanation")
    texts = {exp.text for exp in explanations}
    if len(texts) != 1:
        raise ValueError("the explanations are of different texts; they cannot be aligned")
    keyed = []
    for exp in explanations:
        keep = [i for i, w in enumerate(exp.words) if not w.special]
        spans = tuple((exp.words[i].start, exp.words[i].end) for i in keep)
        keyed.append((keep, spans))
    reference = keyed[0][1]
    for exp, (_, spans) in zip(explanations, keyed, strict=True):
        if spans != reference:
            raise ValueError(
                f"The words of {exp.model_name!r} do not line up with those of "
                f"{explanations[0].model_name!r}: {len(spans)} against {len(reference)} words"
            )
    attrs = tuple(exp.for_class(target) for exp in explanations)
    scores = np.stack(
        [attr.word_scores[keep] for attr, (keep, _) in zip(attrs, keyed, strict=True)]
    )
    words = tuple(explanations[0].words[i] for i in keyed[0][0])
    return Alignment(words, scores, attrs)


def attribution_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two word-aligned attribution vectors point: ``1 − cosine(a, b)``.

    Parameters
    ----------
    a, b : np.ndarray
        Attributions of the same words for the same class, ``(n_words,)`` each.

    Returns
    -------
    float
        In ``[0, 2]``: 0 when both runs weigh the words in the same proportions (whatever
        their scales), 1 when the two are unrelated (orthogonal), 2 when every word pushes the
        other way. Two all-zero vectors are 0 apart; one all-zero vector is 1 from any other.
        ``nan`` for a text with no words.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the vectors must have one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return math.nan
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 0.0
    if na == 0.0 or nb == 0.0:
        return 1.0
    cosine = float(np.dot(a, b)) / (na * nb)
    return 1.0 - min(1.0, max(-1.0, cosine))
