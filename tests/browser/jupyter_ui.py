"""Drive JupyterLab 4 and Notebook 7 pages: open a notebook and run all of its cells."""

from __future__ import annotations

import time

from playwright.sync_api import Page

from .servers import Server

# the address of a notebook in each front end (both served by one JupyterLab server)
FRONT_ENDS = {"lab": "/lab/tree/{name}", "notebook7": "/notebooks/{name}"}


def open_notebook(page: Page, server: Server, front_end: str, name: str) -> None:
    """Open ``name`` in JupyterLab (``"lab"``) or Notebook 7 (``"notebook7"``) and wait for it."""
    page.goto(server.url + FRONT_ENDS[front_end].format(name=name), timeout=90_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    wait_kernel_idle(page)
    dismiss_news(page)


# the kernel of the notebook in the main area, once its session is connected
KERNEL_STATUS = """() => {
    const widget = window.jupyterapp.shell.currentWidget;
    const kernel = widget && widget.sessionContext && widget.sessionContext.session
        && widget.sessionContext.session.kernel;
    return kernel ? kernel.status : null;
}"""


def wait_kernel_idle(page: Page, timeout: float = 120.0) -> None:
    """Wait until the notebook's kernel is connected and idle, accepting a kernel dialog.

    Running cells before that may be dropped, or make JupyterLab ask for a kernel.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        if page.evaluate(KERNEL_STATUS) == "idle":
            return
        time.sleep(0.3)
    raise AssertionError(f"the kernel never became idle: {page.evaluate(KERNEL_STATUS)!r}")


def accept_kernel_dialog(page: Page) -> None:
    """Accept JupyterLab's "Select Kernel" dialog (the notebook's own kernel is preselected)."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()


def dismiss_news(page: Page) -> None:
    """Answer "No" to JupyterLab's news toast if it is up (it may cover the widget)."""
    button = page.locator(".jp-toast-button", has_text="No")
    if button.count():
        button.first.click()


def _prompts(page: Page) -> list[str]:
    return page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").evaluate_all(
        "els => els.map(e => e.textContent.trim())"
    )


def run_all_cells(
    page: Page, *, timeout: float = 180.0, retry_after: float = 15.0, settle: float = 3.0
) -> None:
    """Run every cell, re-issuing the run while it has not started or has stalled.

    A run issued right after the page loads is sometimes dropped (the kernel is still
    connecting), and one that arrives late beside a re-issued one can leave the later cells
    unqueued: JupyterLab then shows the first cells numbered, the rest ``[ ]``, and an idle
    kernel. Either way the run is issued again once nothing has changed for ``retry_after``
    seconds (the notebooks are safe to run again from the top). The cells have finished when
    every prompt is numbered and the prompts stay unchanged for ``settle`` s.
    """
    deadline = time.monotonic() + timeout
    issued = 0.0
    last: list[str] | None = None
    changed = time.monotonic()
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        prompts = _prompts(page)
        now = time.monotonic()
        if prompts != last:
            last, changed = prompts, now
        numbered = [any(ch.isdigit() for ch in p) and "*" not in p for p in prompts]
        if prompts and all(numbered):
            if now - changed >= settle:
                return
        elif not issued or (
            not any("*" in p for p in prompts)
            and now - max(issued, changed) > retry_after
            and page.evaluate(KERNEL_STATUS) == "idle"
        ):
            # fire and forget: the command's promise only settles when the cells have run
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            issued = now
        time.sleep(0.5)
    raise AssertionError(f"cells did not finish in {timeout:.0f} s; prompts: {_prompts(page)}")
