"""Jupyter widgets (ipyvuetify 3): chips, bars, Explorer, Compare, teaching views, DatasetView."""

from __future__ import annotations

import importlib

# public name -> module; ipyvuetify loads only when a widget is wanted
_WIDGETS = {
    "SaliencyChips": "ig_widgets.widgets.chips",
    "AttributionBars": "ig_widgets.widgets.bars",
    "Explorer": "ig_widgets.widgets.explorer",
    "Compare": "ig_widgets.widgets.compare",
    "PathView": "ig_widgets.widgets.teaching",
    "ConvergenceView": "ig_widgets.widgets.teaching",
    "BaselineLab": "ig_widgets.widgets.teaching",
    "DatasetView": "ig_widgets.widgets.dataset_view",
}

__all__ = sorted(_WIDGETS)


def __getattr__(name: str) -> object:
    """Import a widget class on first use."""
    if name not in _WIDGETS:
        raise AttributeError(f"module 'ig_widgets.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(_WIDGETS[name]), name)
