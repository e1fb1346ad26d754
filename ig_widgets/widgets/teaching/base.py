"""The base of the teaching views: an explainer and a one-stage live computation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ipyvuetify as v
import traitlets as t

from ig_widgets.engine.explainer import Explainer
from ig_widgets.widgets.live import LiveWidget
from ig_widgets.widgets.worker import Request


def as_explainer(model_or_explainer: Any) -> Explainer:
    """``model_or_explainer`` itself when it is an :class:`Explainer`, else one built on it."""
    if isinstance(model_or_explainer, Explainer):
        return model_or_explainer
    return Explainer(model_or_explainer)


class TeachingView(LiveWidget, v.VuetifyTemplate):
    """A live view whose computation has one stage: :meth:`_compute` returns its result.

    Subclasses define :meth:`_request` (the parameters of a computation, from the traits),
    :meth:`_compute` (runs on the worker thread; returns a result) and :meth:`_show`
    (renders a result; also called when a view-only trait changes); the live machinery is
    :class:`ig_widgets.widgets.live.LiveWidget`'s.
    """

    classes = t.List(t.Unicode(), help="the model's class names").tag(sync=True)

    def __init__(self, model_or_explainer: Any, *, debounce: float = 0.2, **traits: Any) -> None:
        self.explainer = as_explainer(model_or_explainer)
        self._start_live(debounce=debounce, name="igw-teaching")
        super().__init__(classes=list(self.explainer.classes), **traits)

    @property
    def result(self) -> Any:
        """The last computed result shown (None before the first)."""
        return self._result

    def _compute(self, params: Any, request: Request) -> Any:
        raise NotImplementedError

    def _stages(self, params: Any, request: Request) -> Iterator[Any]:
        yield self._compute(params, request)
