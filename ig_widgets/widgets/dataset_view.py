"""DatasetView: a corpus's texts as a sortable, filterable table, paged in the kernel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ipyvuetify as v
import numpy as np
import pandas as pd
import traitlets as t
from ipywidgets import widget_serialization

from ig_widgets.engine.baselines import choice_of
from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation, compare_corpora
from ig_widgets.engine.explainer import Explainer
from ig_widgets.views.normalize import display_scale
from ig_widgets.views.selection import select
from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.bars import AttributionBars
from ig_widgets.widgets.chips import SaliencyChips
from ig_widgets.widgets.dataset_table import (
    ASCENDING_FIRST,
    COMPARE_SORT_KEYS,
    CORRECT_FILTERS,
    MAX_WORDS,
    SORT_KEYS,
    Query,
    Shown,
    compare_row_items,
    comparison_frame,
    matching,
    pair_detail,
    row_items,
    run_detail,
)
from ig_widgets.widgets.live import LiveWidget
from ig_widgets.widgets.worker import Request

__all__ = ["SORT_KEYS", "DatasetView", "Query", "Shown"]


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

    **Two runs** (``DatasetView(run_a, run_b)`` or ``DatasetView(comparison)``): the table
    holds both predictions, both scores of the compared class and their change, the
    attribution change and the disagreement (:meth:`CorpusComparison.texts`, each sortable);
    a "disagree" filter keeps the texts the two runs predict differently; a click shows the
    text's words twice, one run above the other, on one shared colour scale
    (:meth:`CorpusComparison.aligned`); the chart shows the words whose mean attribution
    changed most (:meth:`CorpusComparison.words`).

    Parameters
    ----------
    corpus : CorpusExplanation or CorpusComparison
        The results of :meth:`Explainer.explain_many` (or :meth:`CorpusExplanation.load`),
        or a comparison of two runs (:func:`ig_widgets.compare_corpora`).
    explainer : Explainer or CorpusExplanation, optional
        The model's explainer, for "open in Explorer"; or a second run of the same texts, to
        compare ``corpus`` with (``compare_corpora(corpus, run_b, names=names,
        target=target, min_count=min_count)``).
    names : (str, str), optional
        Two runs: what to call them (default their model names).
    target : int, str or None
        Two runs: the compared class (default the comparison's).
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
    ``next page``, ``open in explorer``, ``importance class``. Two runs: root
    ``data-mode="comparison"``, the ``disagree`` checkbox, and in the detail two
    ``.igw-dataset-run`` blocks (``data-run``: the run's name) each with its chips.
    """

    template = t.Unicode(
        vue_template("dataset_view.vue"), help="the Vue template (js/dataset_view.vue)"
    ).tag(sync=True)

    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)
    mode = t.Unicode("run", read_only=True, help="'run' (one run) or 'comparison' (two)").tag(
        sync=True
    )
    run_names = t.List(t.Unicode(), help="two runs: their names; [] for one run").tag(sync=True)
    disagree = t.Bool(False, help="two runs: keep only texts they predict differently").tag(
        sync=True
    )
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
    chips_b = t.Instance(
        SaliencyChips, help="two runs: the second run's chips of the selected text"
    ).tag(sync=True, **widget_serialization)
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
        corpus: CorpusExplanation | CorpusComparison,
        explainer: Explainer | CorpusExplanation | None = None,
        *,
        names: tuple[str, str] | None = None,
        target: int | str | None = None,
        page_size: int = 20,
        min_count: int = 5,
        debounce: float = 0.1,
    ) -> None:
        if isinstance(explainer, CorpusExplanation):
            if not isinstance(corpus, CorpusExplanation):
                raise TypeError("a second run is compared with a CorpusExplanation")
            corpus = compare_corpora(
                corpus, explainer, names=names, target=target, min_count=min_count
            )
            explainer = None
        elif isinstance(corpus, CorpusComparison) and (names or target is not None):
            corpus = compare_corpora(
                corpus.a,
                corpus.b,
                names=names or corpus.names,
                target=corpus.target if target is None else target,
                min_count=min_count,
            )
        self.comparison = corpus if isinstance(corpus, CorpusComparison) else None
        if self.comparison is not None:
            if explainer is not None:
                raise TypeError("two runs open no Explorer: give no explainer with them")
            corpus = self.comparison.a
        if not isinstance(corpus, CorpusExplanation):
            raise TypeError(
                f"DatasetView shows a CorpusExplanation (explainer.explain_many(...) or "
                f"CorpusExplanation.load(path)) or a CorpusComparison, got "
                f"{type(corpus).__name__}"
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
        if self.comparison is None:
            frame = corpus.to_dataframe()
            frame["key"] = frame["id"].astype(str)
            self._sort_keys = SORT_KEYS
        else:
            frame = comparison_frame(self.comparison)
            self._sort_keys = COMPARE_SORT_KEYS
        self._frame = frame
        self._positions = {key: i for i, key in enumerate(frame["key"])}
        self._words: dict[str, pd.DataFrame] = {}
        self._start_live(debounce=debounce, name="igw-dataset")
        classes = list(corpus.classes)
        two = self.comparison is not None
        chart_class = classes[-1] if len(classes) == 2 else classes[0]
        super().__init__(
            classes=classes,
            run_names=list(self.comparison.names) if self.comparison is not None else [],
            n_total=len(frame),
            page_size=page_size,
            sort_by="disagreement" if two else "confidence",
            importance_class=self.comparison.target if self.comparison is not None else chart_class,
            can_explore=explainer is not None,
            chips=SaliencyChips(),
            chips_b=SaliencyChips(),
            word_bars=AttributionBars(order="sorted", top_k=20, unit="words"),
        )
        self.set_trait("mode", "comparison" if two else "run")
        self._schedule()

    def __repr__(self) -> str:
        if self.comparison is not None:
            a, b = self.comparison.names
            return f"DatasetView({len(self._frame)} texts, {a} vs {b})"
        return f"DatasetView({len(self._frame)} texts, {self.corpus.model_name})"

    # ------------------------------------------------------------------ public API
    def query(self) -> Query:
        """The current sort, filters, page and selection."""
        return self._request()

    def matching(self, query: Query | None = None) -> pd.DataFrame:
        """The corpus's rows that pass the filters, sorted (all pages)."""
        return matching(self._frame, query or self.query(), self._sort_keys)

    def vue_sort(self, key: Any) -> None:
        """Sort by ``key``; the same key again reverses the order."""
        if key not in self._sort_keys:
            return
        with self._lock, self.hold_sync():
            if key == self.sort_by:
                self.descending = not self.descending
            else:
                self.sort_by, self.descending = key, key not in ASCENDING_FIRST

    def vue_select_row(self, key: Any) -> None:
        """Select the row with id ``key`` (its chips are shown); the same row again clears it."""
        key = str(key)
        if key in self._positions:
            self.explore_note = ""
            self.selected_id = "" if key == self.selected_id else key

    def vue_open_explorer(self, _data: Any = None) -> None:
        """Open an :class:`Explorer` on the selected text, with its run's steps, rule, baseline.

        The baseline is the one the run stored as data, so the Explorer shows the row's
        numbers (a ``[neutral]`` run's Explorer takes ``[neutral]`` and resolves it at the
        text's length, the call the run made for the row). When the results cannot say which
        it was (results format 1, a baseline class of its own) or the Explorer's menu cannot
        hold it (a reference text), nothing opens and :attr:`explore_note` says why.
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
        "confidence_range", "large_delta", "contains", "page_size", "disagree",
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
        keys = getattr(self, "_sort_keys", SORT_KEYS)
        if proposal["value"] not in keys:
            raise t.TraitError(f"sort_by must be one of {tuple(keys)}")
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
        return [
            values.get("chips"),
            values.get("chips_b"),
            values.get("word_bars"),
            values.get("explorer"),
        ]

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
            disagree=self.disagree,
        )

    def _stages(self, query: Query, request: Request) -> Iterator[Shown]:
        """The page at once (sort and filter in pandas), then the word chart if it is new."""
        rows = self.matching(query)
        pages = max(1, -(-len(rows) // query.page_size))
        page = min(query.page, pages - 1)
        visible = rows.iloc[page * query.page_size : (page + 1) * query.page_size]
        selected: Any = None
        error = ""
        if query.selected:
            position = self._positions[query.selected]
            failed = self._frame["error"].iloc[position]
            if isinstance(failed, str):
                error = failed
            elif self.comparison is not None:
                selected = self.comparison.aligned(self._frame["id"].iloc[position])
            else:
                selected = self.corpus[position]
        words = self._words.get(query.importance_class)
        items = row_items if self.comparison is None else compare_row_items
        shown = Shown(items(visible), len(rows), page, selected, error, words, query)
        yield shown
        if words is None and query.importance_class:
            self._progress(request, 0.5)
            if self.comparison is not None:
                words = self.comparison.words().set_index("word")
            else:
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
            "disagree": asked.disagree,
        }
        # the selection and the chart's class this result was computed for, not newer ones
        self._show_detail(asked.selected, shown.selected, shown.selected_error)
        self._show_words(asked.importance_class, shown.words)
        self.status = f"{shown.n_matching} of {len(self._frame)} texts"

    def _show_detail(self, selected: str, exp: Any, error: str) -> None:
        if exp is None:
            self.chips.set_data([], [])
            self.chips_b.set_data([], [])
            self.detail = {"id": selected, "error": error} if selected else {}
            return
        if self.comparison is not None:
            self._show_pair(selected, *exp)
            return
        view = select(exp, None, "word")
        self.chips.show_selection(view)
        self.detail = run_detail(selected, exp, view, self._frame.iloc[self._positions[selected]])

    def _show_pair(self, selected: str, words: list[str], a: np.ndarray, b: np.ndarray) -> None:
        """Both runs' chips of one text, on the scale of the larger of the two."""
        assert self.comparison is not None
        scale = max(display_scale(a), display_scale(b)) or 1.0
        names = self.comparison.names
        target = self.comparison.target
        with self.hold_sync():
            for chips, scores, name in ((self.chips, a, names[0]), (self.chips_b, b, names[1])):
                chips.vmax = scale
                chips.set_data(words, scores, label=f"{name}: {target}")
        self.detail = pair_detail(selected, self._frame.iloc[self._positions[selected]], target)

    def _show_words(self, name: str, words: pd.DataFrame | None) -> None:
        if words is None:
            self.importance_note = f"computing the word importance for {name}…"
            return
        if self.comparison is not None:
            a, b = self.comparison.names
            top = words.reindex(words["mean_change"].abs().sort_values(ascending=False).index)
            top = top[:MAX_WORDS]
            self.word_bars.set_data(list(top.index), top["mean_change"].to_numpy(), label=name)
            self.importance_note = (
                f"change of the mean attribution towards {name} per use, {b} − {a}, words "
                f"used at least {self.comparison.min_count} times in both ({len(words)} words)"
            )
            return
        top = words.reindex(words["mean"].abs().sort_values(ascending=False).index)[:MAX_WORDS]
        self.word_bars.set_data(list(top.index), top["mean"].to_numpy(), label=name)
        self.importance_note = (
            f"mean attribution towards {name} per use, words used at least "
            f"{self.min_count} times ({len(words)} words)"
        )
