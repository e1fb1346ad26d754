"""The Explorer of the demo notebook in Voila: exact chips, live controls, escaping, offline."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator

import ig_widgets as igw

from .explorer_ui import (
    Shown,
    assert_scores_equal,
    choose,
    drag_steps,
    explorer,
    settled,
    settled_after,
    steps_value,
    type_text,
)
from .pages import RecordedPage, screenshot
from .servers import Server

pytestmark = pytest.mark.browser

XSS_REVIEW = "A fine film <img src=x onerror=\"document.title='pwned'\"> with a great cast."


@pytest.fixture(scope="module")
def demo(voila_server: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    """The demo notebook rendered by Voila, and its Explorer."""
    module_page.page.goto(f"{voila_server.url}/voila/render/demo.ipynb", timeout=180_000)
    return module_page, explorer(module_page.page)


def _text(root: Locator) -> str:
    return root.locator("textarea[aria-label=text]").input_value()


def _other_class(explainer: Any, shown: Shown) -> str:
    return next(c for c in explainer.classes if c != shown.label)


def test_chips_equal_engine(demo: tuple[RecordedPage, Locator], demo_explainer: Any) -> None:
    rec, root = demo
    shown = settled(root)
    assert shown.method == "adaptive"  # the defaults: n_steps="auto" and [neutral]
    text = _text(root)
    assert text.strip(), "the demo starts with an example review"
    exp = demo_explainer.explain(text, n_steps="auto", baseline=shown.baseline_token)
    assert_scores_equal(shown, exp)
    assert shown.label == exp.predicted_class
    assert abs(float(shown.badge[3]) - float(exp.for_class(exp.predicted).delta)) <= 1e-6
    screenshot(rec.page, "voila_explorer", root)
    rec.assert_local()


def test_controls_recompute(demo: tuple[RecordedPage, Locator], demo_explainer: Any) -> None:
    rec, root = demo
    page = rec.page
    text = _text(root)
    auto = settled(root)
    token = auto.baseline_token
    root.locator("input[aria-label='auto steps']").uncheck()  # the slider takes over
    before = settled_after(root, auto)
    assert before.n_steps == steps_value(root)

    n_steps = drag_steps(page, root, 0.05)
    assert n_steps != before.n_steps, "the drag did not move the steps slider"
    moved = settled_after(root, before)
    assert moved.n_steps == n_steps
    assert moved.scores != before.scores and moved.badge != before.badge
    options = {"n_steps": n_steps, "method": moved.method, "baseline": token}
    assert_scores_equal(moved, demo_explainer.explain(text, **options))

    other = _other_class(demo_explainer, moved)
    choose(page, root, "target", other)
    switched = settled_after(root, moved)
    assert switched.label == other and switched.badge != moved.badge
    assert_scores_equal(switched, demo_explainer.explain(text, **options), other)

    choose(page, root, "baseline", "zero embeddings")
    zero = settled_after(root, switched)
    assert "zero" in zero.status and zero.scores != switched.scores
    exp = demo_explainer.explain(text, **(options | {"baseline": igw.ZeroBaseline()}))
    assert_scores_equal(zero, exp, other)
    assert zero.badge != switched.badge
    screenshot(page, "voila_explorer_controls", root)
    rec.assert_local()


def test_click_selects_chip(demo: tuple[RecordedPage, Locator]) -> None:
    rec, root = demo
    settled(root)
    selected = root.locator(".igw-chips .igw-chip--selected")
    for index in ("2", "1"):
        root.locator(f".igw-chips .igw-chip[data-index='{index}']").click()
        selected.first.wait_for(timeout=10_000)
        assert selected.evaluate_all("els => els.map(e => e.dataset.index)") == [index]
    rec.assert_local()


def test_markup_in_review_renders_as_text(
    demo: tuple[RecordedPage, Locator], demo_explainer: Any
) -> None:
    rec, root = demo
    page = rec.page
    before = settled(root)
    title = page.title()
    type_text(root, XSS_REVIEW)
    shown = settled_after(root, before)
    assert any("onerror" in word for word in shown.words), shown.words
    assert root.locator("img").count() == 0
    assert page.locator("img[src=x]").count() == 0
    assert page.title() == title != "pwned"
    exp = demo_explainer.explain(XSS_REVIEW, n_steps=shown.n_steps, method=shown.method)
    assert [w.text for w in exp.words] == list(shown.words)
    screenshot(page, "voila_explorer_markup", root)
    rec.assert_local()
