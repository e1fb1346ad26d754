"""DatasetView of two runs in Voila: sortable change columns, the disagree filter, paired chips."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Locator
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusComparison

from .nbfiles import write_notebook
from .pages import RecordedPage, chip_state, render, screenshot, wait_for
from .servers import Server, serve_voila

pytestmark = pytest.mark.browser

XSS = "great <img src=x onerror=\"document.title='pwned'\"> film"
TEXTS = [
    "a great film", "awful plot and boring cast", "great fun", "not good at all",
    "boring boring film", "a fun cast", "bad plot", "good film", "awful", XSS,
    "great great great", "not bad", "fun but awful", "a good cast", "",
]  # fmt: skip
PAGE_SIZE = 6
NAMES = ("gru", "mean")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusComparison]:
    folder = tmp_path_factory.mktemp("dataset_compare")
    paths = [folder / "a.parquet", folder / "b.parquet"]
    bundles = (toy_bundle("gru"), toy_bundle("mean", seed=3))
    for path, bundle in zip(paths, bundles, strict=True):
        igw.Explainer(bundle).explain_many(TEXTS, n_steps=8, out=path, progress=False)
    a, b = (igw.CorpusExplanation.load(p) for p in paths)
    write_notebook(
        folder / "compare.ipynb",
        [
            "from ig_widgets.engine.corpus import CorpusExplanation\n"
            "from ig_widgets.widgets.dataset_view import DatasetView\n"
            f"a = CorpusExplanation.load({str(paths[0])!r})\n"
            f"b = CorpusExplanation.load({str(paths[1])!r})\n"
            f"view = DatasetView(a, b, names={NAMES!r}, min_count=1, page_size={PAGE_SIZE})\n"
            "view",
        ],
    )
    return folder, igw.compare_corpora(a, b, names=NAMES, min_count=1)


@pytest.fixture(scope="module")
def voila(runs: tuple[Path, CorpusComparison], server_home: Path) -> Iterator[Server]:
    yield from serve_voila(runs[0], server_home, "voila_dataset_compare")


@pytest.fixture(scope="module")
def view(voila: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    url = f"{voila.url}/voila/render/compare.ipynb"
    return module_page, render(module_page.page, url, ".igw-dataset", ".igw-dataset-row")


def current(root: Locator, **want: str) -> list[str]:
    """Row ids once the rows answer the browser's query and the root's data match ``want``."""
    want["rowsCurrent"] = "true"

    def read() -> dict[str, str]:
        return root.evaluate("el => ({...el.dataset})")

    wait_for(read, lambda s: all(s.get(k) == v for k, v in want.items()))
    return root.locator(".igw-dataset-row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def ranked(comparison: CorpusComparison, by: str, keep: Any = None) -> list[str]:
    frame = comparison.texts()
    if keep is not None:
        frame = frame[keep(frame)]
    frame = frame.sort_values(by, ascending=False, kind="stable", na_position="last")
    return [str(i) for i in frame["id"][:PAGE_SIZE]]


def test_rows_sort_and_disagree_filter(
    view: tuple[RecordedPage, Locator], runs: tuple[Path, CorpusComparison]
) -> None:
    rec, root = view
    comparison = runs[1]
    assert root.get_attribute("data-mode") == "comparison"
    first = current(root, sortBy="disagreement", descending="true")
    assert first == ranked(comparison, "disagreement")
    headers = root.locator("th[data-sort]").all_inner_texts()
    assert any("predicted (gru)" in h for h in headers)
    assert any("F (mean)" in h for h in headers)
    root.locator("th[data-sort=score_change]").click()
    assert current(root, sortBy="score_change", descending="true") == ranked(
        comparison, "score_change"
    )
    shown = root.locator(".igw-dataset-row td[data-key=score_change]").all_inner_texts()
    assert [float(x) for x in shown] == sorted((float(x) for x in shown), reverse=True)
    texts = comparison.texts()
    disagree = texts["agree"].eq(False).fillna(False).astype(bool)
    assert 0 < disagree.sum() < len(texts)
    root.get_by_label("disagree").check()
    wait_for(lambda: root.get_attribute("data-n-matching"), lambda n: n == str(disagree.sum()))
    ids = current(root, sortBy="score_change")
    assert ids == ranked(comparison, "score_change", lambda f: disagree)
    assert set(root.locator(".igw-dataset-row td[data-key=agree]").all_inner_texts()) == {"✗"}
    root.get_by_label("disagree").uncheck()
    wait_for(lambda: root.get_attribute("data-n-matching"), lambda n: n == str(len(texts)))
    screenshot(rec.page, "voila_dataset_compare", root)
    rec.assert_local()


def _alphas(row: Locator) -> list[float]:
    colours = row.locator(".igw-chip").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    return [float(m[1]) if (m := re.search(r"rgba\(.*,\s*([\d.]+)\)", c)) else 1.0 for c in colours]


def test_click_shows_both_runs_on_one_scale_and_hostile_text_is_inert(
    view: tuple[RecordedPage, Locator], runs: tuple[Path, CorpusComparison]
) -> None:
    rec, root = view
    comparison = runs[1]
    title = rec.page.title()
    texts = comparison.texts()
    key = str(texts.loc[texts["text"] == XSS, "id"].iloc[0])
    root.locator("th[data-sort=id]").click()
    ids = current(root, sortBy="id", descending="false")
    while key not in ids:
        before = ids
        root.get_by_label("next page").click()
        ids = wait_for(lambda: current(root, sortBy="id"), lambda found, old=before: found != old)
    root.locator(f".igw-dataset-row[data-id='{key}']").click()
    detail = root.locator(f".igw-dataset-detail[data-id='{key}']")
    detail.wait_for(timeout=60_000)
    words, attr_a, attr_b = comparison.aligned(int(key))
    rows = [detail.locator(f".igw-dataset-run[data-run='{name}']") for name in NAMES]
    for row, attr in zip(rows, (attr_a, attr_b), strict=True):
        wait_for(lambda row=row: [t for t, _, _ in chip_state(row)], lambda t: t == words)
        assert np.allclose([s for _, s, _ in chip_state(row)], attr, rtol=1e-6, atol=1e-9)
    # one scale: each chip's strength is |score| / (the larger row's max |score|)
    top = max(np.abs(attr_a).max(), np.abs(attr_b).max())
    alphas = np.array(_alphas(rows[0]) + _alphas(rows[1]))
    strength = np.abs(np.concatenate([attr_a, attr_b])) / top
    assert np.allclose(alphas, strength * alphas.max(), atol=5e-3), (alphas, strength)
    weaker = 0 if np.abs(attr_a).max() < np.abs(attr_b).max() else 1
    assert max(_alphas(rows[weaker])) < alphas.max() - 1e-3  # not stretched to full colour
    assert root.locator("img").count() == 0 and rec.page.title() == title
    rec.assert_local()
