"""Shared machinery of the teaching views: an explainer, a background worker, an error banner."""

from __future__ import annotations

import threading
from typing import Any

import ipyvuetify as v
import traitlets as t

from ig_widgets.engine.explainer import Explainer
from ig_widgets.widgets.live import LiveWidget
from ig_widgets.widgets.worker import Request, Worker


def as_explainer(model_or_explainer: Any) -> Explainer:
    """``model_or_explainer`` itself when it is an :class:`Explainer`, else one built on it."""
    if isinstance(model_or_explainer, Explainer):
        return model_or_explainer
    return Explainer(model_or_explainer)


class TeachingView(LiveWidget, v.VuetifyTemplate):
    """A view that computes on a background thread and shows its result or its error.

    Subclasses define :meth:`_request` (the parameters of a computation, from the traits),
    :meth:`_compute` (runs on the worker thread; returns a result) and :meth:`_show`
    (renders a result; also called when a view-only trait changes). A newer request cancels
    the running one, and only the newest request's result or error is shown.
    """

    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)

    def __init__(self, model_or_explainer: Any, *, debounce: float = 0.2, **traits: Any) -> None:
        self.explainer = as_explainer(model_or_explainer)
        self._lock = threading.RLock()
        self._result: Any = None
        self.last_traceback = ""
        self._worker = Worker(self._job, self._failed, debounce=debounce, name="igw-teaching")
        super().__init__(classes=list(self.explainer.classes), **traits)

    @property
    def result(self) -> Any:
        """The last computed result shown (None before the first)."""
        return self._result

    def close(self) -> None:
        """Stop the background work and close the widget and its children."""
        self._stop_worker()
        for child in self._children():
            child.close()
        super().close()

    def refresh(self) -> None:
        """Recompute with the current parameters."""
        self._schedule()

    # ---------------------------------------------------------------- for subclasses
    def _request(self) -> Any:
        raise NotImplementedError

    def _compute(self, params: Any, request: Request) -> Any:
        raise NotImplementedError

    def _show(self, result: Any) -> None:
        raise NotImplementedError

    def _children(self) -> list[Any]:
        return []

    # ---------------------------------------------------------------- machinery
    def _schedule(self) -> None:
        self._worker.submit(self._request())
        self.computing = True

    def _rerender(self) -> None:
        """Show the last result again (a view-only trait changed); no computation."""
        with self._lock:
            if self._result is not None:
                self._guarded_show(self._result)

    def _guarded_show(self, result: Any) -> None:
        try:
            with self.hold_sync():
                self._show(result)
                self.error = ""
        except (ValueError, TypeError) as exc:
            self.error = str(exc)

    def _job(self, request: Request) -> None:
        result = self._compute(request.params, request)
        with self._lock:
            if not self._worker.is_current(request):
                return
            self._result = result
            with self.hold_sync():
                self._guarded_show(result)
                self.computing = False
                self.progress = 100.0
