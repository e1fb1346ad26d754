"""The package's warning category (re-exported as ``ig_widgets.IGWidgetsWarning``)."""

from __future__ import annotations

__all__ = ["IGWidgetsWarning"]


class IGWidgetsWarning(UserWarning):
    """Warning category of this package (tests turn it into an error)."""
