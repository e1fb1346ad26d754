"""AttributionBars: a horizontal bar chart of attributions, drawn by a Vue template (no library)."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from ig_widgets.widgets._templates import vue_template
from ig_widgets.widgets.chips import ScoreWidget

ORDERS = ("text", "sorted")


class AttributionBars(ScoreWidget):
    """One horizontal bar per token or word: right of the axis for positive, left for negative.

    Parameters
    ----------
    tokens : sequence of str
        Texts, ``(n,)``.
    scores : sequence of float
        Raw attributions, ``(n,)``.
    order : {"text", "sorted"}
        Text order, or by decreasing ``|score|``.
    top_k : int
        Show only the ``top_k`` largest ``|score|`` (0: all), kept in ``order``.
    show_all : bool
        Show every bar although ``top_k`` is set (the "show all" button toggles it).
    unit : str
        What one bar stands for, in the plural ("words", "tokens", "sentences"): the note
        "top 20 of N words" names it.

    ``rows`` (derived) lists the shown indices in display order. DOM: root ``.igw-bars``; each
    bar ``.igw-bar`` with ``data-index`` (into ``tokens``) and ``data-score``; while bars are
    hidden, ``.igw-bars-more`` says how many and holds the button ``show-all-bars``.
    """

    template = t.Unicode(vue_template("bars.vue"), help="the Vue template (js/bars.vue)").tag(
        sync=True
    )

    order = t.Unicode("text", help="'text' or 'sorted' (largest magnitude first)").tag(sync=True)
    top_k = t.Int(0, help="how many bars to show; 0 for all").tag(sync=True)
    show_all = t.Bool(False, help="show every bar although top_k is set").tag(sync=True)
    unit = t.Unicode("words", help="what one bar stands for, plural (for 'top 20 of N words')").tag(
        sync=True
    )
    rows = t.List(t.Int(), read_only=True, help="the indices of the bars drawn, in order").tag(
        sync=True
    )

    @t.validate("order")
    def _check_order(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in ORDERS:
            raise t.TraitError(f"order must be one of {ORDERS}")
        return proposal["value"]

    @t.validate("top_k")
    def _check_top_k(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise t.TraitError("top_k must be 0 (all) or a positive count")
        return proposal["value"]

    @t.observe("order", "top_k", "show_all")
    def _on_rows(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        magnitude = np.abs(np.asarray(self.scores, dtype=np.float64))
        by_size = np.argsort(-magnitude, kind="stable")
        keep = by_size[: self.top_k] if self.top_k and not self.show_all else by_size
        rows = keep if self.order == "sorted" else np.sort(keep)
        with self.hold_sync():
            super()._refresh()
            self.set_trait("rows", [int(i) for i in rows])
