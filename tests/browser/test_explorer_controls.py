"""Every Explorer control of the demo page does something in Voila: menus, baseline box, levels."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Locator

from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.views.selection import rule_items

from .explorer_ui import (
    choose,
    computations,
    count_computations,
    explorer,
    menu_titles,
    settled,
    settled_after,
    type_baseline,
    type_text,
)
from .pages import RecordedPage, screenshot, wait_until
from .servers import Server

pytestmark = pytest.mark.browser

#: "zzqxv" is no word: the demo model reads it as its unknown token
MADE_UP = "A zzqxv film. The cast is wonderful, but the plot goes nowhere!"


@pytest.fixture(scope="module")
def demo(voila_server: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    """The demo notebook rendered by Voila, and its Explorer."""
    module_page.page.goto(f"{voila_server.url}/voila/render/demo.ipynb", timeout=180_000)
    return module_page, explorer(module_page.page)


def test_method_menu_lists_every_rule_and_choosing_one_recomputes(
    demo: tuple[RecordedPage, Locator],
) -> None:
    rec, root = demo
    page = rec.page
    before = settled(root)
    # the demo's defaults: n_steps="auto", so the adaptive rule
    assert root.get_attribute("data-method") == before.method == "adaptive"
    titles = menu_titles(page, root, "method")
    assert len(titles) == len(ALL_METHODS), f"the method menu shows {titles}"
    assert titles == [item["title"] for item in rule_items()]

    choose(page, root, "method", "riemann trapezoid")
    after = settled_after(root, before)
    assert root.get_attribute("data-method") == "riemann_trapezoid"
    assert after.method == "riemann_trapezoid"
    assert after.scores != before.scores, "another rule gave the very same chips"
    assert root.locator("input[aria-label=method]").get_attribute("title") == "riemann trapezoid"
    rec.assert_local()


def test_typing_in_the_baseline_box_searches_without_computing(
    demo: tuple[RecordedPage, Locator],
) -> None:
    rec, root = demo
    page = rec.page
    before = settled(root)
    count_computations(page, root)

    box = type_baseline(page, root, "zzq")
    time.sleep(2.0)  # longer than the Explorer's debounce
    assert box.input_value() == "zzq"
    assert root.locator(".igw-error").count() == 0, "typing alone reported an error"
    assert root.get_attribute("data-final") == "true"
    assert computations(page) == 0, "typing 'zzq' started a computation"
    assert settled(root) == before

    box = type_baseline(page, root, "mov")
    movie = page.locator(".v-overlay--active .v-list-item").filter(has_text=re.compile(r"^movie$"))
    movie.first.wait_for(timeout=60_000)  # the search offers vocabulary tokens (slow under load)
    time.sleep(1.0)
    assert computations(page) == 0, "typing 'mov' computed with 'm' or 'mo'"
    assert root.locator(".igw-error").count() == 0

    movie.first.click()  # a chosen item commits, once
    after = settled_after(root, before)
    assert "baseline" in after.status and "movie" in after.status, after.status
    assert computations(page) == 1
    page.keyboard.press("Escape")
    rec.assert_local()


def test_unknown_token_and_enter_shows_an_error_and_keeps_the_text(
    demo: tuple[RecordedPage, Locator],
) -> None:
    rec, root = demo
    page = rec.page
    settled(root)
    box = type_baseline(page, root, "zzqxq")
    box.press("Enter")
    error = root.locator(".igw-error")
    error.wait_for(timeout=15_000)
    assert "zzqxq" in (error.text_content() or ""), error.text_content()
    assert box.input_value() == "zzqxq", "the typed text was lost"
    status = root.locator(".igw-status")
    wait_until(
        lambda: (
            "refining" not in (status.text_content() or "")
            and "igw-explorer--computing" not in (root.get_attribute("class") or "")
        ),
        timeout=15,
        what="the status line to leave 'refining…'",
    )
    screenshot(page, "voila_explorer_unknown_baseline", root)

    type_baseline(page, root, "[default]").press("Enter")  # a kind's value works too
    page.keyboard.press("Escape")
    wait_until(lambda: error.count() == 0, timeout=60, what="the error to clear")
    assert "xxunk" in settled(root).status  # the demo model's default baseline token
    rec.assert_local()


def test_baseline_prediction_badge_and_legend_are_shown(
    demo: tuple[RecordedPage, Locator], demo_explainer: Any
) -> None:
    rec, root = demo
    shown = settled(root)
    baseline = root.locator(".igw-baseline")
    assert baseline.is_visible()
    match = re.search(r"→ (\w+) (0\.\d\d)", baseline.text_content() or "")
    assert match, baseline.text_content()
    text = root.locator("textarea[aria-label=text]").input_value()
    exp = demo_explainer.explain(text, n_steps=shown.n_steps, method=shown.method)
    top = int(exp.f_baseline.argmax())
    assert match.group(1) == exp.classes[top]
    assert float(match.group(2)) == pytest.approx(float(exp.f_baseline[top]), abs=0.006)

    badge = root.locator(".igw-delta")
    assert re.match(r"^[✓⚠] ", shown.badge[0]), shown.badge[0]
    total, diff, delta = (float(x) for x in shown.badge[1:])
    assert abs(total - diff - delta) <= 1e-9
    assert "Σ attributions" in (badge.get_attribute("title") or "")

    legend = root.locator(".igw-legend")
    assert legend.is_visible() and "push towards" in (legend.text_content() or "")
    colours = legend.locator(".igw-swatch").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert len(colours) == 2 and colours[0] != colours[1], colours
    rec.assert_local()


def test_faithfulness_of_the_final_result_is_shown(
    demo: tuple[RecordedPage, Locator], demo_explainer: Any
) -> None:
    from ig_widgets.engine.metrics import comprehensiveness, sufficiency

    rec, root = demo
    shown = settled(root)
    badge = root.locator(".igw-faithfulness")
    badge.wait_for(timeout=60_000)  # measured in the background after the final stage
    assert "comprehensiveness" in (badge.text_content() or "")
    text = root.locator("textarea[aria-label=text]").input_value()
    exp = demo_explainer.explain(text, n_steps=shown.n_steps, method=shown.method)
    comp = float(badge.get_attribute("data-comprehensiveness") or "nan")
    suff = float(badge.get_attribute("data-sufficiency") or "nan")
    assert comp == pytest.approx(comprehensiveness(exp, demo_explainer).value, abs=1e-6)
    assert suff == pytest.approx(sufficiency(exp, demo_explainer).value, abs=1e-6)
    rec.assert_local()


def test_far_baseline_offers_a_one_click_switch(demo: tuple[RecordedPage, Locator]) -> None:
    rec, root = demo
    before = settled(root)
    baseline = root.locator(".igw-baseline")
    if baseline.get_attribute("data-far") != "true":
        pytest.skip("the demo's baseline is neutral for this text: nothing to switch")
    switch = root.locator(".igw-baseline-switch")
    switch.wait_for(timeout=180_000)  # once the neutral tokens are found
    suggested = switch.text_content() or ""
    switch.click()
    after = settled_after(root, before)
    token = re.search(r"use '([^']+)'", suggested)
    assert token and token.group(1) in after.status, (suggested, after.status)
    rec.assert_local()


def test_made_up_word_is_marked_unknown(
    demo: tuple[RecordedPage, Locator],
) -> None:
    rec, root = demo
    before = settled(root)
    type_text(root, MADE_UP)
    after = settled_after(root, before)
    assert "zzqxv" in after.words
    unknown = root.locator(".igw-chips .igw-chip[data-oov=true]")
    wait_until(lambda: unknown.count() >= 1, timeout=10, what="a chip marked data-oov")
    assert [" ".join(t.split()) for t in unknown.all_inner_texts()] == ["zzqxv"]
    mark = unknown.first.evaluate("e => getComputedStyle(e, '::after').content")
    assert mark == '"?"', mark
    assert "not in the model's vocabulary" in (unknown.first.get_attribute("title") or "")
    known = root.locator(".igw-chips .igw-chip:not([data-oov])")
    assert known.count() == len(after.words) - 1
    rec.assert_local()


def test_sentence_level_chips_expand_on_click(demo: tuple[RecordedPage, Locator]) -> None:
    rec, root = demo
    page = rec.page
    type_text(root, MADE_UP)
    words = settled(root)
    root.locator(".igw-level button", has_text="sentences").click()
    chips = root.locator(".igw-chips .igw-chip")
    wait_until(lambda: chips.count() == 2, timeout=20, what="two sentence chips")
    first = chips.nth(0)
    assert first.get_attribute("data-expanded") == "false"
    total = sum(words.scores)
    sentences = [float(chips.nth(i).get_attribute("data-score") or "nan") for i in range(2)]
    assert sum(sentences) == pytest.approx(total, abs=1e-6)

    first.click()
    wait_until(lambda: first.get_attribute("data-expanded") == "true", what="the chip to open")
    parts = first.locator(".igw-subchip")
    texts = [" ".join(t.split()) for t in parts.all_inner_texts()]
    assert texts[-3:] == ["A", "zzqxv", "film."], texts
    part_scores = [float(s) for s in parts.evaluate_all("els => els.map(e => e.dataset.score)")]
    assert sum(part_scores) == pytest.approx(sentences[0], abs=1e-6)
    screenshot(page, "voila_explorer_sentences", root)

    first.click()
    wait_until(lambda: first.get_attribute("data-expanded") == "false", what="it to close")
    assert first.locator(".igw-subchip").count() == 0
    root.locator(".igw-level button", has_text="words").click()
    wait_until(lambda: chips.count() == len(words.words), timeout=20, what="word chips back")
    rec.assert_local()
