"""Playwright helpers: a page that records its requests, screenshots, DOM reads and slider drags."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright

from .servers import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "file"}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(pw: Playwright) -> Browser:
    """Launch the Debian chromium (never a Playwright-downloaded browser)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    return pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (127.0.0.1/localhost, data:, blob:, file:)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


class RecordedPage:
    """A fresh browser context and page that records every request it makes."""

    def __init__(self, browser: Browser, *, offline: bool = False) -> None:
        self.requests: list[str] = []
        self.context: BrowserContext = browser.new_context(
            viewport={"width": 1280, "height": 900}, offline=offline
        )
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = self.context.new_page()
        self.page.on("websocket", lambda ws: self.requests.append(ws.url))
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))

    def foreign_requests(self) -> list[str]:
        """Requests that went to a host other than this machine."""
        return [url for url in self.requests if not is_local(url)]

    def assert_local(self) -> None:
        """Fail when any request so far left localhost."""
        foreign = self.foreign_requests()
        assert not foreign, f"{len(foreign)} request(s) left localhost: {foreign[:10]}"

    def close(self) -> None:
        """Close the context (and its page)."""
        self.context.close()


def screenshot(page: Page, name: str, locator: Locator | None = None, margin: int = 12) -> Path:
    """Save a PNG screenshot to artifacts/screenshots/NAME.png and return its path.

    With ``locator``, only that element and ``margin`` pixels around it (floating labels of
    Vuetify fields stick out of their element's box).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if locator is not None:
        _element_shot(page, locator, path, margin)
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def _element_shot(page: Page, locator: Locator, path: Path, margin: int) -> None:
    """Screenshot ``locator`` with a margin; the viewport grows to hold it (Voila pages scroll
    inside a container, so a full-page shot cannot reach below the viewport)."""
    viewport = page.viewport_size or {"width": 1280, "height": 900}
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None, "cannot screenshot an invisible element"
    needed = int(box["y"] + box["height"] + 2 * margin)
    if needed > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": needed})
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        assert box is not None
    x, y = max(box["x"] - margin, 0), max(box["y"] - margin, 0)
    clip = {
        "x": x,
        "y": y,
        "width": box["width"] + 2 * margin,
        "height": box["height"] + 2 * margin,
    }
    try:
        page.screenshot(path=str(path), clip=clip)
    finally:
        page.set_viewport_size(viewport)


def chip_state(root: Locator) -> list[tuple[str, float, str]]:
    """(text, data-score, data-index) of every ``.igw-chip`` under ``root``."""
    rows = root.locator(".igw-chip").evaluate_all(
        "els => els.map(e => [e.textContent.trim(), e.dataset.score, e.dataset.index])"
    )
    return [(text, float(score), index) for text, score, index in rows]


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def wait_for(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 90.0) -> Any:
    """Poll ``read()`` until ``ok`` holds of its value and return that value; fail with the last
    value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = read()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s; last value {value!r}")
        time.sleep(0.1)
        value = read()
    return value


def render(page: Page, url: str, root: str, ready: str, timeout_ms: float = 180_000) -> Locator:
    """Open ``url``; the first ``root`` element once it holds a ``ready`` element."""
    page.goto(url, timeout=timeout_ms)
    found = page.locator(root).first
    found.locator(ready).first.wait_for(timeout=timeout_ms)
    return found


def wait_stable(
    read: Callable[[], Any], *, settle: float = 1.5, timeout: float = 60.0, what: str = ""
) -> Any:
    """Poll ``read`` until it returns a non-empty value that stays the same for ``settle`` s."""
    deadline = time.monotonic() + timeout
    value: Any = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        current = read()
        if current != value or not current:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= settle:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} never settled in {timeout:.0f} s (last: {value!r})")


def slider_thumb(slider: Locator) -> Locator:
    """The draggable thumb of a Vuetify slider found by its aria-label."""
    if slider.get_attribute("role") == "slider":
        return slider
    inner = slider.locator("[role=slider]")
    if inner.count():
        return inner.first
    outer = slider.locator("xpath=ancestor::*[contains(@class,'v-slider')][1]")
    return outer.locator("[role=slider]").first


def drag_slider(page: Page, slider: Locator, fraction: float) -> None:
    """Drag the slider's thumb with the mouse to ``fraction`` (0..1) of its track.

    The moves are paced: JupyterLab drops a drag whose first move follows the press at once.
    """
    thumb = slider_thumb(slider)
    thumb.scroll_into_view_if_needed()
    container = thumb.locator(
        "xpath=ancestor::*[contains(concat(' ',@class,' '),' v-slider__container ')][1]"
    )
    box = container.bounding_box()
    start = thumb.bounding_box()
    assert box is not None and start is not None, "slider is not visible"
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1 = box["x"] + fraction * box["width"]
    page.mouse.move(x0, y0)
    time.sleep(0.15)
    page.mouse.down()
    time.sleep(0.15)
    for step in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * step / 10, y0)
        time.sleep(0.03)
    page.mouse.up()
