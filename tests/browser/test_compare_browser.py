"""Compare and the teaching views in Voila, in Chromium: rows per model, a shared slider, charts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pages import RecordedPage, drag_slider, screenshot, wait_until
from .servers import REPO, Server, voila_for

pytestmark = pytest.mark.browser

#: the raw numbers every completeness badge carries, as data-* attributes
NUMBERS = ("total", "diff", "delta")

TEXT = "The movie wasn't very GOOD, but the acting is fun!!! Really."

#: the bundled AWD-LSTM and CNN when their weights are in the package, else two toy models
#: with different tokenizers (fastai's spaCy + markers, and a regex word tokenizer)
MODELS = f"""
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
import torch
torch.set_num_threads(1)
import ig_widgets as igw
try:
    models = [igw.load_demo_model(), igw.load_demo_model("cnn")]
except (ValueError, OSError):
    from support.fastai_models import toy_learner
    from support.toy_models import toy_bundle
    models = [toy_learner(), toy_bundle("gru", bos=False)]
"""

COMPARE = f"""
compare = igw.Compare(models, text={TEXT!r}, n_steps=16)
display(compare)
"""

TEACHING = f"""
explainer = igw.Explainer(models[0])
display(igw.PathView(explainer, text={TEXT!r}, n_steps=8))
display(igw.ConvergenceView(explainer, text="a gorgeous, moving film", steps=(2, 4, 8, 16, 32)))
display(igw.BaselineLab(explainer, top_k=5))
"""


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    notebooks = {"compare.ipynb": [MODELS, COMPARE], "teaching.ipynb": [MODELS, TEACHING]}
    yield from voila_for(tmp_path_factory, "compare", notebooks)


def badges(page: object) -> list[str]:
    return page.locator(".igw-compare-row .igw-delta").all_inner_texts()  # type: ignore[attr-defined]


def test_compare_rows_align_and_the_shared_slider_updates_every_row(
    voila: Server, recorded: RecordedPage
) -> None:
    page = recorded.page
    page.goto(f"{voila.url}/voila/render/compare.ipynb", timeout=120_000)
    rows = page.locator(".igw-compare-row")
    wait_until(lambda: rows.count() == 2, timeout=120, what="two model rows")
    wait_until(lambda: len(badges(page)) == 2, timeout=120, what="both completeness badges")

    def chip_counts() -> list[int]:
        return [rows.nth(i).locator(".igw-chip").count() for i in range(rows.count())]

    counts = wait_until(lambda: (c := chip_counts()) and min(c) > 0 and c, what="chips in each row")
    assert counts[0] == counts[1] == len(TEXT.split())
    words = [rows.nth(i).locator(".igw-chip").all_inner_texts() for i in range(2)]
    assert words[0] == words[1] == TEXT.split()
    names = [rows.nth(i).get_attribute("data-model") for i in range(2)]
    assert all(names) and names[0] != names[1]
    diff_chips = page.locator(".igw-compare-diff .igw-chip")
    assert diff_chips.count() == counts[0]
    status = page.locator(".igw-compare .igw-status")
    wait_until(lambda: "16 steps" in status.inner_text(), what="the final 16-step result")
    before = badges(page)
    screenshot(page, "compare_voila_before")

    drag_slider(page, page.locator(".igw-compare [aria-label=steps]").first, 0.9)
    wait_until(
        lambda: "16 steps" not in status.inner_text() and "refining" not in status.inner_text(),
        timeout=120,
        what="a final result for the dragged step count",
    )
    after = wait_until(
        lambda: (b := badges(page)) and all(x != y for x, y in zip(b, before, strict=True)) and b,
        what="every row's badge to change",
    )
    assert len(after) == 2
    assert [rows.nth(i).locator(".igw-chip").count() for i in range(2)] == counts
    screenshot(page, "compare_voila_after")
    recorded.assert_local()


def test_teaching_views_draw_their_charts(voila: Server, recorded: RecordedPage) -> None:
    page = recorded.page
    page.goto(f"{voila.url}/voila/render/teaching.ipynb", timeout=120_000)
    lines = page.locator(".igw-path-view .igw-chart polyline.igw-line")
    wait_until(lambda: lines.count() >= 6, timeout=120, what="the path view's curves")
    dots = page.locator(".igw-path-view .igw-chart").first.locator(".igw-dot")
    wait_until(lambda: dots.count() == 8, what="the eight Gauss-Legendre points")
    cells = page.locator(".igw-convergence-table td[data-method]")
    # every rule (Captum's five and the adaptive one) at 5 step counts
    wait_until(lambda: cells.count() == 6 * 5, timeout=120, what="the convergence table")
    candidates = page.locator(".igw-baseline-lab .igw-candidate")
    wait_until(lambda: candidates.count() == 8, timeout=120, what="3 baseline kinds + 5 tokens")
    assert "<" not in "".join(candidates.all_inner_texts()[:3])  # labels are text, not markup
    screenshot(page, "teaching_voila")
    recorded.assert_local()


def test_compare_scale_toggle_recolours_the_rows(voila: Server, recorded: RecordedPage) -> None:
    page = recorded.page
    page.goto(f"{voila.url}/voila/render/compare.ipynb", timeout=120_000)
    rows = page.locator(".igw-compare-row")
    wait_until(lambda: len(badges(page)) == 2, timeout=120, what="both completeness badges")
    status = page.locator(".igw-compare .igw-status")
    wait_until(lambda: "16 steps" in status.inner_text(), timeout=120, what="the final result")
    for badge in page.locator(".igw-compare-row .igw-delta").all():
        total, diff, delta = (float(badge.get_attribute(f"data-{k}") or "nan") for k in NUMBERS)
        assert abs(total - diff - delta) <= 1e-9
        assert badge.inner_text()[:1] in "✓⚠"

    def colours() -> list[list[str]]:
        return [
            rows.nth(i).locator(".igw-chip").evaluate_all("els => els.map(e => e.style.background)")
            for i in range(2)
        ]

    shared = colours()
    toggle = page.locator(".igw-compare [aria-label=scale]")
    assert "v-btn--active" in (
        toggle.locator("button", has_text="shared").get_attribute("class") or ""
    )
    toggle.locator("button", has_text="own").click()
    own = wait_until(lambda: (c := colours()) != shared and c, what="the rows to be recoloured")
    # the chips and the status line are two messages: the status may come a moment later
    wait_until(lambda: "own max" in status.inner_text(), what="the status to name the own scale")
    assert any(a != b for a, b in zip(own, shared, strict=True))
    toggle.locator("button", has_text="shared").click()
    wait_until(lambda: colours() == shared, what="the shared scale's colours back")
    recorded.assert_local()
