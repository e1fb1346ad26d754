"""A debounced, cancellable background worker: the newest request wins, older ones are cancelled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ig_widgets.engine.core import Cancelled


@dataclass
class Request:
    """One unit of work and what it was asked with.

    Attributes
    ----------
    generation : int
        Increases with every submission; only the newest generation may publish results.
    params : Any
        The parameters the work is computed for (kept with its results).
    cancel : threading.Event
        Set when a newer request arrives; pass it to the engine as its ``cancel`` hook.
    due : float
        ``time.monotonic()`` at which the debounce period ends.
    """

    generation: int
    params: Any
    cancel: threading.Event = field(default_factory=threading.Event)
    due: float = 0.0


class Worker:
    """Runs ``job(request)`` on one daemon thread, debounced, newest request first.

    Each :meth:`submit` cancels the running request (its ``cancel`` event is set) and
    replaces any request still waiting. A change that comes after ``debounce`` seconds of
    quiet starts at once (leading edge); a change within ``debounce`` of the previous one
    waits until ``debounce`` seconds have passed without another (trailing edge), so a burst
    runs the job at most twice, the last time for the last parameters. ``job`` may raise
    :class:`ig_widgets.Cancelled` (ignored); other exceptions go to ``on_error(request, exc)``.

    Parameters
    ----------
    job : callable
        ``job(request)``; checks :meth:`is_current` before publishing results.
    on_error : callable
        ``on_error(request, exc)`` for exceptions other than ``Cancelled``.
    debounce : float
        Seconds without a new submission before a request starts.
    """

    def __init__(
        self,
        job: Callable[[Request], None],
        on_error: Callable[[Request, Exception], None],
        debounce: float = 0.25,
        name: str = "igw-worker",
    ) -> None:
        if debounce < 0:
            raise ValueError(f"debounce must be >= 0 seconds, got {debounce}")
        self.job, self.on_error, self.debounce, self.name = job, on_error, float(debounce), name
        self._cond = threading.Condition()
        self._generation = 0
        self._pending: Request | None = None
        self._running: Request | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_submit = -float("inf")

    @property
    def busy(self) -> bool:
        """True while a request waits or runs."""
        with self._cond:
            return self._pending is not None or self._running is not None

    def submit(self, params: Any, *, debounce: float | None = None) -> Request:
        """Queue ``params``; cancel the running request and drop the waiting one."""
        delay = self.debounce if debounce is None else debounce
        with self._cond:
            now = time.monotonic()
            if now - self._last_submit >= delay:
                delay = 0.0  # leading edge: a lone change starts at once
            self._last_submit = now
            if self._closed:
                raise RuntimeError("this worker is closed")
            self._generation += 1
            if self._running is not None:
                self._running.cancel.set()
            if self._pending is not None:
                self._pending.cancel.set()
            request = Request(self._generation, params, due=now + delay)
            self._pending = request
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return request

    def is_current(self, request: Request) -> bool:
        """True when no newer request was submitted after ``request``."""
        with self._cond:
            return request.generation == self._generation and not request.cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing waits or runs; False when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._running is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Cancel everything and let the thread end."""
        with self._cond:
            self._closed = True
            for request in (self._pending, self._running):
                if request is not None:
                    request.cancel.set()
            self._pending = None
            self._cond.notify_all()

    def _next(self) -> Request | None:
        """The next request once its debounce period has passed; None when closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                request = self._pending
                if request is None:
                    self._cond.wait()
                    continue
                left = request.due - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._pending, self._running = None, request
                return request

    def _loop(self) -> None:
        while (request := self._next()) is not None:
            try:
                self.job(request)
            except Cancelled:
                pass
            except Exception as exc:  # reported to the widget, never lost
                self._report(request, exc)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def _report(self, request: Request, exc: Exception) -> None:
        try:
            self.on_error(request, exc)
        except Exception:  # an error handler must not kill the thread
            import traceback

            traceback.print_exc()
