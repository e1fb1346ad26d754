"""DatasetView without a browser: sort, filter and page in the kernel; chips of a clicked row."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import replace

import ipyvuetify as v
import numpy as np
import pyarrow as pa
import pytest
from support.dataset_views import ready_view, settle
from support.live_threads import BrowserCopy, assert_no_lost_update, browser_message
from support.paths import REPO
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, _Store, explain_many
from ig_widgets.views.selection import select
from ig_widgets.widgets.dataset_view import DatasetView
from ig_widgets.widgets.worker import Request

WORDS = ("good", "bad", "fun", "boring", "great", "awful")
SENTENCES = [
    f"The film was {'very ' * (k % 3)}{WORDS[k % 6]}, "
    f"{'and' if k % 2 else 'but'} the plot {WORDS[(k * 5) % 6]}."
    for k in range(45)
]
TEXTS = [*SENTENCES, "", "A BORING film."]
LABELS = [k % 2 for k in range(len(TEXTS))]
NO_FILTER = {
    "predicted_filter": "",
    "label_filter": "",
    "correct_filter": "all",
    "confidence_range": [0.0, 1.0],
    "large_delta": False,
    "contains": "",
}
VUE_OPTIONS = {"methods", "data", "computed", "watch", "props", "components", "emits"}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def explainer() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru"))


@pytest.fixture(scope="module")
def corpus(explainer: igw.Explainer) -> CorpusExplanation:
    return explain_many(explainer, TEXTS, LABELS, n_steps=8, progress=False)


@pytest.fixture
def view(corpus: CorpusExplanation, explainer: igw.Explainer) -> Iterator[DatasetView]:
    yield from ready_view(corpus, explainer, page_size=10)


def ids(view: DatasetView) -> list[str]:
    return [row["id"] for row in view.rows]


def test_first_page_sorted_by_confidence(view: DatasetView, corpus: CorpusExplanation) -> None:
    frame = corpus.to_dataframe()
    assert view.n_total == view.n_matching == len(TEXTS) and len(view.rows) == 10
    expected = frame.sort_values("confidence", ascending=False, kind="stable", na_position="last")
    assert ids(view) == [str(i) for i in expected["id"][:10]]
    first = view.rows[0]
    assert first["confidence"] == round(float(expected["confidence"].iloc[0]), 3)
    assert view.status == f"{len(TEXTS)} of {len(TEXTS)} texts"


def test_sort_toggles_and_pages(view: DatasetView) -> None:
    view.vue_sort("id")
    settle(view)
    assert ids(view) == [str(i) for i in range(10)] and not view.descending
    view.vue_sort("id")
    settle(view)
    assert ids(view)[0] == str(len(TEXTS) - 1)
    view.page = 4
    settle(view)
    assert ids(view) == [str(i) for i in range(6, -1, -1)]
    view.page = 99
    settle(view)
    assert view.page == 4  # clamped to the last page
    view.predicted_filter = "positive"
    settle(view)
    assert view.page == 0  # a new filter starts at the first page


def test_filters(view: DatasetView, corpus: CorpusExplanation) -> None:
    frame = corpus.to_dataframe()
    view.page_size = 100
    cases = [
        ({"predicted_filter": "negative"}, frame["predicted"] == "negative"),
        ({"label_filter": "positive"}, frame["label"] == "positive"),
        ({"correct_filter": "wrong"}, frame["correct"].eq(False)),
        ({"confidence_range": [0.5, 0.52]}, frame["confidence"].between(0.5, 0.52)),
        ({"large_delta": True}, frame["delta_share"] > 0.01),
        ({"contains": "boring"}, frame["text"].str.contains(r"\bboring\b", case=False)),
    ]
    for change, expected in cases:  # each filter alone
        view.set_state(NO_FILTER)
        view.set_state(change)
        settle(view)
        wanted = set(frame.loc[expected.fillna(False).astype(bool), "id"].astype(str))
        assert set(ids(view)) == wanted, change
        assert view.n_matching == len(wanted)
    view.contains = "bor"  # whole words only
    settle(view)
    assert view.n_matching == 0 and view.rows == []


def test_click_shows_chips(view: DatasetView, corpus: CorpusExplanation) -> None:
    view.vue_select_row("3")
    settle(view)
    exp = corpus[3]
    shown = select(exp, None, "word")
    assert view.chips.tokens == shown.tokens and view.chips.scores == shown.scores
    assert view.detail["prediction"] == exp.predicted_class
    assert view.detail["badge"]["delta"] == exp.delta[exp.predicted]
    assert view.detail["text"] == TEXTS[3] and view.detail["label"] == "positive"
    view.vue_select_row("45")  # the empty text
    settle(view)
    assert view.detail == {"id": "45", "error": "the text is empty"} and view.chips.tokens == []
    view.vue_select_row("45")
    settle(view)
    assert view.selected_id == "" and view.detail == {}
    view.vue_select_row("no such id")
    assert view.selected_id == ""


def test_word_importance_bars(view: DatasetView, corpus: CorpusExplanation) -> None:
    words = corpus.word_importance("positive", min_count=5)
    top = words.reindex(words["mean"].abs().sort_values(ascending=False).index)
    assert view.word_bars.tokens == list(top.index)
    np.testing.assert_allclose(view.word_bars.scores, top["mean"])
    assert "towards positive" in view.importance_note
    view.importance_class = "negative"
    settle(view)
    assert view.word_bars.label == "negative"
    np.testing.assert_allclose(
        view.word_bars.scores[:3], corpus.word_importance("negative")["mean"][top.index[:3]]
    )


def test_open_explorer(view: DatasetView, corpus: CorpusExplanation) -> None:
    view.vue_open_explorer()
    assert view.explorer is None  # nothing selected
    view.vue_select_row("7")
    settle(view)
    view.vue_open_explorer()
    explorer = view.explorer
    assert explorer is not None and explorer.text == TEXTS[7] and explorer.n_steps == 8
    assert explorer.wait(30)
    np.testing.assert_allclose(explorer.explanation.scores, corpus[7].scores, atol=1e-6)
    view.vue_select_row("8")
    settle(view)
    view.vue_open_explorer()
    assert view.explorer is not explorer and view.explorer.text == TEXTS[8]


def test_open_explorer_keeps_the_runs_baseline(explainer: igw.Explainer, tmp_path) -> None:
    # issue 17: a ZeroBaseline run reopened on the default baseline showed other numbers
    out = tmp_path / "zero.parquet"
    explain_many(explainer, TEXTS[:4], n_steps=8, baseline=igw.ZeroBaseline(), out=out,
                 progress=False)  # fmt: skip
    corpus = CorpusExplanation.load(out)
    view = DatasetView(corpus, explainer)
    try:
        view.vue_select_row("2")
        settle(view)
        view.vue_open_explorer()
        explorer = view.explorer
        assert explorer is not None and explorer.baseline == "[zero]" and not view.explore_note
        assert explorer.wait(30)
        shown = explorer.explanation
        assert shown.baseline == corpus[2].baseline == "zero embeddings"
        np.testing.assert_allclose(shown.scores, corpus[2].scores, rtol=0, atol=1e-6)
        default = explainer.explain(TEXTS[2], n_steps=8)
        assert np.abs(default.scores - corpus[2].scores).max() > 1e-3
    finally:
        view.close()


def test_open_explorer_says_when_the_baseline_is_unknown(explainer: igw.Explainer) -> None:
    old = CorpusExplanation.load(REPO / "tests/corpus/data/corpus_format1.parquet")
    view = DatasetView(old, explainer)
    try:
        view.vue_select_row("a")
        settle(view)
        view.vue_open_explorer()
        assert view.explorer is None
        assert "baseline (zero embeddings) cannot be reproduced" in view.explore_note
        assert "results format 1" in view.explore_note
        view.vue_select_row("c")
        assert view.explore_note == ""
    finally:
        view.close()


def test_no_vue_option_names_and_no_v_html(view: DatasetView) -> None:
    ours = set(view.traits(sync=True)) - set(v.VuetifyTemplate.class_traits(sync=True))
    assert "rows" in ours and not ours & VUE_OPTIONS
    assert "v-html" not in view.template
    assert re.search(r'class="igw-dataset-row"', view.template)


def test_bad_arguments(corpus: CorpusExplanation, explainer: igw.Explainer) -> None:
    with pytest.raises(TypeError, match="shows a CorpusExplanation"):
        DatasetView(corpus.to_dataframe())  # type: ignore[arg-type]
    three = igw.Explainer(toy_bundle("gru", n_classes=3))
    with pytest.raises(ValueError, match="are not the corpus's"):
        DatasetView(corpus, three)
    with pytest.raises(ValueError, match="page_size"):
        DatasetView(corpus, page_size=0)
    view = DatasetView(corpus)
    try:
        with pytest.raises(Exception, match="sort_by must be one of"):
            view.sort_by = "text"
        with pytest.raises(Exception, match="not a class"):
            view.predicted_filter = "neutral"
        assert not view.can_explore
    finally:
        view.close()


def test_25000_rows_stay_responsive(corpus: CorpusExplanation) -> None:
    """Only the visible page is sent; a sort or filter over 25,000 rows takes well under 1 s."""
    first = corpus._store.group(0)
    n = 25_000
    reps = -(-n // first.num_rows)
    table = pa.concat_tables([first] * reps).slice(0, n)
    table = table.set_column(0, "id", pa.array(np.arange(n), pa.int64()))
    table = table.set_column(1, "order", pa.array(np.arange(n), pa.int64()))
    big = CorpusExplanation(_Store(first.schema, tables=[table]))
    view = DatasetView(big, page_size=25)
    try:
        assert view.wait(60)
        assert view.n_total == n and len(view.rows) == 25
        for change in ({"sort_by": "delta"}, {"contains": "boring"}, {"page": 30}):
            started = time.perf_counter()
            view.set_state(change)
            settle(view)
            assert time.perf_counter() - started < 1.5, change
            assert len(view.rows) == 25
    finally:
        view.close()


def test_browser_copy_stays_in_sync_while_the_worker_publishes(
    corpus: CorpusExplanation,
) -> None:
    """Browser changes on the kernel's thread and results from the worker: no update is lost.

    Rows that never reached the browser and a sort direction it never saw were the flaky
    browser tests (see :mod:`live_threads`).
    """
    view = DatasetView(corpus, page_size=8, debounce=0.0)
    assert view.wait(30)

    def step(browser: BrowserCopy, rnd: random.Random) -> None:
        r = rnd.random()
        if r < 0.3:
            content = {"event": "sort", "data": rnd.choice(["id", "confidence", "id"])}
            browser_message(view, {"method": "custom", "content": content})
        elif r < 0.65:
            browser.change(view, {"page": rnd.randint(0, 5)})
        else:
            browser.change(view, {"contains": rnd.choice(["", "boring", "good"])})

    keys = ("rows", "rows_query", "page", "sort_by", "descending", "n_matching", "contains")
    assert_no_lost_update(view, step, keys, rounds=100, seed=7, timeout=30)


def test_a_late_result_does_not_move_the_page_back(view: DatasetView) -> None:
    """A result computed for page 0 that arrives after the browser moved to page 1."""
    view.vue_sort("id")
    settle(view)
    older = replace(view.query(), page=0)
    late = next(view._stages(older, Request(0, older)))
    view.page = 1
    settle(view)
    assert ids(view) == [str(i) for i in range(10, 20)]
    with view.hold_sync():
        view._show(late)  # as _publish would if it won the race against page=1's request
    assert view.page == 1, "a stale result put the browser's page back"
    assert view.rows_query["page"] == 0  # the browser sees these rows are not page 1's
    view.page = 99
    settle(view)
    assert view.page == 4 and view.rows_query["page"] == 4  # its own page is still clamped


def test_rows_query_names_the_rows_query(view: DatasetView) -> None:
    """rows_query holds the trait values the rows answer, for the browser to compare."""
    view.set_state({"contains": "boring", "sort_by": "id"})
    settle(view)
    mine = {key: getattr(view, key) for key in view.rows_query}
    assert view.rows_query == mine
    assert set(mine) == {
        "sort_by", "descending", "predicted_filter", "label_filter", "correct_filter",
        "confidence_range", "large_delta", "contains", "page", "page_size", "disagree",
    }  # fmt: skip
