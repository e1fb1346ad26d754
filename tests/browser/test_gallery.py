"""Every widget in Voila's light and dark themes: legible, and screenshotted for the docs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page

from .explorer_ui import explorer, settled
from .pages import RecordedPage, screenshot, wait_until
from .servers import Server, voila_for

pytestmark = pytest.mark.browser

TEXT = "The cast is wonderful, but the script wastes them on a plot that goes nowhere."

CELLS = [
    "import torch\ntorch.set_num_threads(1)\nimport ig_widgets as igw\n"
    "learn, cnn = igw.load_demo_model(), igw.load_demo_model('cnn')\n"
    "explainer = igw.Explainer(learn)",
    f"display(igw.Explorer(explainer, text={TEXT!r}, n_steps=64))",
    f"display(igw.Compare([learn, cnn], text={TEXT!r}, n_steps=32))",
    f"display(igw.PathView(explainer, text={TEXT!r}, n_steps=16))",
    "display(igw.ConvergenceView(explainer, text='a gorgeous, moving film', "
    "steps=(2, 4, 8, 16, 32)))",
    "display(igw.BaselineLab(explainer, top_k=5))",
]

#: each widget's root, by the name of its screenshot
ROOTS = {
    "explorer": ".igw-explorer",
    "compare": ".igw-compare",
    "path_view": ".igw-path-view",
    "convergence_view": ".igw-convergence",
    "baseline_lab": ".igw-baseline-lab",
}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Voila serving the gallery notebook; ``?theme=dark`` switches a page to the dark theme."""
    yield from voila_for(
        tmp_path_factory,
        "gallery",
        {"gallery.ipynb": CELLS},
        "--VoilaConfiguration.allow_theme_override=YES",
    )


def _luminance(css: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _color(locator: Locator, prop: str = "color") -> str:
    return str(locator.evaluate(f"e => getComputedStyle(e).{prop}"))


def _settle(page: Page) -> None:
    """Wait until every widget has drawn its result."""
    settled(explorer(page), timeout=240)
    rows = page.locator(".igw-compare-row .igw-delta")
    wait_until(lambda: rows.count() == 2, timeout=240, what="both Compare rows")
    status = page.locator(".igw-compare .igw-status")
    wait_until(lambda: "refining" not in status.inner_text(), timeout=240, what="Compare")
    lines = page.locator(".igw-path-view .igw-chart polyline.igw-line")
    wait_until(lambda: lines.count() >= 6, timeout=240, what="the path view's curves")
    cells = page.locator(".igw-convergence-table td[data-method]")
    wait_until(lambda: cells.count() == 6 * 5, timeout=240, what="the convergence table")
    candidates = page.locator(".igw-baseline-lab .igw-candidate")
    wait_until(lambda: candidates.count() == 8, timeout=240, what="the baseline lab")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_widget_is_legible(theme: str, gallery: Server, recorded: RecordedPage) -> None:
    page = recorded.page
    page.goto(f"{gallery.url}/voila/render/gallery.ipynb?theme={theme}", timeout=180_000)
    _settle(page)
    dark = theme == "dark"
    for name, selector in ROOTS.items():
        root = page.locator(selector).first
        text = _luminance(_color(root))
        assert (text > 0.6) if dark else (text < 0.4), (name, theme, _color(root))
        screenshot(page, f"gallery_{theme}_{name}", root)
    # the adaptive rule's line takes the theme's text colour (it was black on black)
    adaptive = page.locator(".igw-convergence .igw-line--5").first
    stroke = _color(adaptive, "stroke")
    assert abs(_luminance(stroke) - _luminance(_color(page.locator(".igw-convergence")))) < 0.05
    for line in page.locator(".igw-chart polyline.igw-line").all():
        contrast = abs(_luminance(_color(line, "stroke")) - (0.1 if dark else 1.0))
        assert contrast > 0.2, (theme, _color(line, "stroke"))
    recorded.assert_local()
