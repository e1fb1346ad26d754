"""What every live widget shares: waiting, progress and errors of its background worker."""

from __future__ import annotations

import threading
import traceback

import traitlets as t

from ig_widgets.widgets.worker import Request, Worker


def error_message(exc: BaseException) -> str:
    """The banner text of an exception: a ValueError/TypeError's own words, else its type too."""
    if isinstance(exc, (ValueError, TypeError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


class LiveWidget(t.HasTraits):
    """Mixin for widgets that compute on a :class:`Worker` (``self._worker``).

    It holds the synced traits every live widget shows; the widget class provides a
    ``threading.RLock`` as ``self._lock`` and may override :meth:`_on_error` to mark what is
    shown as stale.
    """

    computing = t.Bool(False, help="a computation is running").tag(sync=True)
    progress = t.Float(0.0, help="the running computation's progress, in percent").tag(sync=True)
    error = t.Unicode("", help="the newest request's error, shown in a banner").tag(sync=True)
    status = t.Unicode("", help="what the shown result is (steps, rule, baseline)").tag(sync=True)

    _worker: Worker
    _lock: threading.RLock
    last_traceback: str

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current computation finished; False on timeout."""
        return self._worker.wait(timeout)

    def _stop_worker(self) -> None:
        worker = self.__dict__.get("_worker")
        if worker is not None:  # absent when the constructor refused its arguments
            worker.close()

    def _progress(self, request: Request, done: float, total: float = 1.0) -> None:
        percent = round(100.0 * done / max(total, 1e-12), 1)
        with self._lock:
            if self._worker.is_current(request) and percent != self.progress:
                self.progress = percent

    def _failed(self, request: Request, exc: Exception) -> None:
        """Show the newest request's error in the widget; the traceback is kept for debugging."""
        self.last_traceback = "".join(traceback.format_exception(exc))
        with self._lock:
            if not self._worker.is_current(request):
                return
            with self.hold_sync():  # type: ignore[attr-defined]
                self.error = error_message(exc)
                self._on_error()
                self.computing = False

    def _on_error(self) -> None:
        """Called (inside hold_sync) when an error is shown."""
