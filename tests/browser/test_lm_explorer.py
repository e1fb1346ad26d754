"""The Explorer's LM mode in Voila, in Chromium: candidates, continue, the continuation box."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Locator, Page

from .explorer_ui import (
    Shown,
    assert_scores_equal,
    computations,
    count_computations,
    explorer,
    settled,
    settled_after,
)
from .pages import RecordedPage, chip_state, screenshot, wait_until
from .servers import Server, voila_for

pytestmark = pytest.mark.browser

PROMPT = "the film was"
STEPS = 8
#: markup as a continuation: byte-level tokens of it become row names and chip texts
HOSTILE = " <b>bold</b><img src=x onerror=\"document.title='pwned'\">"

NOTEBOOK = f"""
import torch
torch.set_num_threads(1)
import ig_widgets as igw
explorer = igw.Explorer(igw.load_demo_model("gpt_lm"), {PROMPT!r}, n_steps={STEPS}, debounce=0.1)
explorer
"""


@pytest.fixture(scope="module")
def lm_explainer() -> Any:
    """The same demo LM in the test process (the expected numbers)."""
    import torch

    import ig_widgets as igw

    torch.set_num_threads(1)
    lm = igw.load_demo_model("gpt_lm")
    return igw.Explainer(lm.model, tokenizer=lm.tokenizer)


@pytest.fixture(scope="module")
def voila_lm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from voila_for(tmp_path_factory, "lm_explorer", {"lm.ipynb": [NOTEBOOK]})


@pytest.fixture(scope="module")
def lm_page(voila_lm: Server, module_page: RecordedPage) -> tuple[RecordedPage, Locator]:
    module_page.page.goto(f"{voila_lm.url}/voila/render/lm.ipynb", timeout=180_000)
    root = explorer(module_page.page)
    root.locator(".igw-lm-candidate").first.wait_for(timeout=180_000)
    return module_page, root


def candidates(root: Locator) -> list[dict[str, Any]]:
    """The candidate buttons as the page shows them."""
    return root.locator(".igw-lm-candidate").evaluate_all(
        "els => els.map(e => ({name: e.dataset.name, prob: Number(e.dataset.prob), "
        "explained: e.dataset.explained === 'true', "
        "token: e.querySelector('.igw-lm-token').textContent, text: e.textContent.trim()}))"
    )


def prompt_text(root: Locator) -> str:
    return root.locator("textarea[aria-label=text]").input_value()


def rows(root: Locator) -> list[dict[str, Any]]:
    """The continuation rows: name, whole flag, and their chips (text, data-score)."""
    found = []
    for row in root.locator(".igw-lm-row").all():
        found.append(
            {
                "name": row.get_attribute("data-name"),
                "whole": row.get_attribute("data-whole") == "true",
                "head": row.locator(".igw-lm-row-head .igw-lm-token").text_content(),
                "chips": chip_state(row),
            }
        )
    return found


def reset(page: Page, root: Locator) -> Shown:
    """Back to the prompt and its next token (each test starts from there)."""
    box = root.locator("input[aria-label=continuation]")
    if box.input_value() or root.locator(".igw-lm-row").count():
        box.fill("")
        box.press("Enter")
        wait_until(lambda: root.locator(".igw-lm-row").count() == 0, timeout=120, what="no rows")
    if prompt_text(root) != PROMPT:
        area = root.locator("textarea[aria-label=text]")
        area.fill(PROMPT)
        area.blur()
    wait_until(lambda: len(candidates(root)) == 5, timeout=120, what="five candidates")
    return settled(root)


def test_candidates_render_and_clicking_one_explains_it(
    lm_page: tuple[RecordedPage, Locator], lm_explainer: Any
) -> None:
    rec, root = lm_page
    page = rec.page
    shown = reset(page, root)
    exp = lm_explainer.explain(PROMPT, n_steps=STEPS)
    items = candidates(root)
    assert [c["name"] for c in items] == list(exp.classes)
    assert [c["token"] for c in items] == list(exp.classes)  # the token text, spaces kept
    assert all(c["text"].strip() and c["prob"] > 0 for c in items), items
    assert [c["explained"] for c in items] == [True, False, False, False, False]
    np.testing.assert_allclose([c["prob"] for c in items], exp.probs, rtol=1e-6)
    assert shown.label == exp.classes[0]
    assert_scores_equal(shown, exp)

    third = exp.classes[2]
    count_computations(page, root)
    root.locator(f".igw-lm-candidate[data-name='{third}']").click()
    after = settled_after(root, shown)
    assert after.label == third
    assert_scores_equal(after, exp, target=third)
    wait_until(lambda: candidates(root)[2]["explained"], timeout=30, what="the third marked")
    assert computations(page) == 0, "choosing a candidate recomputed"
    baseline = root.locator(".igw-baseline").inner_text()
    assert "→ next" in baseline and "'<pad>'" in baseline, baseline
    screenshot(page, "voila_lm_candidates", root)
    rec.assert_local()


def test_continue_grows_the_prompt_and_explains_the_next_step(
    lm_page: tuple[RecordedPage, Locator], lm_explainer: Any
) -> None:
    rec, root = lm_page
    page = rec.page
    shown = reset(page, root)
    first = lm_explainer.explain(PROMPT, n_steps=STEPS)
    second = first.classes[1]
    root.locator(f".igw-lm-candidate[data-name='{second}']").click()
    wait_until(lambda: candidates(root)[1]["explained"], timeout=30, what="the second marked")
    button = root.locator(".igw-lm-continue")
    assert second in button.inner_text()
    button.click()
    grown = PROMPT + second
    wait_until(lambda: prompt_text(root) == grown, timeout=30, what="the prompt to grow")
    after = settled_after(root, shown)
    exp = lm_explainer.explain(grown, n_steps=STEPS)
    wait_until(
        lambda: [c["name"] for c in candidates(root)] == list(exp.classes),
        timeout=60,
        what="the next step's candidates",
    )
    assert after.label == exp.classes[0]
    assert_scores_equal(after, exp)
    assert len(after.words) == len(shown.words) + 1
    rec.assert_local()


def test_the_continuation_box_commits_on_enter_only_and_shows_rows(
    lm_page: tuple[RecordedPage, Locator], lm_explainer: Any
) -> None:
    rec, root = lm_page
    page = rec.page
    reset(page, root)
    count_computations(page, root)
    box = root.locator("input[aria-label=continuation]")
    box.click()
    box.press_sequentially(" great fun", delay=80)
    page.wait_for_timeout(2000)  # typing alone: nothing is sent, nothing recomputes
    assert computations(page) == 0 and root.locator(".igw-lm-row").count() == 0
    assert root.locator(".igw-lm").get_attribute("data-continuation") == ""
    box.press("Enter")
    wait_until(lambda: len(rows(root)) == 3, timeout=120, what="three continuation rows")
    exp = lm_explainer.explain(PROMPT, target=" great fun", n_steps=STEPS)

    def current() -> list[dict[str, Any]] | None:
        found = rows(root)
        if "igw-explorer--computing" in (root.get_attribute("class") or ""):
            return None
        return found if len(found) == 3 and all(r["chips"] for r in found) else None

    shown = wait_until(current, timeout=120, what="the rows' chips")
    assert [r["name"] for r in shown] == [" great", " fun", " great fun"]
    assert [r["head"] for r in shown] == [" great", " fun", " great fun"]
    assert [r["whole"] for r in shown] == [False, False, True]
    words = [w.text for w in exp.words]
    for i, row in enumerate(shown):
        assert [text for text, _, _ in row["chips"]] == words
        got = [score for _, score, _ in row["chips"]]
        np.testing.assert_allclose(got, exp.for_class(i).word_scores, rtol=0, atol=1e-6)
    assert candidates(root) == []
    screenshot(page, "voila_lm_continuation", root)

    box.fill(" great")  # leaving the box commits too; one token: it joins the candidates
    box.blur()
    wait_until(lambda: root.locator(".igw-lm-row").count() == 0, timeout=120, what="no rows")
    assert root.locator(".igw-lm").get_attribute("data-continuation") == " great"
    wait_until(
        lambda: [c["name"] for c in candidates(root) if c["explained"]] == [" great"],
        timeout=120,
        what="' great' among the candidates, explained",
    )
    one = lm_explainer.explain(PROMPT, target=" great", n_steps=STEPS)
    assert_scores_equal(settled(root), one, target=" great")
    rec.assert_local()


def test_token_text_is_inert(lm_page: tuple[RecordedPage, Locator], lm_explainer: Any) -> None:
    rec, root = lm_page
    page = rec.page
    reset(page, root)
    box = root.locator("input[aria-label=continuation]")
    box.fill(HOSTILE)
    box.press("Enter")
    wait_until(lambda: len(rows(root)) > 3, timeout=180, what="the markup's rows")
    wait_until(lambda: all(r["chips"] for r in rows(root)), timeout=180, what="every row's chips")
    exp = lm_explainer.explain(PROMPT, target=HOSTILE, n_steps=2)
    heads = [r["head"] for r in rows(root)]
    assert heads == [*exp.target_tokens, exp.classes[-1]]  # each token's text, as text
    assert "<img" in "".join(heads) and "onerror" in root.locator(".igw-lm").inner_text()
    assert root.locator(".igw-lm b, .igw-lm img").count() == 0
    assert page.locator("img[src=x]").count() == 0 and page.title() != "pwned"
    rec.assert_local()
