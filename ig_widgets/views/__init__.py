"""Static views of an Explanation: self-contained HTML, matplotlib charts, colour scales."""

from __future__ import annotations

from ig_widgets.views.html import explanation_html
from ig_widgets.views.normalize import NORMALIZE_MODES, PALETTES, color_for, normalize

__all__ = ["NORMALIZE_MODES", "PALETTES", "color_for", "explanation_html", "normalize"]
