"""Assertions for your own model tests (pytest or plain asserts): stability and attribution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.corpus import explain_many
from ig_widgets.engine.explanation import class_index
from ig_widgets.engine.probes import probe, word_share, words_matching

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.explainer import Explainer

__all__ = ["assert_attribution_below", "assert_prediction_stable"]

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


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _more(n_bad: int) -> list[str]:
    return [f"  … and {n_bad - SHOWN} more"] if n_bad > SHOWN else []
