"""Counterfactual probes: swap words (he ↔ she) and see how prediction and attribution move."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.corpus import explain_many, word_key
from ig_widgets.engine.explanation import Explanation, class_index

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.explainer import Explainer


@dataclass(frozen=True)
class Swap:
    """One word replaced in a text.

    Attributes
    ----------
    word, replacement : str
        The word as it stood and what replaced it (its case follows the word's).
    before, after : tuple[int, int]
        Character spans ``[start, end)`` of the word in the original text and of the
        replacement in the swapped text.
    """

    word: str
    replacement: str
    before: tuple[int, int]
    after: tuple[int, int]


def swap_table(swaps: Mapping[str, str], both_ways: bool = True) -> dict[str, str]:
    """The lower-cased word → replacement table (with the reverse pairs when ``both_ways``).

    Raises
    ------
    ValueError
        For an empty table, an empty or multi-word entry, or a word given two replacements.
    """
    if not isinstance(swaps, Mapping) or not swaps:
        raise ValueError("swaps must be a non-empty mapping of word -> replacement")
    table: dict[str, str] = {}
    pairs = list(swaps.items())
    if both_ways:
        pairs += [(b, a) for a, b in swaps.items()]
    for word, replacement in pairs:
        if not isinstance(word, str) or not isinstance(replacement, str):
            raise TypeError(f"swaps must map words to words, got {word!r}: {replacement!r}")
        key, value = word.strip().lower(), replacement.strip()
        if not key or not value or len(key.split()) > 1:
            raise ValueError(f"each swap is one word for one word, got {word!r}: {replacement!r}")
        if table.get(key, value).lower() != value.lower():
            raise ValueError(f"{word!r} is given two replacements: {table[key]!r} and {value!r}")
        table[key] = value
    return table


def swap_words(text: str, table: Mapping[str, str]) -> tuple[str, list[Swap]]:
    """Replace every whole-word, case-insensitive occurrence of the table's words at once.

    A replacement follows the case of the word it replaces (``He`` → ``She``, ``HE`` →
    ``SHE``), so that a swap changes the word, not its shape. All pairs are applied in one
    pass: ``he ↔ she`` turns "he and she" into "she and he".

    Returns
    -------
    tuple[str, list[Swap]]
        The swapped text and the swaps made (empty when no word matched).
    """
    if not table:
        return text, []
    pattern = re.compile(
        r"(?<!\w)("
        + "|".join(re.escape(w) for w in sorted(table, key=len, reverse=True))
        + r")(?!\w)",
        re.IGNORECASE,
    )
    pieces: list[str] = []
    swaps: list[Swap] = []
    cursor = shift = 0
    for match in pattern.finditer(text):
        word = match.group(0)
        new = _same_case(word, table[word.lower()])
        pieces += [text[cursor : match.start()], new]
        start = match.start() + shift
        swaps.append(Swap(word, new, (match.start(), match.end()), (start, start + len(new))))
        shift += len(new) - len(word)
        cursor = match.end()
    pieces.append(text[cursor:])
    return "".join(pieces), swaps


def _same_case(word: str, replacement: str) -> str:
    if word.isupper() and len(word) > 1:
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement.lower() if word.islower() else replacement


def span_attribution(exp: Explanation, target: int, spans: Iterable[tuple[int, int]]) -> float:
    """The summed attribution (class ``target``) of the words overlapping ``spans``."""
    words = exp.word_scores()[target]
    return float(sum(words[j] for j in overlapping(exp, spans)))


def word_share(exp: Explanation, target: int, chosen: Iterable[int]) -> float:
    """``Σ |attribution|`` of the words ``chosen`` (indices) over that of every real word.

    0 when no word has any attribution.
    """
    words = np.abs(exp.word_scores()[target])
    real = [j for j, w in enumerate(exp.words) if not w.special]
    total = float(words[real].sum())
    return float(words[list(set(chosen))].sum()) / total if total > 0 else 0.0


def words_matching(exp: Explanation, keys: Iterable[str]) -> list[int]:
    """Indices of the words whose :func:`word_key` is one of ``keys`` (lower-cased)."""
    wanted = {k.lower() for k in keys}
    return [j for j, w in enumerate(exp.words) if not w.special and word_key(w.text) in wanted]


def probe(
    explainer: Explainer,
    texts: Sequence[str],
    swaps: Mapping[str, str],
    *,
    ids: Sequence[Any] | None = None,
    target: int | str | None = None,
    both_ways: bool = True,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """How swapping words (``{"he": "she"}``) moves each text's prediction and attribution.

    Every text holding at least one of the words is explained as it is and with the words
    swapped (all pairs at once, case kept; see :func:`swap_words`), through
    :func:`ig_widgets.engine.corpus.explain_many` with ``options`` (``n_steps``,
    ``method``, ``baseline``, ``backend`` …). Texts without any of the words are left out.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    texts : sequence of str
        The texts to probe.
    swaps : mapping of str to str
        Word → replacement, matched as whole words, case-insensitively.
    ids : sequence, optional
        Ids for the rows (default: the texts' positions).
    target : int, str or None
        The class whose probability and attribution are followed; None follows each text's
        predicted class (before the swap).
    both_ways : bool
        Also swap each replacement back (``he ↔ she``), as the default.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per probed text: ``id``, ``text``, ``swapped``, ``swaps`` (e.g.
        ``"He→She, his→her"``), ``target``, ``p_before``/``p_after`` (probability of
        ``target``) and ``change``, ``predicted_before``/``predicted_after`` and
        ``flipped``, ``attribution_before``/``attribution_after`` (the summed attribution
        of the swapped words, then of their replacements, for ``target``) and
        ``share_before``/``share_after`` (their share of the text's ``Σ |attribution|``),
        and ``error`` (None when both texts were explained).
    """
    import pandas as pd

    table = swap_table(swaps, both_ways)
    names = list(explainer.classes)
    fixed = None if target is None else class_index(names, target)
    keys = list(range(len(texts))) if ids is None else list(ids)
    if len(keys) != len(texts):
        raise ValueError(f"ids has {len(keys)} entries for {len(texts)} texts")
    cases = []
    for key, text in zip(keys, texts, strict=True):
        if not isinstance(text, str):
            continue
        swapped, made = swap_words(text, table)
        if made:
            cases.append((key, text, swapped, made))
    columns = [
        "id", "text", "swapped", "swaps", "target", "p_before", "p_after", "change",
        "predicted_before", "predicted_after", "flipped", "attribution_before",
        "attribution_after", "share_before", "share_after", "error",
    ]  # fmt: skip
    if not cases:
        return pd.DataFrame(columns=columns)
    corpus = explain_many(
        explainer,
        [c[1] for c in cases] + [c[2] for c in cases],
        progress=progress,
        **options,
    )
    errors = corpus.to_dataframe()["error"].tolist()
    rows = []
    for i, (key, text, swapped, made) in enumerate(cases):
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update(id=key, text=text, swapped=swapped)
        row["swaps"] = _swap_summary(made)
        failed = [e for e in (errors[i], errors[i + len(cases)]) if isinstance(e, str)]
        if failed:
            row["error"] = "; ".join(failed)
            rows.append(row)
            continue
        before, after = corpus[i], corpus[i + len(cases)]
        c = before.predicted if fixed is None else fixed
        spans_before = [s.before for s in made]
        spans_after = [s.after for s in made]
        row.update(
            target=names[c],
            p_before=float(before.probs[c]),
            p_after=float(after.probs[c]),
            change=float(after.probs[c] - before.probs[c]),
            predicted_before=before.predicted_class,
            predicted_after=after.predicted_class,
            flipped=before.predicted != after.predicted,
            attribution_before=span_attribution(before, c, spans_before),
            attribution_after=span_attribution(after, c, spans_after),
            share_before=word_share(before, c, overlapping(before, spans_before)),
            share_after=word_share(after, c, overlapping(after, spans_after)),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _swap_summary(made: Sequence[Swap]) -> str:
    """``"He→She, his→her ×3"``: each distinct swap once, in order, with its count."""
    counts: dict[str, int] = {}
    for s in made:
        key = f"{s.word}→{s.replacement}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(k if n == 1 else f"{k} ×{n}" for k, n in counts.items())


def overlapping(exp: Explanation, spans: Iterable[tuple[int, int]]) -> list[int]:
    """Indices of the (non-special) words overlapping any of the character ``spans``."""
    return [
        j
        for j, w in enumerate(exp.words)
        if not w.special and any(w.start < end and w.end > start for start, end in spans)
    ]
