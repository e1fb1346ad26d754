"""Which log-probabilities of a causal LM make up ``F``: next tokens, continuations, labels."""

from __future__ import annotations

import collections
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Readout:
    """Which log-probabilities of a causal LM make up ``F``, and how.

    The model runs on the prompt followed by one suffix per group (all of one length
    ``M``; a causal model's first positions do not see what follows them, so padding a
    suffix changes nothing before it). An *atom* is ``log p(token | prompt + suffix[:j])``,
    read at position ``n − 1 + j`` of its group. A class's score is the sum of its atoms.

    Attributes
    ----------
    classes : tuple[str, ...]
        The class names, ``(n_classes,)``.
    suffixes : tuple[tuple[int, ...], ...]
        ``(n_groups, M)`` token ids put after the prompt; one empty group when ``M = 0``.
    atoms : tuple[tuple[int, int, int], ...]
        ``(n_atoms,)`` triples ``(group, j, token id)``.
    sums : tuple[tuple[int, ...], ...]
        ``(n_classes, n_atoms)`` zeros and ones: which atoms a class's score adds up.
    normalise : bool
        True for a classifier: ``F`` is the head over the classes' scores (softmax for
        ``probs``, the scores for ``logits``, log-softmax for ``logprob``). False: each
        score is a log-probability already (``F`` is its exp for ``probs``).
    target_tokens : tuple[str, ...]
        For a continuation, its tokens (the first ``len(target_tokens)`` classes).
    target_ids : tuple[int, ...]
        The ids of the classes that are tokens (candidates, or a continuation's tokens).
    """

    classes: tuple[str, ...]
    suffixes: tuple[tuple[int, ...], ...]
    atoms: tuple[tuple[int, int, int], ...]
    sums: tuple[tuple[int, ...], ...]
    normalise: bool = False
    target_tokens: tuple[str, ...] = ()
    target_ids: tuple[int, ...] = ()

    @property
    def suffix_length(self) -> int:
        """``M``, the number of tokens put after the prompt."""
        return len(self.suffixes[0])

    @property
    def key(self) -> Hashable:
        """What ``F`` depends on (for cache keys): everything but the names."""
        return (self.suffixes, self.atoms, self.sums, self.normalise)


def next_token_readout(ids: Sequence[int], names: Sequence[str]) -> Readout:
    """``F`` of each candidate next token ``ids`` (``(n_classes,)``), named ``names``."""
    eye = np.eye(len(ids), dtype=int)
    return Readout(
        classes=tuple(names),
        suffixes=((),),
        atoms=tuple((0, 0, int(t)) for t in ids),
        sums=tuple(tuple(int(v) for v in row) for row in eye),
        target_ids=tuple(int(t) for t in ids),
    )


def continuation_readout(ids: Sequence[int], names: Sequence[str], whole: str) -> Readout:
    """Each token of a continuation given the prompt and the tokens before it, and the whole.

    Classes are ``names`` (one per token of ``ids``) then ``whole``: the continuation's
    log-probability, the sum of its tokens'. One forward serves all (teacher forcing).
    """
    m = len(ids)
    rows = [tuple(int(i == k) for k in range(m)) for i in range(m)]
    return Readout(
        classes=(*names, whole),
        suffixes=(tuple(int(t) for t in ids[:-1]),),
        atoms=tuple((0, j, int(t)) for j, t in enumerate(ids)),
        sums=(*rows, (1,) * m),
        target_tokens=tuple(names),
        target_ids=tuple(int(t) for t in ids),
    )


def label_readout(words: Sequence[Sequence[int]], names: Sequence[str], pad: int) -> Readout:
    """A classifier over label words: each label's score is its word's log-probability.

    A label word of several tokens is scored by all of them, teacher-forced
    (``log p(w₁) + log p(w₂ | w₁) + …``), so no label is favoured for its first piece; each
    such word runs as its own group, its suffix padded with ``pad`` to the longest.
    """
    longest = max(len(w) for w in words)
    groups: list[tuple[int, ...]] = []
    atoms: list[tuple[int, int, int]] = []
    sums: list[tuple[int, ...]] = []
    for word in words:
        group = 0
        if longest > 1 and len(word) > 1:
            groups.append(tuple(word[:-1]) + (pad,) * (longest - len(word)))
            group = len(groups) - 1
        first = len(atoms)
        atoms.extend((group, j, int(t)) for j, t in enumerate(word))
        sums.append(tuple(range(first, len(atoms))))  # the atom indices, made 0/1 below
    if not groups:
        groups.append((pad,) * (longest - 1))
    matrix = tuple(tuple(int(a in row) for a in range(len(atoms))) for row in sums)
    return Readout(tuple(names), tuple(groups), tuple(atoms), matrix, normalise=True)


def unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` with repeats told apart: the second ``" great"`` becomes ``" great (2)"``."""
    seen: collections.Counter[str] = collections.Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(out)


def label_words(
    labels: Mapping[str, str] | Sequence[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Class names and label words from ``{name: word}`` or a list of words."""
    if isinstance(labels, Mapping):
        names, words = tuple(str(k) for k in labels), tuple(labels.values())
    elif isinstance(labels, str) or not isinstance(labels, Sequence):
        raise TypeError("labels= is a {name: word} dict or a list of words, e.g. [' yes', ' no']")
    else:
        words = tuple(labels)
        names = tuple(str(w).strip() or str(w) for w in words)
    for w in words:
        if not isinstance(w, str):
            raise TypeError(f"A label word is a str, got {type(w).__name__}")
    if len(set(names)) != len(names):
        raise ValueError(f"Label names must be distinct, got {names}")
    return names, words


def slot_span(
    span: tuple[int, int] | None, slot: tuple[int, int], full: str
) -> tuple[bool, tuple[int, int] | None]:
    """Whether a token belongs to the text slot ``[start, end)`` of ``full``, and its span there.

    A token that overlaps the slot belongs to the text; its span is clipped to the slot,
    made relative to it and stripped of leading blanks (a byte-level ``Ġgreat`` starts at
    ``g``); one made only of blanks gets None (it joins the next word). A token without a
    span (the tokenizer's own) is not in the slot.
    """
    if span is None:
        return False, None
    start, end = max(span[0], slot[0]), min(span[1], slot[1])
    if start >= end:
        return False, None
    while start < end and full[start].isspace():
        start += 1
    return True, (None if start == end else (start - slot[0], end - slot[0]))
