"""A live widget's two threads seen from the browser: its copy of the state, hold_sync overlaps."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def browser_message(widget: Any, data: dict[str, Any]) -> None:
    """Deliver ``data`` as the browser's comm message would arrive (the kernel's thread)."""
    widget._handle_msg({"content": {"data": data}, "buffers": []})


@dataclass
class BrowserCopy:
    """What the browser holds (its own changes, then the updates sent) and hold_sync overlaps.

    Both threads of a live widget send state through ``hold_sync``, which keeps one set of
    pending states per widget; inside it at once, one thread's exit sends and clears the
    other's pending states, or raises "Set changed size during iteration". ``overlaps``
    records each time two threads were inside it together.
    """

    state: dict[str, Any]
    overlaps: list[set[int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def change(self, widget: Any, state: dict[str, Any]) -> None:
        """The user changes traits in the browser: shown at once there, then sent."""
        with self.lock:
            self.state.update(state)
        browser_message(widget, {"method": "update", "state": state})


@contextmanager
def watched(widget: Any, channel_delay: float = 0.002) -> Iterator[BrowserCopy]:
    """Follow ``widget``'s state as the browser would see it, through a slow channel."""
    copy = BrowserCopy(dict(widget.get_state()))
    holders: dict[int, int] = {}  # thread id -> depth of hold_sync
    hold_sync = widget.hold_sync

    @contextmanager
    def tracked() -> Iterator[None]:
        me = threading.get_ident()
        with copy.lock:
            holders[me] = holders.get(me, 0) + 1
            if len([k for k, depth in holders.items() if depth]) > 1:
                copy.overlaps.append(set(holders))
        try:
            with hold_sync():
                yield
        finally:
            with copy.lock:
                holders[me] -= 1

    def send(msg: dict[str, Any], buffers: Any = None) -> None:
        if msg.get("method") == "update":
            time.sleep(channel_delay)  # a slow channel: the window a second thread gets in by
            with copy.lock:
                copy.state.update(msg["state"])

    widget.hold_sync = tracked
    widget._send = send
    yield copy


def assert_no_lost_update(
    widget: Any,
    step: Callable[[BrowserCopy, random.Random], None],
    keys: tuple[str, ...],
    *,
    rounds: int,
    seed: int,
    timeout: float,
) -> None:
    """Browser changes (``step``, ``rounds`` times) while the worker publishes: none lost.

    Afterwards nothing was raised, the two threads were never inside ``hold_sync`` at
    once, and the browser's copy of ``keys`` is what Python holds. Closes ``widget``.
    """
    rnd = random.Random(seed)
    failures: list[BaseException] = []
    with watched(widget) as browser:
        try:
            for _ in range(rounds):
                step(browser, rnd)
                time.sleep(rnd.random() * 0.004)
        except RuntimeError as exc:  # "Set changed size during iteration"
            failures.append(exc)
        finally:
            time.sleep(0.1)
            assert widget.wait(timeout)
            python = widget.get_state()
            widget.close()
    assert not failures, failures
    assert not browser.overlaps, f"two threads in hold_sync at once {len(browser.overlaps)} times"
    assert {k: browser.state[k] for k in keys} == {k: python[k] for k in keys}
