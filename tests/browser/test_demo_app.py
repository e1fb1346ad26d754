"""The demo command (scripts/serve_demo.py): --check works, the app renders and recomputes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .explorer_ui import choose, drag_steps, explorer, settled, settled_after
from .pages import RecordedPage, screenshot, wait_until
from .servers import PYTHON, REPO, Server, answers, serve, server_env

pytestmark = pytest.mark.browser

SCRIPT = REPO / "scripts" / "serve_demo.py"


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo command in the foreground on a free port, as a user would run it."""
    home = tmp_path_factory.mktemp("demo_app")
    server = yield from serve(
        lambda port: [PYTHON, str(SCRIPT), "--port", str(port)],
        log=home / "serve_demo.log",
        cwd=REPO,
        home=home,
        probe="/voila/static/voila.js",
    )
    # the demo command must take its Voila server down with it
    assert answers(server.url + "/voila/static/voila.js", timeout=2) is None, (
        "Voila still answers after the demo command was stopped"
    )


def test_demo_app_renders_and_recomputes(demo_app: Server, recorded: RecordedPage) -> None:
    wait_until(
        lambda: f"ig_widgets demo: {demo_app.url}/" in demo_app.log_tail(),
        what="the demo command to print its URL",
    )
    page = recorded.page
    page.goto(demo_app.url + "/", timeout=180_000)
    root = explorer(page)
    first = settled(root)
    screenshot(page, "demo_app")

    choose(page, page, "example", 1)
    picked = settled_after(root, first)
    assert picked.words != first.words, "picking another example did not change the text"

    root.locator("input[aria-label='auto steps']").uncheck()  # the default is "auto"
    picked = settled_after(root, picked)
    n_steps = drag_steps(page, root, 0.08)
    dragged = settled_after(root, picked)
    assert dragged.n_steps == n_steps != picked.n_steps
    assert dragged.scores != picked.scores
    screenshot(page, "demo_app_dragged")
    recorded.assert_local()


def test_serve_demo_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, str(SCRIPT), "--check"],
        cwd=REPO,
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: http://127.0.0.1:" in result.stdout
