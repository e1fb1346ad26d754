"""DatasetView in Voila: rows render, sorting and filtering change them, a click shows chips."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, explain_many

from .explorer_ui import choose
from .nbfiles import write_notebook
from .pages import RecordedPage, render, screenshot, wait_for
from .servers import Server, serve_voila

pytestmark = pytest.mark.browser

XSS = "A fine film <img src=x onerror=\"document.title='pwned'\"> with a great cast."
TEXTS = [
    "A gorgeous, moving film with a great cast.",
    "The plot is thin and the jokes are stale; I was bored.",
    "Don't bother: the second half drags.",
    "I loved every minute of it!",
    "A dull, boring mess.",
    "Wonderful music and a clever plot.",
    "Terrible acting, awful script.",
    "Fun for the whole family.",
    "Boring boring boring.",
    "The best film of the year.",
    XSS,
    "",
]
LABELS = ["positive", "negative", "negative", "positive", "negative", "positive",
          "negative", "positive", "negative", "positive", "positive", "negative"]  # fmt: skip
PAGE_SIZE = 8
SLOW = 3.0  # seconds the slow view's kernel takes per query


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusExplanation]:
    folder = tmp_path_factory.mktemp("dataset_view")
    explainer = igw.Explainer(igw.load_demo_model())
    corpus = explain_many(
        explainer, TEXTS, LABELS, n_steps=8, out=folder / "run.parquet", progress=False
    )
    write_notebook(
        folder / "dataset.ipynb",
        [
            "from ig_widgets.engine.corpus import CorpusExplanation\n"
            "from ig_widgets.widgets.dataset_view import DatasetView\n"
            f"view = DatasetView(CorpusExplanation.load({str(folder / 'run.parquet')!r}), "
            f"page_size={PAGE_SIZE})\n"
            "view",
            # the same table behind a kernel that takes SLOW s per query, to see the browser
            # mark the rows it still shows as stale while Python computes the new ones
            "import time\n"
            "from ipywidgets import VBox\n"
            "class SlowView(DatasetView):\n"
            "    slow = 0.0\n"
            "    def matching(self, query=None):\n"
            "        time.sleep(self.slow)\n"
            "        return super().matching(query)\n"
            f"slow = SlowView(CorpusExplanation.load({str(folder / 'run.parquet')!r}), "
            f"page_size={PAGE_SIZE})\n"
            "slow.wait(60)\n"
            f"slow.slow = {SLOW}\n"
            "VBox([slow]).add_class('igw-slow')",
        ],
    )
    return folder, corpus


@pytest.fixture(scope="module")
def voila_dataset(
    corpus_file: tuple[Path, CorpusExplanation], server_home: Path
) -> Iterator[Server]:
    yield from serve_voila(corpus_file[0], server_home, "voila_dataset")


@pytest.fixture(scope="module")
def view(voila_dataset: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    url = f"{voila_dataset.url}/voila/render/dataset.ipynb"
    # the first table; the second one is the slow view's
    return module_page, render(module_page.page, url, ".igw-dataset", ".igw-dataset-row")


def row_ids(root: Locator) -> list[str]:
    return root.locator(".igw-dataset-row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def state(root: Locator) -> dict[str, str | None]:
    """The table's state as the browser shows it, and whether its rows answer that state."""
    return root.evaluate(
        "el => ({sort: el.dataset.sortBy, descending: el.dataset.descending, "
        "page: el.dataset.page, current: el.dataset.rowsCurrent})"
    )


def current_rows(root: Locator, **want: str) -> list[str]:
    """The row ids once the rows answer the browser's query and the state is ``want``.

    ``data-rows-current`` is "true" only when the rows Python sent belong to the sort,
    filters and page the browser shows (Python echoes the query with its rows), so the ids
    read afterwards are that query's and never an older one's.
    """
    want["current"] = "true"
    wait_for(lambda: state(root), lambda s: all(s[k] == v for k, v in want.items()))
    return row_ids(root)


def sort_by_id(root: Locator) -> None:
    """Sort by id, ascending, from whatever order the table is in; the first page."""
    if state(root)["sort"] != "id":
        root.locator("th[data-sort=id]").click()  # a new key sorts ids ascending
        current_rows(root, sort="id")
    if state(root)["descending"] == "true":
        root.locator("th[data-sort=id]").click()
        current_rows(root, sort="id", descending="false")
    if state(root)["page"] != "0":
        root.get_by_label("previous page").click()
    first = [str(i) for i in range(PAGE_SIZE)]
    assert current_rows(root, sort="id", descending="false", page="0") == first


def expected_ids(corpus: CorpusExplanation, frame_filter: Any = None, by: str = "confidence",
                 descending: bool = True) -> list[str]:  # fmt: skip
    frame = corpus.to_dataframe()
    if frame_filter is not None:
        frame = frame[frame_filter(frame)]
    frame = frame.sort_values(by, ascending=not descending, kind="stable", na_position="last")
    return [str(i) for i in frame["id"][:PAGE_SIZE]]


def test_rows_render(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    assert current_rows(root, sort="confidence", descending="true") == expected_ids(corpus)
    assert root.get_attribute("data-n-matching") == str(len(TEXTS))
    assert root.locator(".igw-dataset-count").inner_text().startswith(f"1–8 of {len(TEXTS)}")
    screenshot(rec.page, "voila_dataset_view", root)
    rec.assert_local()


def test_sorting_changes_rows(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    ascending = [str(i) for i in range(PAGE_SIZE)]
    root.locator("th[data-sort=id]").click()
    assert current_rows(root, sort="id", descending="false", page="0") == ascending
    root.locator("th[data-sort=id]").click()
    ids = current_rows(root, sort="id", descending="true", page="0")
    assert ids[0] == str(len(TEXTS) - 1)
    root.locator("th[data-sort=confidence]").click()
    assert current_rows(root, sort="confidence", descending="true") == expected_ids(corpus)
    root.get_by_label("next page").click()
    assert len(current_rows(root, page="1")) == len(TEXTS) - PAGE_SIZE
    root.get_by_label("previous page").click()
    assert current_rows(root, page="0") == expected_ids(corpus)
    rec.assert_local()


def test_double_click_on_a_header(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    """Two quick clicks on a new key: sorted by it, then reversed (each click counts once)."""
    rec, root = view
    corpus = corpus_file[1]
    sort_by_id(root)
    root.locator("th[data-sort=confidence]").dblclick()  # largest first, then smallest
    ids = current_rows(root, sort="confidence", descending="false", page="0")
    assert ids == expected_ids(corpus, descending=False)
    root.locator("th[data-sort=id]").dblclick()  # id ascending, then descending
    ids = current_rows(root, sort="id", descending="true", page="0")
    assert ids == [str(i) for i in range(len(TEXTS) - 1, len(TEXTS) - 1 - PAGE_SIZE, -1)]
    rec.assert_local()


def test_filtering_changes_rows(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    if state(root)["sort"] != "confidence":
        root.locator("th[data-sort=confidence]").click()  # a new key sorts largest first
    assert current_rows(root, sort="confidence", descending="true") == expected_ids(corpus)
    choose(rec.page, root, "predicted", "negative")
    negative = expected_ids(corpus, lambda f: f["predicted"] == "negative")
    wait_for(lambda: row_ids(root), lambda ids: ids == negative)
    assert current_rows(root) == negative
    choose(rec.page, root, "predicted", "any prediction")
    wait_for(lambda: row_ids(root), lambda ids: ids == expected_ids(corpus))
    assert current_rows(root) == expected_ids(corpus)

    box = root.locator("input[aria-label=contains]")
    box.fill("boring")
    time.sleep(0.5)  # nothing to wait for: typing must not send a query at all
    assert state(root)["current"] == "true", "typing alone must not change the query"
    assert row_ids(root) == expected_ids(corpus), "typing alone must not filter"
    box.press("Enter")
    boring = expected_ids(corpus, lambda f: f["text"].str.contains(r"\bboring\b", case=False))
    assert len(boring) == 2
    wait_for(lambda: row_ids(root), lambda ids: ids == boring)
    assert current_rows(root) == boring
    box.fill("")
    box.press("Enter")
    wait_for(lambda: row_ids(root), lambda ids: len(ids) == PAGE_SIZE)
    assert current_rows(root) == expected_ids(corpus)

    root.get_by_label("large delta").check()
    failing = expected_ids(corpus, lambda f: f["delta_share"] > 0.01)
    wait_for(lambda: row_ids(root), lambda ids: ids == failing)
    assert current_rows(root) == failing
    root.get_by_label("large delta").uncheck()
    wait_for(lambda: row_ids(root), lambda ids: len(ids) == PAGE_SIZE)
    assert current_rows(root) == expected_ids(corpus)
    rec.assert_local()


def test_click_shows_chips(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    sort_by_id(root)
    root.locator(".igw-dataset-row[data-id='4']").click()
    detail = root.locator(".igw-dataset-detail[data-id='4']")
    detail.wait_for(timeout=30_000)
    chips = detail.locator(".igw-chips .igw-chip")
    words = [w.text for w in corpus[4].words]
    wait_for(lambda: chips.all_inner_texts(), lambda texts: len(texts) == len(words))
    assert [t.strip() for t in chips.all_inner_texts()] == words
    scores = [float(s) for s in chips.evaluate_all("cs => cs.map(c => c.dataset.score)")]
    expected = corpus[4].word_scores()[corpus[4].predicted]
    assert max(abs(a - b) for a, b in zip(scores, expected, strict=True)) < 1e-9
    assert corpus[4].predicted_class in detail.locator(".igw-prediction").inner_text()
    screenshot(rec.page, "voila_dataset_view_detail", root)
    rec.assert_local()


def test_markup_in_a_text_stays_text(view: tuple[RecordedPage, Locator]) -> None:
    rec, root = view
    page = rec.page
    sort_by_id(root)  # id 10 (the markup) is on the second page
    root.get_by_label("next page").click()
    assert "10" in current_rows(root, sort="id", descending="false", page="1")
    row = root.locator(".igw-dataset-row[data-id='10']")
    assert "onerror" in row.inner_text()
    row.click()
    root.locator(".igw-dataset-detail[data-id='10'] .igw-chip").first.wait_for(timeout=90_000)
    assert page.locator("img[src=x]").count() == 0
    assert page.title() != "pwned"
    rec.assert_local()


def test_rows_of_an_older_query_are_marked_stale(view: tuple[RecordedPage, Locator]) -> None:
    """The browser moves to page 2 at once; until Python's rows for it come, the rows shown
    are page 1's: marked stale (dimmed, aria-busy) and counted as page 1's, never as page 2."""
    rec, _ = view
    slow = rec.page.locator(".igw-slow .igw-dataset")
    first = current_rows(slow, page="0")
    assert len(first) == PAGE_SIZE
    slow.get_by_label("next page").click()
    started = time.monotonic()
    shown = state(slow)
    ids = row_ids(slow)
    busy = slow.locator(".igw-dataset-table").get_attribute("aria-busy")
    count = slow.locator(".igw-dataset-count").inner_text()
    assert time.monotonic() - started < SLOW / 2, "too slow to look before Python answered"
    assert shown["page"] == "1" and shown["current"] == "false", shown
    assert ids == first and busy == "true"
    assert count.startswith(f"1–{PAGE_SIZE} of"), count
    rest = current_rows(slow, page="1")
    assert len(rest) == len(TEXTS) - PAGE_SIZE and not set(rest) & set(first)
    assert slow.locator(".igw-dataset-table").get_attribute("aria-busy") == "false"
    rec.assert_local()
