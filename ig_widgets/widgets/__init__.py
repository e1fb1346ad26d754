"""Jupyter widgets (ipyvuetify 3 templates): saliency chips, attribution bars, the live Explorer."""

from __future__ import annotations

__all__ = ["AttributionBars", "Explorer", "SaliencyChips"]


def __getattr__(name: str) -> object:
    """Import a widget class on first use (ipyvuetify loads only when a widget is wanted)."""
    if name == "SaliencyChips":
        from ig_widgets.widgets.chips import SaliencyChips

        return SaliencyChips
    if name == "AttributionBars":
        from ig_widgets.widgets.bars import AttributionBars

        return AttributionBars
    if name == "Explorer":
        from ig_widgets.widgets.explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'ig_widgets.widgets' has no attribute {name!r}")
