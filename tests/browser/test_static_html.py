"""An Explanation's to_html() opened from disk in Chromium with the network off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser

from .pages import RecordedPage, chip_state, screenshot

pytestmark = pytest.mark.browser

REVIEW = "Not a bad movie <marquee>at all</marquee> — a warm & funny one, with slow scenes."

# per bar: the widest painted piece inside it (an element with a background, or an SVG rect)
PAINTED_WIDTH = """els => els.map(bar => Math.max(0, ...[...bar.querySelectorAll('*')]
    .filter(e => e.tagName.toLowerCase() === 'rect'
        || !['rgba(0, 0, 0, 0)', 'transparent'].includes(getComputedStyle(e).backgroundColor))
    .map(e => e.getBoundingClientRect().width)))"""


def test_to_html_renders_offline(browser: Browser, tmp_path: Path, demo_explainer: Any) -> None:
    exp = demo_explainer.explain(REVIEW, n_steps=32)
    path = tmp_path / "explanation.html"
    path.write_text(exp.to_html(full_page=True), encoding="utf-8")
    rec = RecordedPage(browser, offline=True)
    try:
        page = rec.page
        page.goto(path.as_uri())
        screenshot(page, "static_html_offline")
        chips = chip_state(page.locator(".igw-chips").first)
        words = [w.text for w in exp.words]
        assert [text for text, _, _ in chips] == words
        expected = exp.for_class(exp.predicted).word_scores
        assert np.allclose([score for _, score, _ in chips], expected, atol=1e-6, rtol=0)
        assert page.locator("marquee").count() == 0, "markup in the review became an element"
        bars = page.locator(".igw-bars .igw-bar")
        assert bars.count() > 0
        widths = bars.evaluate_all(PAINTED_WIDTH)
        assert len(widths) == bars.count() and min(widths) >= 0
        assert max(widths) > 20, f"no bar is drawn with a visible width: {widths}"
        assert page.locator(".igw-chip").first.is_visible()
        assert page.locator("script").count() == 0
    finally:
        rec.close()
    assert rec.requests and all(url.startswith("file:") for url in rec.requests), rec.requests
