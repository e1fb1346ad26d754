"""The corpus report opened from disk in Chromium, offline: every control, hostile texts inert."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.views.report import corpus_report
from ig_widgets.views.selection import select

from .pages import RecordedPage, chip_state, screenshot

pytestmark = pytest.mark.browser

HOSTILE = [
    "a great film <img src=x onerror=\"window.pwned=1;document.title='pwned'\"> indeed",
    "awful </script><script>window.pwned=2</script> plot",
    "<b>bold</b> & <!-- not a comment --> fun",
]
WORDS = ("great", "awful", "fun", "boring", "film", "plot", "not", "good", "bad", "cast")
LABELS = ("negative", "positive")


def _texts() -> tuple[list[str], list[str]]:
    """63 texts (more than one 50-row page): pairs and triples of words, then hostile ones."""
    pairs = itertools.combinations(WORDS, 2)
    triples = itertools.combinations(WORDS, 3)
    combos = [" ".join(c) for c in itertools.chain(pairs, triples)][:60]
    texts = combos + HOSTILE
    labels = [LABELS[i % 2] for i in range(len(texts))]
    return texts, labels


@pytest.fixture(scope="module")
def run() -> CorpusExplanation:
    texts, labels = _texts()
    explainer = igw.Explainer(toy_bundle("gru"))
    return explainer.explain_many(texts, labels, n_steps=8, progress=False)


@pytest.fixture(scope="module")
def report(run: CorpusExplanation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    corpus_report(run, path=path, min_count=2)
    return path


def _open(rec: RecordedPage, path: Path) -> Page:
    page = rec.page
    page.on("dialog", lambda dialog: rec.console.append(f"dialog: {dialog.message}"))
    page.goto(path.as_uri())
    page.wait_for_selector("#igw-report[data-ready=true]", timeout=10_000)
    return page


def _ids(page: Page) -> list[str]:
    return page.locator("tr.igw-report-row").evaluate_all("els => els.map(e => e.dataset.id)")


def _column(page: Page, key: str) -> list[str]:
    return page.locator(f"tr.igw-report-row td[data-key={key}]").all_text_contents()


def test_report_table_sort_filter_page(browser: Any, report: Path, run: CorpusExplanation) -> None:
    rec = RecordedPage(browser, offline=True)
    try:
        page = _open(rec, report)
        frame = run.to_dataframe()
        frame["key"] = frame["id"].astype(str)
        assert page.locator("tr.igw-report-row").count() == 50
        assert (
            page.locator(".igw-report-count").text_content() == f"1–50 of {len(frame)} (63 texts)"
        )
        # sorted by confidence (as the page holds it: 4 significant digits), largest first
        frame["shown"] = [float(f"{c:.4g}") for c in frame["confidence"]]
        expected = frame.sort_values("shown", ascending=False, kind="stable")["key"]
        assert _ids(page) == list(expected[:50])
        page.locator("[aria-label='next page']").click()
        assert _ids(page) == list(expected[50:])
        assert page.get_attribute("#igw-report", "data-page") == "1"
        page.locator("[aria-label='previous page']").click()
        assert _ids(page) == list(expected[:50])
        # a click on the same header reverses; another header sorts by it
        page.locator("th[data-sort=confidence]").click()
        assert page.get_attribute("#igw-report", "data-descending") == "false"
        shown = [float(x) for x in _column(page, "confidence")]
        assert shown == sorted(shown) and len(shown) == 50
        page.locator("th[data-sort=n_tokens]").click()
        tokens = [int(x) for x in _column(page, "n_tokens")]
        assert tokens == sorted(tokens, reverse=True)
        page.locator("th[data-sort=id]").click()  # text columns sort ascending first
        assert _ids(page)[:3] == ["0", "1", "2"]
        # filters: a word in the text, the predicted class, correct or wrong
        page.locator("[aria-label=search]").fill("boring")
        holding = frame[frame["text"].str.contains("boring")]
        assert sorted(_ids(page)) == sorted(holding["key"])
        assert page.get_attribute("#igw-report", "data-n-matching") == str(len(holding))
        page.locator("[aria-label=search]").fill("")
        page.locator("select[aria-label=predicted]").select_option("positive")
        positive = frame[frame["predicted"] == "positive"]
        assert page.get_attribute("#igw-report", "data-n-matching") == str(len(positive))
        assert set(_column(page, "predicted")) == {"positive"}
        page.locator("select[aria-label=correct]").select_option("wrong")
        wrong = positive[positive["correct"].eq(False).fillna(False).astype(bool)]
        assert sorted(_ids(page)) == sorted(wrong["key"])
        assert set(_column(page, "correct")) <= {"✗"}
        page.locator("select[aria-label=correct]").select_option("all")
        page.locator("select[aria-label=predicted]").select_option("")
        assert page.get_attribute("#igw-report", "data-n-matching") == str(len(frame))
        screenshot(page, "report_table")
    finally:
        rec.close()
    assert rec.requests and all(url.startswith("file:") for url in rec.requests), rec.requests


def test_report_row_chips_chart_and_hostile_texts(
    browser: Any, report: Path, run: CorpusExplanation
) -> None:
    rec = RecordedPage(browser, offline=True)
    try:
        page = _open(rec, report)
        title = page.title()
        page.locator("[aria-label=search]").fill("<img")
        row = page.locator("tr.igw-report-row")
        assert row.count() == 1
        assert "<img src=x" in (row.first.text_content() or "")  # shown as text
        row.first.click()
        detail = page.locator(".igw-report-detail")
        key = row.first.get_attribute("data-id")
        assert detail.get_attribute("data-id") == key
        exp = run.by_id(int(key or "-1"))
        view = select(exp, None, "word")
        chips = chip_state(detail)
        assert [text for text, _, _ in chips] == view.tokens
        top = max(abs(s) for s in view.scores)
        assert np.allclose([s for _, s, _ in chips], view.scores, rtol=1e-3, atol=top * 1e-4)
        strongest = int(np.argmax(np.abs(view.scores)))
        colours = detail.locator(".igw-chip").evaluate_all(
            "els => els.map(e => getComputedStyle(e).backgroundColor)"
        )
        from ig_widgets.views.normalize import color_for

        sign = 1.0 if view.scores[strongest] >= 0 else -1.0
        assert colours[strongest] == color_for(sign)  # the strongest word at full colour
        row.first.click()  # the same row again clears the detail
        assert detail.locator(".igw-chip").count() == 0
        # the other hostile texts: none of their markup became an element or ran
        page.locator("[aria-label=search]").fill("")
        for needle in ("</script>", "<b>bold"):
            page.locator("[aria-label=search]").fill(needle)
            assert page.locator("tr.igw-report-row").count() == 1, needle
            page.locator("tr.igw-report-row").first.click()
            assert detail.locator(".igw-chip").count() > 0
        assert page.locator("#igw-report img, #igw-report b, #igw-report script").count() == 0
        assert page.evaluate("window.pwned") is None and page.title() == title
        assert not [line for line in rec.console if "dialog" in line or "pageerror" in line]
        # the word chart, one class then the other
        bars = page.locator(".igw-report-words .igw-bar")
        assert bars.count() > 0
        words = run.word_importance("positive", min_count=2)
        first = bars.first.get_attribute("data-word")
        assert first == words["mean"].abs().idxmax()
        widths = page.locator(".igw-report-words .igw-bar-fill").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().width)"
        )
        assert max(widths) > 20
        page.locator("select[aria-label='importance class']").select_option("negative")
        negative = run.word_importance("negative", min_count=2)
        assert bars.first.get_attribute("data-word") == negative["mean"].abs().idxmax()
        value = float(bars.first.get_attribute("data-value") or "nan")
        assert value == pytest.approx(negative["mean"].abs().max(), rel=1e-3) or value == (
            pytest.approx(-negative["mean"].abs().max(), rel=1e-3)
        )
        screenshot(page, "report_detail")
    finally:
        rec.close()
    assert rec.requests and all(url.startswith("file:") for url in rec.requests), rec.requests


@pytest.fixture(scope="module")
def comparison(run: CorpusExplanation) -> Any:
    texts, labels = _texts()
    other = igw.Explainer(toy_bundle("mean", seed=3)).explain_many(
        texts, labels, n_steps=8, progress=False
    )
    return igw.compare_corpora(run, other, names=("gru", "mean"), min_count=2)


def test_comparison_report_disagree_filter_and_shared_scale(
    browser: Any, comparison: Any, tmp_path: Path
) -> None:
    path = tmp_path / "comparison.html"
    corpus_report(comparison, path=path)
    texts = comparison.texts()
    texts["key"] = texts["id"].astype(str)
    disagree = texts[texts["agree"].eq(False).fillna(False).astype(bool)]
    assert 0 < len(disagree) < len(texts), "the two toy models should disagree on some texts"
    rec = RecordedPage(browser, offline=True)
    try:
        page = _open(rec, path)
        assert page.get_attribute("#igw-report", "data-kind") == "comparison"
        assert page.get_attribute("#igw-report", "data-sort-by") == "disagreement"
        shown = [float(x) for x in _column(page, "disagreement")]
        assert shown == sorted(shown, reverse=True)
        page.locator("th[data-sort=score_change]").click()
        changes = [float(x) for x in _column(page, "score_change")]
        assert changes == sorted(changes, reverse=True)
        page.locator("[aria-label=disagree]").check()
        assert sorted(_ids(page)) == sorted(disagree["key"])
        assert set(_column(page, "agree")) == {"✗"}
        key = _ids(page)[0]
        page.locator(f"tr.igw-report-row[data-id='{key}']").click()
        rows = page.locator(".igw-report-detail .igw-chips")
        assert rows.count() == 2
        assert [rows.nth(i).get_attribute("data-run") for i in range(2)] == ["gru", "mean"]
        scales = {rows.nth(i).get_attribute("data-scale") for i in range(2)}
        assert len(scales) == 1, f"the two rows are not on one scale: {scales}"
        words, attr_a, attr_b = comparison.aligned(int(key))
        for i, attr in enumerate((attr_a, attr_b)):
            chips = chip_state(rows.nth(i))
            assert [text for text, _, _ in chips] == words
            top = max(np.abs(attr_a).max(), np.abs(attr_b).max())
            assert np.allclose([s for _, s, _ in chips], attr, rtol=1e-3, atol=top * 1e-4)
        both = np.concatenate([attr_a, attr_b])
        strongest = int(np.argmax(np.abs(both)))
        run_row, word = divmod(strongest, len(words))
        from ig_widgets.views.normalize import color_for

        colour = (
            rows.nth(run_row)
            .locator(".igw-chip")
            .nth(word)
            .evaluate("e => getComputedStyle(e).backgroundColor")
        )
        assert colour == color_for(1.0 if both[strongest] >= 0 else -1.0)
        page.locator("[aria-label=disagree]").uncheck()
        assert page.get_attribute("#igw-report", "data-n-matching") == str(len(texts))
        # hostile texts, now in both runs' chips: shown as text, nothing ran
        title = page.title()
        page.locator("[aria-label=search]").fill("</script>")
        page.locator("tr.igw-report-row").first.click()
        assert page.locator(".igw-report-detail .igw-chips").count() == 2
        assert page.locator("#igw-report img, #igw-report b, #igw-report script").count() == 0
        assert page.evaluate("window.pwned") is None and page.title() == title
        page.locator("[aria-label=search]").fill("")
        # the chart: the words whose mean attribution changed most
        words_frame = comparison.words()
        top = words_frame.loc[words_frame["mean_change"].abs().idxmax(), "word"]
        bars = page.locator(".igw-report-words .igw-bar")
        assert bars.count() == min(len(words_frame), 30) and bars.first.get_attribute(
            "data-word"
        ) == str(top)
        screenshot(page, "report_comparison")
    finally:
        rec.close()
    assert rec.requests and all(url.startswith("file:") for url in rec.requests), rec.requests
