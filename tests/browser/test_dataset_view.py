"""DatasetView in Voila: rows render, sorting and filtering change them, a click shows chips."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, explain_many

from .explorer_ui import choose
from .nbfiles import write_notebook
from .pages import RecordedPage, screenshot
from .servers import Server, free_port, server_env, start_server, voila_cmd

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
            "view"
        ],
    )
    return folder, corpus


@pytest.fixture(scope="module")
def voila_dataset(
    corpus_file: tuple[Path, CorpusExplanation], server_home: Path
) -> Iterator[Server]:
    folder, _ = corpus_file
    port = free_port()
    server = start_server(
        voila_cmd(folder, port),
        url=f"http://127.0.0.1:{port}",
        probe="/",
        log=server_home / "voila_dataset.log",
        cwd=folder,
        env=server_env(server_home),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def view(voila_dataset: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    page = module_page.page
    page.goto(f"{voila_dataset.url}/voila/render/dataset.ipynb", timeout=180_000)
    root = page.locator(".igw-dataset")
    root.locator(".igw-dataset-row").first.wait_for(timeout=180_000)
    return module_page, root


def row_ids(root: Locator) -> list[str]:
    return root.locator(".igw-dataset-row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def wait_for(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 90.0) -> Any:
    """Poll ``read()`` until ``ok`` holds; fails with the last value."""
    deadline = time.monotonic() + timeout
    value = read()
    while not ok(value):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; last value {value!r}")
        time.sleep(0.1)
        value = read()
    return value


def sort_by_id(root: Locator) -> None:
    """Sort by id, ascending, from whatever order the table is in; the first page."""
    if root.get_attribute("data-sort-by") != "id":
        root.locator("th[data-sort=id]").click()  # a new key sorts ids ascending
        wait_for(lambda: root.get_attribute("data-sort-by"), lambda key: key == "id")
    if root.get_attribute("data-descending") == "true":
        root.locator("th[data-sort=id]").click()
        wait_for(lambda: root.get_attribute("data-descending"), lambda d: d == "false")
    first = [str(i) for i in range(PAGE_SIZE)]
    if root.get_attribute("data-page") != "0":
        root.get_by_label("previous page").click()
    wait_for(lambda: row_ids(root), lambda ids: ids == first)


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
    assert wait_for(lambda: row_ids(root), lambda ids: len(ids) == PAGE_SIZE) == expected_ids(
        corpus
    )
    assert root.get_attribute("data-n-matching") == str(len(TEXTS))
    assert root.locator(".igw-dataset-count").inner_text().startswith(f"1–8 of {len(TEXTS)}")
    screenshot(rec.page, "voila_dataset_view", root)
    rec.assert_local()


def test_sorting_changes_rows(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    root.locator("th[data-sort=id]").click()
    ascending = [str(i) for i in range(PAGE_SIZE)]
    wait_for(lambda: row_ids(root), lambda ids: ids == ascending)
    assert root.get_attribute("data-sort-by") == "id"
    wait_for(lambda: root.get_attribute("data-descending"), lambda d: d == "false")
    root.locator("th[data-sort=id]").click()
    wait_for(lambda: root.get_attribute("data-descending"), lambda d: d == "true")
    wait_for(lambda: row_ids(root), lambda ids: ids[0] == str(len(TEXTS) - 1))
    root.locator("th[data-sort=confidence]").click()
    wait_for(lambda: row_ids(root), lambda ids: ids == expected_ids(corpus))
    root.get_by_label("next page").click()
    wait_for(lambda: row_ids(root), lambda ids: len(ids) == len(TEXTS) - PAGE_SIZE)
    assert root.get_attribute("data-page") == "1"
    root.get_by_label("previous page").click()
    wait_for(lambda: row_ids(root), lambda ids: ids == expected_ids(corpus))
    rec.assert_local()


def test_filtering_changes_rows(
    view: tuple[RecordedPage, Locator], corpus_file: tuple[Path, CorpusExplanation]
) -> None:
    rec, root = view
    corpus = corpus_file[1]
    choose(rec.page, root, "predicted", "negative")
    negative = expected_ids(corpus, lambda f: f["predicted"] == "negative")
    wait_for(lambda: row_ids(root), lambda ids: ids == negative)
    choose(rec.page, root, "predicted", "any prediction")
    wait_for(lambda: row_ids(root), lambda ids: ids == expected_ids(corpus))

    box = root.locator("input[aria-label=contains]")
    box.fill("boring")
    time.sleep(0.5)
    assert row_ids(root) == expected_ids(corpus), "typing alone must not filter"
    box.press("Enter")
    boring = expected_ids(corpus, lambda f: f["text"].str.contains(r"\bboring\b", case=False))
    assert len(boring) == 2
    wait_for(lambda: row_ids(root), lambda ids: ids == boring)
    box.fill("")
    box.press("Enter")
    wait_for(lambda: row_ids(root), lambda ids: len(ids) == PAGE_SIZE)

    root.get_by_label("large delta").check()
    failing = expected_ids(corpus, lambda f: f["delta_share"] > 0.01)
    wait_for(lambda: row_ids(root), lambda ids: ids == failing)
    root.get_by_label("large delta").uncheck()
    wait_for(lambda: row_ids(root), lambda ids: len(ids) == PAGE_SIZE)
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
    wait_for(lambda: row_ids(root), lambda ids: "10" in ids)  # 90 s: a busy machine is slow
    row = root.locator(".igw-dataset-row[data-id='10']")
    assert "onerror" in row.inner_text()
    row.click()
    root.locator(".igw-dataset-detail[data-id='10'] .igw-chip").first.wait_for(timeout=90_000)
    assert page.locator("img[src=x]").count() == 0
    assert page.title() != "pwned"
    rec.assert_local()
