"""Assertions for your own model tests (pytest or plain asserts): stability, attribution, drift."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.corpus import compare_corpora, explain_many
from ig_widgets.engine.explanation import class_index
from ig_widgets.engine.probes import probe, word_share, words_matching
from ig_widgets.engine.words import word_key

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation
    from ig_widgets.engine.explainer import Explainer

__all__ = ["assert_attribution_below", "assert_explanations_stable", "assert_prediction_stable"]

#: how many offending texts a failure message lists
SHOWN = 10


def assert_prediction_stable(
    explainer: Explainer,
    texts: Sequence[str],
    swaps: Mapping[str, str],
    tol: float = 0.05,
    *,
    target: int | str | None = None,
    allow_flips: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Fail when swapping words moves a prediction by more than ``tol``.

    Each text holding one of the words is compared with its swapped twin (see
    :func:`ig_widgets.probe`; both ways by default: ``he ↔ she``). The test fails when the
    probability of ``target`` (default: each text's predicted class) moves by more than
    ``tol``, when the predicted class flips (unless ``allow_flips``), when a text cannot be
    explained, or when no text holds any of the words (nothing would be tested).

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    texts : sequence of str
        Texts to probe.
    swaps : mapping of str to str
        Word → replacement (``{"he": "she", "his": "her"}``).
    tol : float
        The largest allowed change of the probability.
    target : int, str or None
        The class whose probability is compared.
    allow_flips : bool
        Accept a changed prediction when the probability moved less than ``tol``.
    **options
        For :meth:`Explainer.explain_many` (``n_steps``, ``baseline`` …).

    Returns
    -------
    pandas.DataFrame
        The probe's table (see :func:`ig_widgets.probe`), when the assertion holds.

    Raises
    ------
    AssertionError
        Listing the offending texts with their probabilities before and after.
    """
    if not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    table = probe(explainer, texts, swaps, target=target, **options)
    pairs = ", ".join(f"{a}→{b}" for a, b in swaps.items())
    if table.empty:
        raise AssertionError(f"no text holds any of the swapped words ({pairs}): nothing tested")
    failed = table["error"].notna()
    moved = table["change"].abs() > tol
    flipped = table["flipped"].fillna(False).astype(bool) & (not allow_flips)
    bad = table[failed | moved | flipped]
    if bad.empty:
        return table
    lines = [
        f"the prediction is not stable when swapping {pairs} (tol {tol}): "
        f"{len(bad)} of {len(table)} texts"
    ]
    for _, row in bad.head(SHOWN).iterrows():
        head = f"  [{row['id']}] {_short(row['text'])!r}"
        if isinstance(row["error"], str):
            lines.append(f"{head}: could not be explained: {row['error']}")
            continue
        flip = (
            f", prediction {row['predicted_before']} → {row['predicted_after']}"
            if row["flipped"]
            else ""
        )
        lines.append(
            f"{head} ({row['swaps']}): P({row['target']}) {row['p_before']:.3f} → "
            f"{row['p_after']:.3f} ({row['change']:+.3f}){flip}"
        )
    lines += _more(len(bad))
    raise AssertionError("\n".join(lines))


def assert_attribution_below(
    explainer: Explainer,
    texts: Sequence[str],
    words: Iterable[str],
    max_share: float,
    *,
    target: int | str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Fail when ``words`` carry more than ``max_share`` of a text's attribution.

    A word's share is its ``|attribution|`` over the sum of ``|attribution|`` of every
    word of the text, for ``target`` (default: the predicted class). Words are matched
    like :meth:`CorpusExplanation.word_importance` groups them: lower-cased, surrounding
    punctuation stripped (``"John,"`` matches ``"john"``). Texts without the words pass.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    texts : sequence of str
        Texts to explain.
    words : iterable of str
        The words that should matter little (names, pronouns, identity terms).
    max_share : float
        The largest allowed share, in ``[0, 1]``.
    target : int, str or None
        The class whose attributions are read.
    **options
        For :meth:`Explainer.explain_many`.

    Returns
    -------
    pandas.DataFrame
        Per text that holds the words: ``id``, ``text``, ``words`` and ``share``.

    Raises
    ------
    AssertionError
        Listing the offending texts with their shares.
    """
    import pandas as pd

    if not 0 <= max_share <= 1:
        raise ValueError(f"max_share must be in [0, 1], got {max_share!r}")
    keys = [w.lower() for w in words]
    if not keys:
        raise ValueError("words must name at least one word")
    fixed = None if target is None else class_index(explainer.classes, target)
    corpus = explain_many(explainer, texts, **{"progress": False, **options})
    errors = corpus.to_dataframe()["error"].tolist()
    rows: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        if isinstance(errors[i], str):
            rows.append({"id": i, "text": text, "words": "", "share": None, "error": errors[i]})
            continue
        exp = corpus[i]
        found = words_matching(exp, keys)
        if found:
            c = exp.predicted if fixed is None else fixed
            rows.append(
                {
                    "id": i,
                    "text": text,
                    "words": ", ".join(dict.fromkeys(exp.words[j].text for j in found)),
                    "share": word_share(exp, c, found),
                    "error": None,
                }
            )
    table = pd.DataFrame(rows, columns=["id", "text", "words", "share", "error"])
    bad = table[table["error"].notna() | (table["share"].astype(float) > max_share)]
    if bad.empty:
        return table
    lines = [
        f"{', '.join(keys)} {'carries' if len(keys) == 1 else 'carry'} more than "
        f"{max_share:.0%} of the attribution in "
        f"{len(bad)} of {len(table)} texts holding them"
    ]
    for _, row in bad.head(SHOWN).iterrows():
        head = f"  [{row['id']}] {_short(row['text'])!r}"
        if isinstance(row["error"], str):
            lines.append(f"{head}: could not be explained: {row['error']}")
        else:
            lines.append(f"{head}: {row['words']} {row['share']:.1%} of |attribution|")
    lines += _more(len(bad))
    raise AssertionError("\n".join(lines))


def assert_explanations_stable(
    reference: CorpusExplanation,
    current: CorpusExplanation,
    *,
    top_k: int = 5,
    tol: float = 0.05,
    min_count: int = 3,
    target: int | str | None = None,
    allow_flips: bool = False,
    text_tol: float | None = None,
) -> pd.DataFrame:
    """Fail when a model's reasons drift from a reference run of the same texts.

    Both runs are paired by text id and aligned word by word (across tokenizers, as
    :func:`ig_widgets.compare_corpora` does). In each text a word's **share** is its
    ``|attribution|`` over the text's total ``|attribution|`` for the compared class (the
    reference's predicted class of that text, or ``target``), so runs of different scales
    compare. The assertion fails when:

    - a word (grouped by :func:`word_key`, seen ``min_count`` times or more) has a mean
      share, over its occurrences, that moved by more than ``tol`` (e.g. a name that now
      carries 20 % of every text's attribution where it carried 5 %);
    - a prediction changed class (unless ``allow_flips``);
    - with ``text_tol``: one of a text's ``top_k`` words (in either run) moved by more than
      ``text_tol`` in that text;
    - a reference text is missing from ``current`` or could not be explained there.

    Parameters
    ----------
    reference, current : CorpusExplanation
        The stored reference run and the new one (same texts, same ids, same class names).
    top_k : int
        The words per text the report shows (and that ``text_tol`` watches).
    tol : float
        The largest allowed change of a word's mean share, in ``[0, 1]``.
    min_count : int
        Words seen fewer times are not judged on their mean (too noisy).
    target : int, str or None
        The class whose attributions are compared in every text; None: per text, the
        reference's predicted class.
    allow_flips : bool
        Accept changed predictions.
    text_tol : float or None
        Also judge each text on its own (None: off).

    Returns
    -------
    pandas.DataFrame
        :meth:`CorpusComparison.texts`'s rows with ``max_shift`` (the largest share change
        among a text's top words), ``top_reference`` and ``top_current`` (``word share``
        lists), when the assertion holds.

    Raises
    ------
    AssertionError
        Saying which words moved (share before → after, occurrences), the texts where they
        moved most with their top words in both runs, and which predictions changed.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    for name, value in (("tol", tol), ("text_tol", text_tol)):
        if value is not None and not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    names = ("reference", "current")
    comparison = compare_corpora(
        reference, current, target=target, names=names, min_count=min_count
    )
    table = comparison.texts()
    ok = table["error_a"].isna() & table["error_b"].isna()
    occurrences, per_text = _shares(comparison, table[ok], target, top_k)
    table = table.join(per_text, on="id")
    words = _drifting_words(occurrences, min_count, tol)
    lines = []
    if not words.empty:
        lines += _word_lines(words, occurrences, table, comparison, tol)
    flips = table[table["agree"].eq(False).fillna(False).astype(bool)]
    if len(flips) and not allow_flips:
        lines.append(f"predictions that changed class ({len(flips)} of {len(table)} texts):")
        for _, row in flips.head(SHOWN).iterrows():
            lines.append(
                f"  [{row['id']}] {_short(row['text'])!r}: {row['predicted_a']} → "
                f"{row['predicted_b']} (P({comparison.target}) {row['prob_a']:.3f} → "
                f"{row['prob_b']:.3f})"
            )
        lines += _more(len(flips))
    if text_tol is not None:
        moved = table[table["max_shift"] > text_tol]
        if len(moved):
            lines.append(f"texts whose top words moved by more than {text_tol} ({len(moved)}):")
            lines += [_text_line(row) for _, row in moved.head(SHOWN).iterrows()]
            lines += _more(len(moved))
    lines += _missing_lines(comparison, table)
    if not lines:
        return table
    head = (
        f"explanations drifted from the reference ({reference.model_name} → "
        f"{current.model_name}, {len(comparison.shared)} texts; tol {tol} of a text's "
        "|attribution| per word)"
    )
    raise AssertionError("\n".join([head, *lines]))


def _shares(
    comparison: CorpusComparison, rows: pd.DataFrame, target: int | str | None, top_k: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each word occurrence's share in both runs, and each text's top words and largest shift."""
    import pandas as pd

    found: list[tuple[str, Any, float, float]] = []
    per_text: dict[Any, dict[str, Any]] = {}
    for id_, predicted in zip(rows["id"], rows["predicted_a"], strict=True):
        words, a, b = comparison.aligned(id_, predicted if target is None else target)
        sa, sb = _share(a), _share(b)
        watched = sorted(set(_top(sa, top_k)) | set(_top(sb, top_k)))
        shift = np.abs(sb - sa)
        per_text[id_] = {
            "max_shift": float(shift[watched].max()) if watched else 0.0,
            "top_reference": _listed(words, sa, top_k),
            "top_current": _listed(words, sb, top_k),
        }
        found += [
            (word_key(w), id_, float(x), float(y)) for w, x, y in zip(words, sa, sb, strict=True)
        ]
    occurrences = pd.DataFrame(found, columns=["word", "id", "share_a", "share_b"])
    occurrences = occurrences[occurrences["word"] != ""]
    frame = pd.DataFrame.from_dict(
        per_text, orient="index", columns=["max_shift", "top_reference", "top_current"]
    )
    return occurrences, frame


def _share(scores: np.ndarray) -> np.ndarray:
    """``|scores| / sum |scores|`` (zeros for an all-zero text), ``(n_words,)``."""
    magnitude = np.abs(np.asarray(scores, dtype=np.float64))
    total = magnitude.sum()
    return magnitude / total if total > 0 else magnitude


def _top(shares: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-shares, kind="stable")[:k]]


def _listed(words: list[str], shares: np.ndarray, k: int) -> str:
    return ", ".join(f"{words[i]} {shares[i]:.2f}" for i in _top(shares, k))


def _drifting_words(occurrences: pd.DataFrame, min_count: int, tol: float) -> pd.DataFrame:
    """Per word seen ``min_count`` times: mean shares and their change, where it exceeds tol."""
    grouped = occurrences.groupby("word")
    stats = grouped[["share_a", "share_b"]].mean()
    stats["change"] = stats["share_b"] - stats["share_a"]
    stats["count"] = grouped.size()
    stats["texts"] = grouped["id"].nunique()
    moved = stats[(stats["count"] >= min_count) & (stats["change"].abs() > tol)]
    return moved.reindex(moved["change"].abs().sort_values(ascending=False).index)


def _word_lines(
    words: pd.DataFrame,
    occurrences: pd.DataFrame,
    table: pd.DataFrame,
    comparison: CorpusComparison,
    tol: float,
) -> list[str]:
    """The drifting words, then the texts where they moved most with their top words."""
    lines = [f"words whose mean share of the attribution moved by more than {tol}:"]
    for word, row in words.head(SHOWN).iterrows():
        lines.append(
            f"  {word}: {row['share_a']:.3f} → {row['share_b']:.3f} ({row['change']:+.3f}) "
            f"over {int(row['count'])} occurrences in {int(row['texts'])} texts"
        )
    lines += _more(len(words))
    hits = occurrences[occurrences["word"].isin(words.index)].copy()
    hits["moved"] = (hits["share_b"] - hits["share_a"]).abs()
    ids = list(dict.fromkeys(hits.sort_values("moved", ascending=False)["id"]))
    lines.append(
        f"texts where they moved most (top words: {comparison.names[0]} | {comparison.names[1]}):"
    )
    indexed = table.set_index("id", drop=False)
    lines += [_text_line(indexed.loc[i]) for i in ids[:SHOWN]]
    return lines


def _text_line(row: Any) -> str:
    return f"  [{row['id']}] {_short(row['text'])!r}: {row['top_reference']} | {row['top_current']}"


def _missing_lines(comparison: CorpusComparison, table: pd.DataFrame) -> list[str]:
    """Reference texts the current run lacks or could not explain."""
    lines = []
    if comparison.only_a:
        shown = ", ".join(repr(i) for i in comparison.only_a[:SHOWN])
        lines.append(f"{len(comparison.only_a)} reference texts are missing from the run: {shown}")
    broken = table[table["error_a"].isna() & table["error_b"].notna()]
    for _, row in broken.head(SHOWN).iterrows():
        lines.append(f"  [{row['id']}] could not be explained: {row['error_b']}")
    return lines


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _more(n_bad: int) -> list[str]:
    return [f"  … and {n_bad - SHOWN} more"] if n_bad > SHOWN else []
