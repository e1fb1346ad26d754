"""In Chromium: the first screen warns about nothing, and every warning's button fixes it."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page

from .explorer_ui import choose, explorer, settled, settled_after
from .pages import RecordedPage, screenshot, wait_until
from .servers import REPO, Server, voila_for

pytestmark = pytest.mark.browser

MIXED = "The cast is wonderful, but the script wastes them on a plot that goes nowhere."
SETUP = "import torch\ntorch.set_num_threads(1)\nimport ig_widgets as igw\n"


def demo_examples() -> dict[str, str]:
    """The example reviews of ``notebooks/demo.ipynb`` (its ``EXAMPLES`` literal)."""
    notebook = json.loads((REPO / "notebooks" / "demo.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for node in ast.parse("".join(cell["source"])).body if cell["cell_type"] == "code" else []:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
                return dict(ast.literal_eval(node.value))
    raise AssertionError("the demo notebook defines no EXAMPLES")


FRESH = [
    SETUP + "learn = igw.load_demo_model()",
    f"for text in {list(demo_examples().values())!r}:\n    display(igw.Explorer(learn, text=text))",
]
FIXES = [
    SETUP + "learn, cnn = igw.load_demo_model(), igw.load_demo_model('cnn')",
    f"display(igw.Explorer(learn, text={MIXED!r}, n_steps=4, baseline='[default]', "
    "discover_neutral=False, faithfulness=False))",
    f"display(igw.Compare([learn, cnn], text={MIXED!r}, n_steps=4, baseline='[default]'))",
    f"display(igw.PathView(learn, {MIXED!r}, n_steps=4))",
]


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from voila_for(
        tmp_path_factory, "first_screen", {"fresh.ipynb": FRESH, "fixes.ipynb": FIXES}
    )


def assert_no_warning(root: Locator, where: str) -> None:
    """No amber badge, no warning text, no fix button; the chips explain ≥ ½ of the way."""
    badge = root.locator(".igw-delta")
    assert "igw-delta--ok" in (badge.get_attribute("class") or ""), (where, badge.inner_text())
    assert root.locator(".igw-baseline").get_attribute("data-far") == "false", where
    for selector in (".igw-warning", ".igw-delta-fix", ".igw-baseline-switch"):
        assert root.locator(selector).count() == 0, (where, selector)
    assert "⚠" not in root.locator(".igw-summary").inner_text(), where
    diff = float(badge.get_attribute("data-diff") or "nan")
    predicted = root.locator(".igw-prob--predicted")
    prob = float(predicted.get_attribute("data-prob") or "nan")
    n_classes = root.locator(".igw-summary .igw-prob").count()
    share = diff / (prob - 1 / n_classes)
    assert share >= 0.5, (where, share)


def test_the_demo_page_warns_about_nothing_on_any_example(
    voila_server: Server, recorded: RecordedPage
) -> None:
    page = recorded.page
    page.goto(f"{voila_server.url}/voila/render/demo.ipynb", timeout=180_000)
    root = explorer(page)
    shown = settled(root, timeout=240)
    names = list(demo_examples())
    assert_no_warning(root, names[0])
    screenshot(page, "demo_first_screen", root)
    for i, name in enumerate(names[1:], start=1):
        choose(page, page, "example", i)
        shown = settled_after(root, shown, timeout=240)
        assert_no_warning(root, name)
    recorded.assert_local()


def test_a_fresh_explorer_warns_about_nothing_on_each_example(
    voila: Server, recorded: RecordedPage
) -> None:
    page = recorded.page
    page.goto(f"{voila.url}/voila/render/fresh.ipynb", timeout=180_000)
    roots = page.locator(".igw-explorer")
    names = list(demo_examples())
    wait_until(lambda: roots.count() == len(names), timeout=240, what="one Explorer per example")
    for i, name in enumerate(names):
        root = roots.nth(i)
        root.locator(".igw-chip").first.wait_for(timeout=240_000)
        settled(root, timeout=240)
        assert "adaptive" in (root.locator(".igw-status").inner_text()), name
        assert_no_warning(root, name)
    recorded.assert_local()


def click_and_wait_gone(page: Page, button: Locator, gone: Locator, what: str) -> None:
    """Click a warning's fix; wait until what it warned about has left the page."""
    assert button.count() >= 1, f"no fix button for {what}"
    button.first.click()
    wait_until(lambda: gone.count() == 0, timeout=240, what=f"{what} to go")


def test_each_warning_names_its_meaning_and_its_button_fixes_it(
    voila: Server, recorded: RecordedPage
) -> None:
    page = recorded.page
    page.goto(f"{voila.url}/voila/render/fixes.ipynb", timeout=180_000)
    # the Explorer: too few points, then the unknown-word baseline
    root = explorer(page)
    before = settled(root, timeout=240)
    assert "too few points" in root.locator(".igw-warning-steps").inner_text()
    assert "confident prediction" in root.locator(".igw-warning-baseline").inner_text()
    screenshot(page, "explorer_warnings", root)
    click_and_wait_gone(
        page, root.locator(".igw-delta-fix"), root.locator(".igw-delta--large"), "steps"
    )
    fixed = settled_after(root, before, timeout=240)
    assert fixed.scores != before.scores and root.locator(".igw-warning-steps").count() == 0
    click_and_wait_gone(
        page,
        root.locator(".igw-baseline-switch"),
        root.locator(".igw-baseline[data-far=true]"),
        "the far baseline",
    )
    neutral = settled_after(root, fixed, timeout=240)
    assert "xxunk" not in neutral.status and root.locator(".igw-warning").count() == 0
    assert_no_warning(root, "after both fixes")

    # Compare: the same two fixes, for every row at once
    compare = page.locator(".igw-compare")
    rows = compare.locator(".igw-compare-row")
    wait_until(lambda: rows.locator(".igw-delta").count() == 2, timeout=240, what="Compare rows")
    wait_until(lambda: compare.locator(".igw-delta-fix").count() >= 1, timeout=240, what="a fix")
    assert "too few points" in compare.locator(".igw-warning-steps").first.inner_text()
    click_and_wait_gone(
        page, compare.locator(".igw-delta-fix"), compare.locator(".igw-delta--large"), "steps"
    )
    status = compare.locator(".igw-status")
    wait_until(lambda: "refining" not in status.inner_text(), timeout=240, what="Compare final")
    click_and_wait_gone(
        page,
        compare.locator(".igw-baseline-switch"),
        compare.locator(".igw-warning-baseline"),
        "the far baselines",
    )
    tokens = compare.locator(".igw-compare-tokens")
    wait_until(
        lambda: all("xxunk" not in t and "<unk>" not in t for t in tokens.all_inner_texts()),
        timeout=240,
        what="each model's neutral token",
    )

    # PathView: the points the check needs, then a neutral baseline
    view = page.locator(".igw-path-view")
    steps = view.locator(".igw-warning[data-kind=steps]")
    wait_until(lambda: steps.count() == 1, timeout=240, what="the path view's steps warning")
    delta = view.locator(".igw-path-summary").get_attribute("data-delta")
    click_and_wait_gone(page, steps.locator(".igw-warning-fix"), steps, "the path's steps")
    wait_until(
        lambda: view.locator(".igw-path-summary").get_attribute("data-delta") != delta,
        timeout=240,
        what="a new path",
    )
    far = view.locator(".igw-warning[data-kind=baseline]")
    click_and_wait_gone(page, far.locator(".igw-warning-fix"), far, "the path's far baseline")
    assert "xxunk" not in view.locator(".igw-path-summary").inner_text()
    screenshot(page, "warnings_fixed")
    recorded.assert_local()
