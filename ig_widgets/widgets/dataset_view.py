"""DatasetView: a corpus's texts as a sortable, filterable table, paged in the kernel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ipyvuetify as v
import numpy as np
import pandas as pd
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import choice_of
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import Explanation
from ig_widgets.views.selection import DELTA_TOLERANCE, badge, legend, select
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.bars import AttributionBars
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.live import LiveWidget
from ig_widgets.widgets.worker import Request

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
    selected : Explanation | None
        The selected text's explanation, when it has one.
    selected_error : str
        The selected text's error, when it failed.
    words : pandas.DataFrame | None
        The chart's words (``word_importance``), None until computed.
    query : Query
        The query this stage answers (its ``page`` is the page asked for).
    """

    rows: list[dict[str, Any]]
    n_matching: int
    page: int
    selected: Explanation | None
    selected_error: str
    words: pd.DataFrame | None
    query: Query


class DatasetView(LiveWidget, v.VuetifyTemplate):
    """The texts of a :class:`CorpusExplanation` as a table, with each one's chips on a click.

    Sorting, filtering and paging run in the kernel on the corpus's DataFrame and only the
    visible page is sent to the browser, so a corpus of 25,000 texts stays responsive. Above
    the table: filters by prediction, label, correct/wrong, confidence, a failing
    completeness check and a word the text contains. Clicking a row shows its chips
    (:class:`SaliencyChips`, the predicted class) and, with an explainer, a button opens an
    :class:`Explorer` on that text. Beside it: the corpus-level word importance of one class
    (:meth:`CorpusExplanation.word_importance`, mean attribution per use, computed in the
    background the first time).

    Parameters
    ----------
    corpus : CorpusExplanation
        The results of :meth:`Explainer.explain_many` (or :meth:`CorpusExplanation.load`).
    explainer : Explainer, optional
        The model's explainer, for "open in Explorer".
    page_size : int
        Rows per page.
    min_count : int
        Words used fewer times are left out of the word-importance chart.
    debounce : float
        Seconds of quiet after a change before the table is recomputed.

    Notes
    -----
    DOM: root ``.igw-dataset`` (``data-n-matching``, ``data-page``, ``data-sort-by``,
    ``data-descending``, ``data-rows-current``: ``"true"`` once the rows shown answer the
    sort, filters and page the browser shows, ``"false"`` while they belong to an older
    query; they are dimmed then); rows ``.igw-dataset-row`` with ``data-id``; sortable headers
    ``th[data-sort]``; the detail ``.igw-dataset-detail`` (``data-id``) with the chips
    inside; ``.igw-word-importance`` with the bars inside; aria-labels ``predicted``,
    ``label``, ``correct``, ``confidence``, ``large delta``, ``contains``, ``previous page``,
    ``next page``, ``open in explorer``, ``importance class``.
    """

    template = t.Unicode(
        vue_template("dataset_view.vue"), help="the Vue template (js/dataset_view.vue)"
    ).tag(sync=True)

    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)
    rows = t.List(t.Dict(), help="the visible page's rows").tag(sync=True)
    n_total = t.Int(0, help="texts in the corpus").tag(sync=True)
    n_matching = t.Int(0, help="texts passing the filters").tag(sync=True)
    sort_by = t.Unicode("confidence", help=f"the sort key: one of {tuple(SORT_KEYS)}").tag(
        sync=True
    )
    descending = t.Bool(True, help="sort largest first").tag(sync=True)
    predicted_filter = t.Unicode("", help="keep rows predicted as this class; '' all").tag(
        sync=True
    )
    label_filter = t.Unicode("", help="keep rows labelled with this class; '' all").tag(sync=True)
    correct_filter = t.Unicode("all", help="'all', 'correct' or 'wrong'").tag(sync=True)
    confidence_range = t.List(
        t.Float(), [0.0, 1.0], help="keep rows whose confidence lies in [low, high]"
    ).tag(sync=True)
    large_delta = t.Bool(False, help="keep only rows whose completeness check fails").tag(sync=True)
    contains = t.Unicode("", help="keep rows whose text holds this word; '' all").tag(sync=True)
    page = t.Int(0, help="the page shown (0-based)").tag(sync=True)
    page_size = t.Int(20, help="rows per page").tag(sync=True)
    rows_query = t.Dict(
        help="the sort, filters and page the rows belong to (trait names as keys); the browser "
        "marks the rows stale while they differ from its own"
    ).tag(sync=True)
    selected_id = t.Unicode("", help="the selected row's id, as text; '' none").tag(sync=True)
    detail = t.Dict(help="the selected text: id, text, prediction, label, badge, legend").tag(
        sync=True
    )
    importance_class = t.Unicode("", help="the class of the word-importance chart").tag(sync=True)
    importance_note = t.Unicode("", help="what the word chart shows, or that it is computing").tag(
        sync=True
    )
    can_explore = t.Bool(False, help="an explainer is there: rows open in an Explorer").tag(
        sync=True
    )
    chips = t.Instance(SaliencyChips, help="the selected text's chips").tag(
        sync=True, **widget_serialization
    )
    word_bars = t.Instance(AttributionBars, help="the corpus-level word importance").tag(
        sync=True, **widget_serialization
    )
    explorer = t.Instance(
        v.VuetifyTemplate, allow_none=True, help="an Explorer on the selected text, once opened"
    ).tag(sync=True, **widget_serialization)
    explore_note = t.Unicode(
        "", help="why the selected text did not open in an Explorer (its run's baseline); '' none"
    ).tag(sync=True)

    def __init__(
        self,
        corpus: CorpusExplanation,
        explainer: Explainer | None = None,
        *,
        page_size: int = 20,
        min_count: int = 5,
        debounce: float = 0.1,
    ) -> None:
        if not isinstance(corpus, CorpusExplanation):
            raise TypeError(
                f"DatasetView shows a CorpusExplanation (explainer.explain_many(...) or "
                f"CorpusExplanation.load(path)), got {type(corpus).__name__}"
            )
        if explainer is not None and not isinstance(explainer, Explainer):
            raise TypeError(f"explainer must be an Explainer, got {type(explainer).__name__}")
        if explainer is not None and tuple(explainer.classes) != corpus.classes:
            raise ValueError(
                f"the explainer's classes {list(explainer.classes)} are not the corpus's "
                f"{list(corpus.classes)}"
            )
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive int, got {page_size!r}")
        self.corpus = corpus
        self.explainer = explainer
        self.min_count = int(min_count)
        frame = corpus.to_dataframe()
        frame["key"] = frame["id"].astype(str)
        self._frame = frame
        self._positions = {key: i for i, key in enumerate(frame["key"])}
        self._words: dict[str, pd.DataFrame] = {}
        self._start_live(debounce=debounce, name="igw-dataset")
        classes = list(corpus.classes)
        super().__init__(
            classes=classes,
            n_total=len(frame),
            page_size=page_size,
            importance_class=classes[-1] if len(classes) == 2 else classes[0],
            can_explore=explainer is not None,
            chips=SaliencyChips(),
            word_bars=AttributionBars(order="sorted", top_k=20, unit="words"),
        )
        self._schedule()

    def __repr__(self) -> str:
        return f"DatasetView({len(self._frame)} texts, {self.corpus.model_name})"

    # ------------------------------------------------------------------ public API
    def query(self) -> Query:
        """The current sort, filters, page and selection."""
        return self._request()

    def matching(self, query: Query | None = None) -> pd.DataFrame:
        """The corpus's rows that pass the filters, sorted (all pages)."""
        q = query or self.query()
        frame = self._frame
        keep = np.ones(len(frame), dtype=bool)
        if q.predicted:
            keep &= (frame["predicted"] == q.predicted).to_numpy(dtype=bool, na_value=False)
        if q.label:
            keep &= (frame["label"] == q.label).to_numpy(dtype=bool, na_value=False)
        if q.correct != "all":
            keep &= frame["correct"].eq(q.correct == "correct").to_numpy(dtype=bool, na_value=False)
        low, high = q.confidence
        if (low, high) != (0.0, 1.0):
            confidence = frame["confidence"].to_numpy(dtype=float)
            keep &= (confidence >= low) & (confidence <= high)
        if q.large_delta:
            keep &= (frame["delta_share"] > DELTA_TOLERANCE).to_numpy(dtype=bool, na_value=False)
        if q.contains.strip():
            pattern = r"(?<!\w)" + re.escape(q.contains.strip()) + r"(?!\w)"
            holds = frame["text"].str.contains(pattern, case=False, regex=True, na=False)
            keep &= holds.to_numpy(dtype=bool)
        rows = frame[keep]
        return rows.sort_values(
            SORT_KEYS[q.sort_by], ascending=not q.descending, kind="stable", na_position="last"
        )

    def vue_sort(self, key: Any) -> None:
        """Sort by ``key``; the same key again reverses the order."""
        if key not in SORT_KEYS:
            return
        with self._lock, self.hold_sync():
            if key == self.sort_by:
                self.descending = not self.descending
            else:
                self.sort_by, self.descending = key, key not in ("id", "label", "predicted")

    def vue_select_row(self, key: Any) -> None:
        """Select the row with id ``key`` (its chips are shown); the same row again clears it."""
        key = str(key)
        if key in self._positions:
            self.explore_note = ""
            self.selected_id = "" if key == self.selected_id else key

    def vue_open_explorer(self, _data: Any = None) -> None:
        """Open an :class:`Explorer` on the selected text, with its run's steps, rule, baseline.

        The baseline is the one the run stored as data, so the Explorer shows the row's
        numbers. When the results cannot say which it was (results format 1, a baseline
        class of its own) or the Explorer's menu cannot hold it (a reference text), nothing
        opens and :attr:`explore_note` says why.
        """
        if self.explainer is None or not self.selected_id:
            return
        from ig_widgets.widgets.explorer import Explorer

        position = self._positions[self.selected_id]
        text = self._frame["text"].iloc[position]
        if not isinstance(text, str) or not text.strip():
            return
        settings = self.corpus.settings
        try:
            baseline = self.corpus.run_baseline()
            choice_of(baseline)  # TypeError for a kind the Explorer's menu does not offer
        except (ValueError, TypeError) as exc:
            self.explore_note = (
                f"Not opened: {exc}. The Explorer would not show this row's numbers."
            )
            return
        old = self.explorer
        self.explore_note = ""
        self.explorer = Explorer(
            self.explainer,
            text,
            n_steps=settings.get("n_steps", 50),
            method=settings.get("method"),
            baseline=baseline,
            discover_neutral=False,
        )
        if old is not None:
            old.close()

    # ------------------------------------------------------------------ observers
    @t.observe(
        "sort_by", "descending", "predicted_filter", "label_filter", "correct_filter",
        "confidence_range", "large_delta", "contains", "page_size",
    )  # fmt: skip
    def _on_query(self, change: dict[str, Any]) -> None:
        with self._lock:
            if self.page != 0:
                self.page = 0  # its observer schedules
            else:
                self._schedule()

    @t.observe("page", "selected_id", "importance_class")
    def _on_view(self, _change: dict[str, Any]) -> None:
        self._schedule()

    @t.validate("sort_by")
    def _check_sort(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in SORT_KEYS:
            raise t.TraitError(f"sort_by must be one of {tuple(SORT_KEYS)}")
        return proposal["value"]

    @t.validate("correct_filter")
    def _check_correct(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in CORRECT_FILTERS:
            raise t.TraitError(f"correct_filter must be one of {CORRECT_FILTERS}")
        return proposal["value"]

    @t.validate("predicted_filter", "label_filter", "importance_class")
    def _check_class(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value and value not in self.classes:
            raise t.TraitError(f"{value!r} is not a class; the classes are {list(self.classes)}")
        return value

    @t.validate("confidence_range")
    def _check_range(self, proposal: dict[str, Any]) -> list[float]:
        value = [float(x) for x in proposal["value"]]
        if len(value) != 2 or not 0.0 <= value[0] <= value[1] <= 1.0:
            raise t.TraitError("confidence_range must be [low, high] with 0 <= low <= high <= 1")
        return value

    @t.validate("page")
    def _check_page(self, proposal: dict[str, Any]) -> int:
        return max(0, int(proposal["value"]))

    @t.validate("page_size")
    def _check_page_size(self, proposal: dict[str, Any]) -> int:
        if int(proposal["value"]) < 1:
            raise t.TraitError("page_size must be a positive int")
        return int(proposal["value"])

    # ------------------------------------------------------------------ LiveWidget
    def _children(self) -> list[Any]:
        values = self._trait_values
        return [values.get("chips"), values.get("word_bars"), values.get("explorer")]

    def _request(self) -> Query:
        low, high = self.confidence_range
        return Query(
            sort_by=self.sort_by,
            descending=self.descending,
            predicted=self.predicted_filter,
            label=self.label_filter,
            correct=self.correct_filter,
            confidence=(low, high),
            large_delta=self.large_delta,
            contains=self.contains,
            page=self.page,
            page_size=self.page_size,
            selected=self.selected_id,
            importance_class=self.importance_class,
        )

    def _stages(self, query: Query, request: Request) -> Iterator[Shown]:
        """The page at once (sort and filter in pandas), then the word chart if it is new."""
        rows = self.matching(query)
        pages = max(1, -(-len(rows) // query.page_size))
        page = min(query.page, pages - 1)
        visible = rows.iloc[page * query.page_size : (page + 1) * query.page_size]
        selected, error = None, ""
        if query.selected:
            position = self._positions[query.selected]
            failed = self._frame["error"].iloc[position]
            if isinstance(failed, str):
                error = failed
            else:
                selected = self.corpus[position]
        words = self._words.get(query.importance_class)
        shown = Shown(_row_items(visible), len(rows), page, selected, error, words, query)
        yield shown
        if words is None and query.importance_class:
            self._progress(request, 0.5)
            words = self.corpus.word_importance(query.importance_class, self.min_count)
            self._words[query.importance_class] = words
            yield Shown(shown.rows, shown.n_matching, page, selected, error, words, query)

    def _show(self, shown: Shown) -> None:
        asked = shown.query
        # Clamp only the page this result was asked for: a page the browser moved to since
        # (its request is on the way) must not be put back to this result's page.
        if shown.page != asked.page and self.page == asked.page:
            self.set_trait("page", shown.page)
        self.rows = shown.rows
        self.n_matching = shown.n_matching
        low, high = asked.confidence
        self.rows_query = {
            "sort_by": asked.sort_by,
            "descending": asked.descending,
            "predicted_filter": asked.predicted,
            "label_filter": asked.label,
            "correct_filter": asked.correct,
            "confidence_range": [low, high],
            "large_delta": asked.large_delta,
            "contains": asked.contains,
            "page": shown.page,
            "page_size": asked.page_size,
        }
        # the selection and the chart's class this result was computed for, not newer ones
        self._show_detail(asked.selected, shown.selected, shown.selected_error)
        self._show_words(asked.importance_class, shown.words)
        self.status = f"{shown.n_matching} of {len(self._frame)} texts"

    def _show_detail(self, selected: str, exp: Explanation | None, error: str) -> None:
        if exp is None:
            self.chips.set_data([], [])
            self.detail = {"id": selected, "error": error} if selected else {}
            return
        view = select(exp, None, "word")
        self.chips.show_selection(view)
        row = self._frame.iloc[self._positions[selected]]
        self.detail = {
            "id": selected,
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

    def _show_words(self, name: str, words: pd.DataFrame | None) -> None:
        if words is None:
            self.importance_note = f"computing the word importance for {name}…"
            return
        top = words.reindex(words["mean"].abs().sort_values(ascending=False).index)[:MAX_WORDS]
        self.word_bars.set_data(list(top.index), top["mean"].to_numpy(), label=name)
        self.importance_note = (
            f"mean attribution towards {name} per use, words used at least "
            f"{self.min_count} times ({len(words)} words)"
        )


def _row_items(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The table rows sent to the browser: short text, rounded numbers, no NaN."""
    items = []
    for row in rows.itertuples(index=False):
        text = row.text if isinstance(row.text, str) else ""
        correct = None if pd.isna(row.correct) else bool(row.correct)
        items.append(
            {
                "id": row.key,
                "text": text if len(text) <= ROW_CHARS else text[: ROW_CHARS - 1] + "…",
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
