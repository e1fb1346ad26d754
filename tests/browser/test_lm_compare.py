"""Compare and DatasetView on a prompted language model in Voila, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Locator

from .explorer_ui import choose
from .nbfiles import write_notebook
from .pages import RecordedPage, screenshot, wait_until
from .servers import Server, serve_voila

pytestmark = pytest.mark.browser

STEPS = 8
PROMPT = "Review: {text}\nSentiment:"
LABELS = {"negative": " bad", "positive": " good"}  # the demo classifier's class names
TEXT = "a gorgeous , moving film with a dull plot"
TEXTS = [
    "a gorgeous, moving film",
    "the plot is thin and the jokes are stale",
    "a fine film <img src=x onerror=\"document.title='pwned'\"> with a great cast",
    "boring boring boring",
]
TRUE = ["positive", "negative", "positive", "negative"]

MODELS = f"""
import torch
torch.set_num_threads(1)
import ig_widgets as igw
lm = igw.load_demo_model("gpt_lm")
prompted = igw.Explainer(lm.model, tokenizer=lm.tokenizer, prompt={PROMPT!r}, labels={LABELS!r})
lstm = igw.Explainer(igw.load_demo_model())
"""


def compare_cell() -> str:
    return (
        f"compare = igw.Compare([lstm, prompted], text={TEXT!r}, n_steps={STEPS}, "
        "baseline='[default]', names=['awd_lstm', 'gpt_lm prompted'])\n"
        "display(compare)"
    )


def dataset_cell(run: Path) -> str:
    return (
        "from ig_widgets.engine.corpus import CorpusExplanation\n"
        f"display(igw.DatasetView(CorpusExplanation.load({str(run)!r}), page_size=8))"
    )


def scores(root: Locator) -> list[float]:
    """The ``data-score`` of every chip under ``root``."""
    found = root.locator(".igw-chip").evaluate_all("cs => cs.map(c => c.dataset.score)")
    return [float(x) for x in found]


def text_words(exp: Any, target: int | str) -> list[float]:
    """The word scores of the text's words (the template's and ``<s>`` left out)."""
    scores = exp.for_class(target).word_scores
    return [
        float(scores[i])
        for i, word in enumerate(exp.words)
        if not all(exp.special[t] for t in word.tokens)
    ]


@pytest.fixture(scope="module")
def prompted() -> Any:
    """The prompted demo LM in the test process (expected numbers)."""
    import torch

    import ig_widgets as igw

    torch.set_num_threads(1)
    lm = igw.load_demo_model("gpt_lm")
    return igw.Explainer(lm.model, tokenizer=lm.tokenizer, prompt=PROMPT, labels=LABELS)


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory: pytest.TempPathFactory, prompted: Any) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("lm_compare")
    corpus = prompted.explain_many(
        TEXTS, TRUE, n_steps=STEPS, out=folder / "run.parquet", progress=False
    )
    write_notebook(folder / "compare.ipynb", [MODELS, compare_cell()])
    write_notebook(folder / "dataset.ipynb", [MODELS, dataset_cell(folder / "run.parquet")])
    return folder, corpus


@pytest.fixture(scope="module")
def voila_lm(lm_folder: tuple[Path, Any], server_home: Path) -> Iterator[Server]:
    yield from serve_voila(lm_folder[0], server_home, "voila_lm_compare")


def test_compare_an_lstm_beside_a_prompted_lm_word_by_word(
    voila_lm: Server, recorded: RecordedPage, prompted: Any
) -> None:
    page = recorded.page
    page.goto(f"{voila_lm.url}/voila/render/compare.ipynb", timeout=180_000)
    rows = page.locator(".igw-compare-row")
    status = page.locator(".igw-compare .igw-status")
    wait_until(lambda: rows.count() == 2, timeout=180, what="two model rows")
    wait_until(lambda: f"{STEPS} steps" in status.inner_text(), timeout=180, what="a result")
    wait_until(lambda: "refining" not in status.inner_text(), timeout=180, what="the final")

    def words(i: int) -> list[str]:
        return [t.strip() for t in rows.nth(i).locator(".igw-chip").all_inner_texts()]

    wait_until(lambda: words(0) and words(1), timeout=120, what="chips in both rows")
    assert words(0) == words(1) == TEXT.split()  # aligned; the template stays apart
    names = [rows.nth(i).get_attribute("data-model") for i in range(2)]
    assert names == ["awd_lstm", "gpt_lm prompted"]

    exp = prompted.explain(TEXT, n_steps=STEPS)
    shown = scores(rows.nth(1))
    np.testing.assert_allclose(shown, text_words(exp, exp.predicted), rtol=0, atol=1e-6)

    before = shown
    choose(page, page.locator(".igw-compare").first, "target", "negative")
    wait_until(
        lambda: scores(rows.nth(1)) != before,
        timeout=60,
        what="the prompted row to follow the target",
    )
    negative = scores(rows.nth(1))
    np.testing.assert_allclose(negative, text_words(exp, "negative"), rtol=0, atol=1e-6)
    screenshot(page, "voila_lm_compare")
    recorded.assert_local()


def test_dataset_view_of_a_prompted_lm_run(
    voila_lm: Server, recorded: RecordedPage, lm_folder: tuple[Path, Any]
) -> None:
    page = recorded.page
    corpus = lm_folder[1]
    page.goto(f"{voila_lm.url}/voila/render/dataset.ipynb", timeout=180_000)
    root = page.locator(".igw-dataset").first
    root.locator(".igw-dataset-row").first.wait_for(timeout=180_000)
    wait_until(
        lambda: root.locator(".igw-dataset-row").count() == len(TEXTS),
        timeout=60,
        what="every row",
    )
    assert root.get_attribute("data-n-matching") == str(len(TEXTS))
    frame = corpus.to_dataframe()
    assert frame["error"].isna().all() or (frame["error"] == "").all()
    row = root.locator(".igw-dataset-row[data-id='2']")
    assert "onerror" in row.inner_text()  # the markup is text
    row.click()
    detail = root.locator(".igw-dataset-detail[data-id='2']")
    detail.wait_for(timeout=60_000)
    chips = detail.locator(".igw-chips .igw-chip")
    expected = [w.text for w in corpus[2].words]
    wait_until(lambda: len(chips.all_inner_texts()) == len(expected), timeout=60, what="chips")
    assert [t.strip() for t in chips.all_inner_texts()] == expected
    np.testing.assert_allclose(
        scores(detail), corpus[2].word_scores()[corpus[2].predicted], rtol=0, atol=1e-9
    )
    assert page.locator("img[src=x]").count() == 0 and page.title() != "pwned"
    screenshot(page, "voila_lm_dataset_view", root)
    recorded.assert_local()
