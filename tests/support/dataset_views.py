"""A DatasetView for widget tests: ready before a test, closed after it, settled after a change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ig_widgets.widgets.dataset_view import DatasetView

#: seconds a view may take to answer its query
READY_S = 30


def ready_view(*args: Any, **kwargs: Any) -> Iterator[DatasetView]:
    """``DatasetView(*args, **kwargs)`` once its first page is in, closed when resumed.

    For ``yield from`` in a fixture.
    """
    widget = DatasetView(*args, **kwargs)
    assert widget.wait(READY_S)
    try:
        yield widget
    finally:
        widget.close()


def settle(view: DatasetView) -> DatasetView:
    """``view`` after its debounce has passed and the query it started has answered."""
    time.sleep(0.15)  # past the debounce
    assert view.wait(READY_S)
    return view
