"""DatasetView's table: the query, what one stage shows, filtering and sorting, the rows sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ig_widgets.views.selection import DELTA_TOLERANCE, Selection, badge, legend

if TYPE_CHECKING:
    from ig_widgets.engine.corpus import CorpusComparison
    from ig_widgets.engine.explanation import Explanation

#: what the table can be sorted by: the column of to_dataframe() behind each key
SORT_KEYS = {
    "id": "id",
    "label": "label",
    "predicted": "predicted",
    "confidence": "confidence",
    "correct": "correct",
    "delta": "delta_share",
    "n_tokens": "n_tokens",
}
CORRECT_FILTERS = ("all", "correct", "wrong")
#: what a two-run table can be sorted by: the column of CorpusComparison.texts() behind each
COMPARE_SORT_KEYS = {
    key: key
    for key in (
        "id", "label", "predicted_a", "predicted_b", "score_a", "score_b", "score_change",
        "agree", "attribution_change", "disagreement",
    )
}  # fmt: skip
#: sort keys whose natural first order is ascending (names and ids)
ASCENDING_FIRST = ("id", "label", "predicted", "predicted_a", "predicted_b")
#: the most words the word-importance chart receives (by |mean attribution|)
MAX_WORDS = 100
#: the characters of a text shown in its table row (the detail shows all of it)
ROW_CHARS = 240


@dataclass(frozen=True)
class Query:
    """What the table shows: sort, filters, page, the selected row and the chart's class.

    Attributes
    ----------
    sort_by : str
        A key of :data:`SORT_KEYS`.
    descending : bool
        Largest first.
    predicted, label : str
        Keep rows predicted as / labelled with this class; ``""`` keeps all.
    correct : str
        ``"all"``, ``"correct"`` or ``"wrong"`` (rows without a label are neither).
    confidence : tuple[float, float]
        Keep rows whose confidence lies in this closed range.
    large_delta : bool
        Keep only rows whose completeness check fails (``|delta|`` over
        ``DELTA_TOLERANCE`` of ``|F(input) − F(baseline)|``).
    contains : str
        Keep rows whose text holds this word (whole word, any case); ``""`` keeps all.
    page, page_size : int
        Which rows of the sorted, filtered table are shown.
    selected : str
        The selected row's id (as text); ``""`` for none.
    importance_class : str
        The class of the word-importance chart.
    disagree : bool
        Two runs: keep only rows where the two runs predict different classes.
    """

    sort_by: str
    descending: bool
    predicted: str
    label: str
    correct: str
    confidence: tuple[float, float]
    large_delta: bool
    contains: str
    page: int
    page_size: int
    selected: str
    importance_class: str
    disagree: bool = False


@dataclass(frozen=True)
class Shown:
    """One stage of the view: a page of rows, the selected text, the word chart.

    Attributes
    ----------
    rows : list[dict]
        The page's rows, ``(≤ page_size,)``.
    n_matching : int
        Rows passing the filters.
    page : int
        The page shown (clamped to the pages there are).
    selected : Explanation, (words, attr_a, attr_b) or None
        The selected text's explanation, when it has one; for two runs, its words and both
        runs' attributions of the compared class, ``(n_words,)`` each
        (:meth:`CorpusComparison.aligned`).
    selected_error : str
        The selected text's error, when it failed.
    words : pandas.DataFrame | None
        The chart's words (``word_importance``; for two runs, ``CorpusComparison.words``),
        None until computed.
    query : Query
        The query this stage answers (its ``page`` is the page asked for).
    """

    rows: list[dict[str, Any]]
    n_matching: int
    page: int
    selected: Explanation | tuple[list[str], np.ndarray, np.ndarray] | None
    selected_error: str
    words: pd.DataFrame | None
    query: Query


def row_items(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The table rows sent to the browser: short text, rounded numbers, no NaN."""
    items = []
    for row in rows.itertuples(index=False):
        text = row.text if isinstance(row.text, str) else ""
        correct = None if pd.isna(row.correct) else bool(row.correct)
        items.append(
            {
                "id": row.key,
                "text": _short(text),
                "label": row.label if isinstance(row.label, str) else "",
                "predicted": row.predicted if isinstance(row.predicted, str) else "",
                "confidence": None if pd.isna(row.confidence) else round(float(row.confidence), 3),
                "correct": correct,
                "delta_share": None
                if pd.isna(row.delta_share)
                else round(float(row.delta_share), 4),
                "n_tokens": None if pd.isna(row.n_tokens) else int(row.n_tokens),
                "error": row.error if isinstance(row.error, str) else "",
            }
        )
    return items


def _short(text: str) -> str:
    return text if len(text) <= ROW_CHARS else text[: ROW_CHARS - 1] + "…"


def _number(value: Any, digits: int) -> float | None:
    return None if pd.isna(value) else round(float(value), digits)


def matching(frame: pd.DataFrame, q: Query, sort_keys: dict[str, str]) -> pd.DataFrame:
    """The rows of ``frame`` that pass the filters of ``q``, sorted by ``sort_keys[q.sort_by]``.

    ``frame`` is a run's ``to_dataframe()`` or a comparison's :func:`comparison_frame`; a
    filter on a column the frame lacks (``predicted``, ``correct`` … of a comparison) is off.
    """
    keep = np.ones(len(frame), dtype=bool)
    columns = frame.columns
    if q.predicted and "predicted" in columns:
        keep &= (frame["predicted"] == q.predicted).to_numpy(dtype=bool, na_value=False)
    if q.label:
        keep &= (frame["label"] == q.label).to_numpy(dtype=bool, na_value=False)
    if q.correct != "all" and "correct" in columns:
        keep &= frame["correct"].eq(q.correct == "correct").to_numpy(dtype=bool, na_value=False)
    low, high = q.confidence
    if (low, high) != (0.0, 1.0) and "confidence" in columns:
        confidence = frame["confidence"].to_numpy(dtype=float)
        keep &= (confidence >= low) & (confidence <= high)
    if q.large_delta and "delta_share" in columns:
        keep &= (frame["delta_share"] > DELTA_TOLERANCE).to_numpy(dtype=bool, na_value=False)
    if q.disagree and "agree" in columns:
        keep &= frame["agree"].eq(False).to_numpy(dtype=bool, na_value=False)
    if q.contains.strip():
        pattern = r"(?<!\w)" + re.escape(q.contains.strip()) + r"(?!\w)"
        holds = frame["text"].str.contains(pattern, case=False, regex=True, na=False)
        keep &= holds.to_numpy(dtype=bool)
    rows = frame[keep]
    return rows.sort_values(
        sort_keys[q.sort_by], ascending=not q.descending, kind="stable", na_position="last"
    )


def comparison_frame(comparison: CorpusComparison) -> pd.DataFrame:
    """A comparison's ``texts()`` with a ``key`` (the id as text) and one ``error`` column."""
    frame = comparison.texts()
    a, b = comparison.names
    frame["key"] = frame["id"].astype(str)
    frame["error"] = [
        "; ".join(f"{n}: {e}" for n, e in ((a, ea), (b, eb)) if isinstance(e, str)) or None
        for ea, eb in zip(frame["error_a"], frame["error_b"], strict=True)
    ]
    return frame


def compare_row_items(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The two-run table's rows sent to the browser: short text, rounded numbers, no NaN."""
    items = []
    for row in rows.itertuples(index=False):
        text = row.text if isinstance(row.text, str) else ""
        items.append(
            {
                "id": row.key,
                "text": _short(text),
                "label": row.label if isinstance(row.label, str) else "",
                "predicted_a": row.predicted_a if isinstance(row.predicted_a, str) else "",
                "predicted_b": row.predicted_b if isinstance(row.predicted_b, str) else "",
                "score_a": _number(row.score_a, 3),
                "score_b": _number(row.score_b, 3),
                "score_change": _number(row.score_change, 3),
                "agree": None if pd.isna(row.agree) else bool(row.agree),
                "attribution_change": _number(row.attribution_change, 3),
                "disagreement": _number(row.disagreement, 3),
                "error": row.error if isinstance(row.error, str) else "",
            }
        )
    return items


def run_detail(key: str, exp: Explanation, view: Selection, row: pd.Series) -> dict[str, Any]:
    """The detail of one run's selected text: prediction, probabilities, badge, legend."""
    return {
        "id": key,
        "text": exp.text,
        "prediction": exp.predicted_class,
        "label": row["label"] if isinstance(row["label"], str) else "",
        "probabilities": [
            {"name": c, "prob": round(float(p), 4)}
            for c, p in zip(exp.classes, exp.probs, strict=True)
        ],
        "badge": badge(view.attribution, exp.output),
        "legend": legend(view.attribution.label, "word"),
        "error": "",
    }


def pair_detail(key: str, row: pd.Series, target: str) -> dict[str, Any]:
    """The detail of a two-run table's selected text (a row of :func:`comparison_frame`)."""
    return {
        "id": key,
        "text": row["text"],
        "prediction": f"{row['predicted_a']} → {row['predicted_b']}",
        "label": row["label"] if isinstance(row["label"], str) else "",
        "probabilities": [],
        "badge": {},
        "legend": legend(target, "word"),
        "error": "",
    }
