"""The Explorer in JupyterLab 4 and Notebook 7: renders, and recomputes on a mouse drag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ig_widgets.engine.quadrature import ALL_METHODS

from .explorer_ui import (
    assert_scores_equal,
    drag_steps,
    explorer,
    menu_titles,
    settled,
    settled_after,
)
from .jupyter_ui import open_notebook, run_all_cells
from .nbfiles import write_notebook
from .pages import RecordedPage, screenshot
from .servers import REPO, Server

pytestmark = pytest.mark.browser

REVIEW = "A gorgeous, moving film: the cast is wonderful, even if the ending drags."


def explorer_cells() -> list[str]:
    # the kernel runs in the notebook's (temporary) folder: import the package by absolute path
    return [
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nimport ig_widgets as igw",
        f"explorer = igw.Explorer(igw.load_demo_model(), text={REVIEW!r})\nexplorer",
    ]


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_explorer_renders_and_recomputes(
    front_end: str,
    lab_server: Server,
    lab_root: Path,
    recorded: RecordedPage,
    demo_explainer: Any,
) -> None:
    name = f"explorer_{front_end}.ipynb"
    write_notebook(lab_root / name, explorer_cells())
    page = recorded.page
    open_notebook(page, lab_server, front_end, name)
    run_all_cells(page)
    root = explorer(page)
    auto = settled(root)  # the defaults: n_steps="auto" and [neutral]
    token = auto.baseline_token
    assert_scores_equal(auto, demo_explainer.explain(REVIEW, n_steps="auto", baseline=token))
    root.locator("input[aria-label='auto steps']").uncheck()  # the slider takes over
    before = settled_after(root, auto)
    screenshot(page, f"{front_end}_explorer")
    rules = menu_titles(page, root, "method")
    assert len(rules) == len(ALL_METHODS), f"the method menu shows {rules}"

    n_steps = drag_steps(page, root, 0.1)
    assert n_steps != before.n_steps, "the mouse drag did not move the steps slider"
    after = settled_after(root, before)
    assert after.n_steps == n_steps
    assert after.scores != before.scores and after.badge != before.badge
    options = {"n_steps": n_steps, "method": after.method, "baseline": token}
    assert_scores_equal(after, demo_explainer.explain(REVIEW, **options))
    screenshot(page, f"{front_end}_explorer_dragged")
    recorded.assert_local()
