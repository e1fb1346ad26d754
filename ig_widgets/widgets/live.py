"""The one live-widget base: background worker, scheduling, publish-if-current, errors, close."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import traitlets as t

from ig_widgets.widgets.worker import Request, Worker

#: the status suffix of a result that is still being sharpened
REFINING = " · refining…"
#: a function called with each result a widget shows (see :meth:`LiveWidget.on_result`)
ResultCallback = Callable[[Any], None]

_log = logging.getLogger(__name__)


def error_message(exc: BaseException) -> str:
    """The banner text of an exception: a ValueError/TypeError's own words, else its type too."""
    if isinstance(exc, (ValueError, TypeError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


class LiveWidget(t.HasTraits):
    """Base of every widget that computes in the background and shows the newest result.

    A widget supplies three things and gets the rest:

    - :meth:`_request`: the parameters of a computation, read from its traits (hashable;
      an unchanged request is not computed again);
    - :meth:`_stages`: the computation, run on the worker thread; it yields one result per
      stage (coarse first) and may report ``self._progress(request, done, total)``;
    - :meth:`_show`: renders a result into traits (called with the lock held, inside
      ``hold_sync``; a ``ValueError``/``TypeError`` becomes the error banner, and the result
      stays shown).

    The base owns the :class:`Worker` (debounced, newest request first, older ones cancelled),
    publishes a stage only while its request is the newest, marks what is shown as ``stale``
    when a newer request fails, shows errors in a banner without losing the shown result, and
    :meth:`close` stops the worker and closes the widget's children (:meth:`_children`).
    Subclasses call :meth:`_start_live` in their constructor before the traits are set and
    :meth:`_schedule` once they are.

    Other code follows what a widget shows through :meth:`on_result` (not through its
    traits): each callback gets every result the moment it is shown. A change from the
    browser that a trait's validator refuses is not applied: its message goes to the error
    banner and the browser is sent the kernel's values back.
    """

    computing = t.Bool(False, help="a computation is running").tag(sync=True)
    progress = t.Float(0.0, help="the running computation's progress, in percent").tag(sync=True)
    error = t.Unicode("", help="the newest request's error, shown in a banner").tag(sync=True)
    status = t.Unicode("", help="what the shown result is (steps, rule, baseline)").tag(sync=True)
    stale = t.Bool(
        False, help="what is shown belongs to older settings (an error came after it)"
    ).tag(sync=True)
    done = t.Bool(
        False, help="what is shown is the newest request's final result (nothing runs)"
    ).tag(sync=True)

    _worker: Worker
    _lock: threading.RLock
    _result: Any
    _params: Any
    _submitted: Any
    _view_error: bool
    _on_result: list[ResultCallback]
    last_traceback: str

    def _start_live(self, *, debounce: float, name: str) -> None:
        """Create the lock and the worker (before any trait observer can schedule)."""
        self._lock = threading.RLock()
        self._result = None
        self._params = None
        self._submitted = None
        self._view_error = False
        self._on_result = []
        self.last_traceback = ""
        self._worker = Worker(self._job, self._failed, debounce=debounce, name=name)

    # ---------------------------------------------------------------- for subclasses
    def _request(self) -> Hashable:
        raise NotImplementedError

    def _stages(self, params: Any, request: Request) -> Iterator[Any]:
        raise NotImplementedError

    def _show(self, result: Any) -> None:
        raise NotImplementedError

    def _children(self) -> list[Any]:
        """Child widgets closed with this one."""
        return []

    def _finished(self, request: Request, result: Any) -> None:
        """Called on the worker thread after the final stage was shown (e.g. background work)."""

    # ---------------------------------------------------------------- public
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current computation finished; False on timeout."""
        return self._worker.wait(timeout)

    def on_result(self, callback: ResultCallback, remove: bool = False) -> None:
        """Call ``callback(result)`` with each result this widget shows; ``remove`` stops it.

        ``result`` is what the widget computed: an :class:`~ig_widgets.Explanation` for the
        Explorer (every stage, coarse first: ``result.is_final`` marks the last one), one
        per model for Compare, a view's own result type for the teaching views. The
        callback runs on the worker thread right after the result is shown, with the
        widget's lock held, so the widget's ``parameters`` are those of ``result``; keep it
        short (schedule work elsewhere). An exception in it is logged and does not stop the
        widget or the other callbacks.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        with self._lock:
            if remove:
                if callback in self._on_result:
                    self._on_result.remove(callback)
            elif callback not in self._on_result:
                self._on_result.append(callback)

    def refresh(self) -> None:
        """Recompute for the current parameters (e.g. after the model's weights changed)."""
        self._schedule(force=True)

    def close(self) -> None:
        """Stop the background work and close the widget and its children."""
        worker = self.__dict__.get("_worker")
        if worker is not None:  # absent when the constructor refused its arguments
            worker.close()
        for child in self._children():
            if child is not None:
                child.close()
        super().close()  # type: ignore[misc]  # the widget class after this mixin has close()

    # ---------------------------------------------------------------- threads
    # The worker thread publishes results inside ``hold_sync`` with ``self._lock`` held, while
    # the kernel's thread applies the browser's changes and schedules. ``hold_sync`` keeps one
    # set of states to send per widget: entered from both threads at once, one thread's exit
    # sends and clears the other's pending states (the browser never gets the new rows or a
    # new sort direction) or fails with "Set changed size during iteration". So every change
    # on the kernel's side takes the same lock: a message from the browser as a whole, each
    # trait notification (its send and its observers), and scheduling.
    def _handle_msg(self, msg: dict[str, Any]) -> None:
        with self._lock:
            super()._handle_msg(msg)  # type: ignore[misc]  # the widget class after this mixin

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply the browser's changes; a refused value goes to the banner, nothing changes.

        A validator's ``TraitError`` rolls the whole message back (traitlets validates
        the traits of one message together); the browser then gets the kernel's values of
        the traits it sent, so its controls show what is computed.
        """
        with self._lock:
            try:
                super().set_state(sync_data)  # type: ignore[misc]  # the widget class after this
            except t.TraitError as exc:
                self.error, self._view_error = str(exc), True
                keys = self.keys  # type: ignore[attr-defined]  # the widget's synced traits
                self.send_state([name for name in sync_data if name in keys])  # type: ignore[attr-defined]

    def notify_change(self, change: Any) -> None:
        """Send a changed trait and run its observers with the worker's lock held."""
        lock = self.__dict__.get("_lock")
        if lock is None:  # traits set by the constructor, before _start_live
            super().notify_change(change)
            return
        with lock:
            super().notify_change(change)

    # ---------------------------------------------------------------- machinery
    def _schedule(self, force: bool = False) -> None:
        """Submit the current request unless it is the one submitted last."""
        with self._lock:
            params = self._request()
            if params == self._submitted and not force:
                return  # several traits of one message: their observers all see the same values
            self._submitted = params
            self._worker.submit(params)
            with self.hold_sync():  # type: ignore[attr-defined]
                self.computing, self.done = True, False

    def _rerender(self) -> None:
        """Show the last result again (a view-only trait changed); no computation."""
        with self._lock:
            if self._result is not None:
                with self.hold_sync():  # type: ignore[attr-defined]
                    self._guarded_show(self._result)

    def _guarded_show(self, result: Any) -> None:
        try:
            self._show(result)
        except (ValueError, TypeError) as exc:
            self.error, self._view_error = error_message(exc), True
            return
        if self._view_error:
            self.error, self._view_error = "", False

    def _job(self, request: Request) -> None:
        result: Any = None
        for result in self._stages(request.params, request):
            if not self._publish(request, result):
                return
        with self._lock:
            if not self._worker.is_current(request):
                return
            with self.hold_sync():  # type: ignore[attr-defined]
                self.computing, self.done = False, True
                self.progress = 100.0
        self._finished(request, result)

    def _publish(self, request: Request, result: Any) -> bool:
        """Show ``result`` if its request is still the newest; False when it is stale."""
        with self._lock:
            if not self._worker.is_current(request):
                return False
            self._result, self._params = result, request.params
            with self.hold_sync():  # type: ignore[attr-defined]
                self.error, self.stale, self._view_error = "", False, False
                self._guarded_show(result)
            for callback in list(self._on_result):
                try:
                    callback(result)
                except Exception:  # a follower's bug must not stop this widget
                    _log.exception("an on_result callback of %s failed", type(self).__name__)
            return True

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
                self._show_error(error_message(exc))
                self.computing = False

    def _show_error(self, message: str) -> None:
        """The banner for ``message``; what is shown stays, marked stale, and stops refining."""
        with self._lock, self.hold_sync():  # type: ignore[attr-defined]
            self.error = message
            self.stale = self._result is not None
            self.status = self.status.replace(REFINING, "")
