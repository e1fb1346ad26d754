"""Read and drive an Explorer in the page through its DOM contract (classes and aria-labels)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from playwright.sync_api import Locator, Page

from .pages import chip_state, drag_slider, wait_stable

STATUS_STEPS = re.compile(r"(\d+) steps · (\w+)")


@dataclass(frozen=True)
class Shown:
    """What a settled Explorer shows: chips, badge, status line."""

    words: tuple[str, ...]
    scores: tuple[float, ...]
    badge: tuple[str, str, str, str]  # text, data-total, data-diff, data-delta
    status: str
    label: str = ""  # the class the chips explain (the badge's data-label)

    @property
    def baseline_token(self) -> str:
        """The token the default ``[neutral]`` resolved to, as the status line names it."""
        match = re.search(r"baseline token '([^']+)'", self.status)
        assert match, self.status
        return match.group(1)

    @property
    def n_steps(self) -> int:
        """The step count the status line reports."""
        match = STATUS_STEPS.search(self.status)
        assert match, f"no step count in the status line {self.status!r}"
        return int(match.group(1))

    @property
    def method(self) -> str:
        """The quadrature rule the status line reports."""
        match = STATUS_STEPS.search(self.status)
        assert match, f"no method in the status line {self.status!r}"
        return match.group(2)


def explorer(page: Page) -> Locator:
    """The first Explorer on the page, once it has chips."""
    root = page.locator(".igw-explorer").first
    root.locator(".igw-chip").first.wait_for(timeout=180_000)
    return root


def _read(root: Locator) -> Shown | None:
    if "igw-explorer--computing" in (root.get_attribute("class") or ""):
        return None
    status = root.locator(".igw-status").text_content() or ""
    if "refining" in status or not STATUS_STEPS.search(status):
        return None
    chips = chip_state(root.locator(".igw-chips"))
    badge = root.locator(".igw-delta")
    return Shown(
        words=tuple(text for text, _, _ in chips),
        scores=tuple(score for _, score, _ in chips),
        badge=(
            " ".join((badge.text_content() or "").split()),
            badge.get_attribute("data-total") or "",
            badge.get_attribute("data-diff") or "",
            badge.get_attribute("data-delta") or "",
        ),
        status=status.strip(),
        label=badge.get_attribute("data-label") or "",
    )


def settled(root: Locator, *, timeout: float = 120.0, settle: float = 1.0) -> Shown:
    """Wait until the Explorer has finished refining and its view stays unchanged."""
    return wait_stable(lambda: _read(root), settle=settle, timeout=timeout, what="the Explorer")


def settled_after(root: Locator, before: Shown, *, timeout: float = 120.0) -> Shown:
    """Wait for a settled view that differs from ``before`` (a recomputation happened)."""
    return wait_stable(
        lambda: shown if (shown := _read(root)) is not None and shown != before else None,
        settle=1.0,
        timeout=timeout,
        what="the Explorer to show a new result",
    )


def steps_value(root: Locator) -> int:
    """The steps slider's current value (its aria-valuenow)."""
    return round(float(root.locator("[aria-label=steps]").get_attribute("aria-valuenow") or 0))


def drag_steps(page: Page, root: Locator, fraction: float) -> int:
    """Drag the steps slider to ``fraction`` of its track; returns the slider's new value."""
    drag_slider(page, root.locator("[aria-label=steps]"), fraction)
    return steps_value(root)


def field(root: Locator | Page, label: str) -> Locator:
    """The Vuetify field (``.v-field``) of the select/autocomplete with aria-label ``label``."""
    return root.locator(f"[aria-label='{label}']").locator(
        "xpath=ancestor::div[contains(concat(' ',@class,' '),' v-field ')][1]"
    )


def menu_items(page: Page) -> Locator:
    """The items of the open menu."""
    return page.locator(".v-overlay--active .v-list-item")


def choose(
    page: Page, root: Locator | Page, label: str, option: str | re.Pattern[str] | int
) -> None:
    """Open the select/combobox with aria-label ``label`` under ``root`` and click the option
    ``option``: the first whose text has it, or (an ``int``) the option at that index."""
    field(root, label).click()
    items = menu_items(page)
    item = items.nth(option) if isinstance(option, int) else items.filter(has_text=option).first
    item.wait_for(timeout=15_000)
    item.click()
    page.keyboard.press("Escape")


def menu_titles(page: Page, root: Locator, label: str) -> list[str]:
    """Open the select with aria-label ``label``, read its items' titles, close it again."""
    field(root, label).click()
    items = menu_items(page)
    items.first.wait_for(timeout=15_000)
    titles = [" ".join(t.split()) for t in items.all_inner_texts()]
    page.keyboard.press("Escape")
    items.first.wait_for(state="detached", timeout=15_000)
    return titles


def type_baseline(page: Page, root: Locator, text: str, delay_ms: float = 120) -> Locator:
    """Type ``text`` into the baseline box, key by key, as a user does; returns its input."""
    box = root.locator("input[aria-label=baseline]")
    field(root, "baseline").click()
    box.press("Control+a")
    box.press("Backspace")
    box.press_sequentially(text, delay=delay_ms)
    return box


def count_computations(page: Page, root: Locator) -> None:
    """Start counting, in the page, each time the Explorer starts computing (see
    :func:`computations`)."""
    root.evaluate(
        """el => {
            window.__igwComputations = 0;
            new MutationObserver(() => {
                const now = el.classList.contains('igw-explorer--computing');
                if (now && !el.__igwWas) window.__igwComputations += 1;
                el.__igwWas = now;
            }).observe(el, { attributes: true, attributeFilter: ['class'] });
        }"""
    )


def computations(page: Page) -> int:
    """How many computations started since :func:`count_computations`."""
    return int(page.evaluate("() => window.__igwComputations"))


def type_text(root: Locator, text: str) -> None:
    """Replace the text in the Explorer's text area."""
    area = root.locator("textarea[aria-label=text]")
    area.fill(text)
    area.blur()


def assert_scores_equal(shown: Shown, exp: Any, target: int | str | None = None) -> None:
    """The chips are ``exp``'s words with their raw attributions for ``target`` (within 1e-6)."""
    cls = exp.predicted if target is None else exp.class_index(target)
    words = [w.text for w in exp.words]
    expected = np.asarray(exp.for_class(cls).word_scores, dtype=float)
    assert list(shown.words) == words, f"chip texts {shown.words} != words {words}"
    got = np.asarray(shown.scores, dtype=float)
    worst = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    assert worst <= 1e-6, f"data-score differs from the engine by {worst:.2e}: {got} vs {expected}"
