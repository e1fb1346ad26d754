"""Fixtures of the browser suite: Jupyter servers, a Chromium browser, request-recording pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from .pages import RecordedPage, launch_chromium, screenshot
from .servers import REPO, Server, jupyter_cmd, serve, serve_voila


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """One Playwright driver for the whole session."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """The Debian chromium, headless, shared by every test."""
    chromium = launch_chromium(playwright_session)
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def recorded(browser: Browser, request: pytest.FixtureRequest) -> Iterator[RecordedPage]:
    """A fresh page whose requests are recorded; the test fails if one leaves localhost.

    When the test fails, a screenshot and the browser console go to artifacts/screenshots/.
    """
    rec = RecordedPage(browser)
    yield rec
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = "FAILED_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            path = screenshot(rec.page, name)
            path.with_suffix(".console.txt").write_text("\n".join(rec.console))
        except Exception as err:  # the page may be gone; the test already failed
            print(f"no failure screenshot: {err}")
    rec.close()
    rec.assert_local()


@pytest.fixture(scope="session")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Private Jupyter config/runtime folders and server logs."""
    return tmp_path_factory.mktemp("jupyter_home")


@pytest.fixture(scope="session")
def voila_server(server_home: Path) -> Iterator[Server]:
    """Voila serving ``notebooks/`` on a free 127.0.0.1 port (pages at /voila/render/NAME)."""
    yield from serve_voila(REPO / "notebooks", server_home, "voila")


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the JupyterLab / Notebook 7 server serves; tests write notebooks into it."""
    return tmp_path_factory.mktemp("lab_root")


@pytest.fixture(scope="session")
def lab_server(server_home: Path, lab_root: Path) -> Iterator[Server]:
    """A JupyterLab 4 server (which also serves Notebook 7 at /notebooks/) on 127.0.0.1."""
    yield from serve(
        lambda port: jupyter_cmd("lab", lab_root, port),
        log=server_home / "lab.log",
        cwd=lab_root,
        home=server_home,
        probe="/api",
    )


@pytest.fixture(scope="session")
def demo_explainer() -> Any:
    """An ``igw.Explainer`` on the bundled demo model, in the test process (expected values)."""
    import torch

    import ig_widgets as igw

    torch.set_num_threads(1)
    return igw.Explainer(igw.load_demo_model())


@pytest.fixture(scope="module")
def module_page(browser: Browser) -> Iterator[RecordedPage]:
    """One recorded page shared by a module's tests (one kernel for the module).

    Each test checks its own requests with ``assert_local``; the module's teardown does too.
    """
    rec = RecordedPage(browser)
    yield rec
    rec.close()
    rec.assert_local()
