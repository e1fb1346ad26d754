"""SaliencyChips: every token (or word) as a coloured chip, drawn by one Vue template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import ipyvuetify as v
import numpy as np
import traitlets as t

from ig_widgets.views.normalize import NORMALIZE_MODES, PALETTES, display_scale, scaled
from ig_widgets.views.selection import Selection, select
from ig_widgets.widgets._templates import vue_template

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import Explanation

#: the strongest chip's background opacity: with it, the theme's own text colour (black on
#: light, white on dark) keeps a WCAG contrast of at least 4.5 on every palette hue
MAX_ALPHA = 0.75


class ScoreWidget(v.VuetifyTemplate):
    """Shared traits of the chip and bar widgets: tokens, raw scores and their display values.

    ``values`` (normalised to ``[-1, 1]`` by ``normalize``, or by ``vmax`` when it is set),
    ``part_values`` and ``hues`` (the palette's negative and positive RGB) are derived: set
    ``tokens``/``scores``/``special``/``oov``/``parts`` (best with :meth:`set_data`),
    ``normalize``, ``vmax`` and ``palette``.
    """

    tokens = t.List(t.Unicode(), help="the chips' text: words or tokens").tag(sync=True)
    scores = t.List(t.Float(), help="raw attributions, one per chip").tag(sync=True)
    special = t.List(t.Bool(), help="which chips are special tokens (drawn muted)").tag(sync=True)
    oov = t.List(
        t.Bool(),
        help="which chips the model does not know (read as its unknown token); [] for none",
    ).tag(sync=True)
    parts = t.List(
        t.List(t.Dict()),
        help="per chip, the word items {text, score, special, oov} it expands into; [] for none",
    ).tag(sync=True)
    values = t.List(
        t.Float(), read_only=True, help="scores normalised for display, in [-1, 1]"
    ).tag(sync=True)
    part_values = t.List(
        t.List(t.Float()), read_only=True, help="the parts' scores on the chips' scale, in [-1, 1]"
    ).tag(sync=True)
    normalize = t.Unicode("maxabs", help="how scores become colours (see views.normalize)").tag(
        sync=True
    )
    vmax = t.Float(
        0.0, help="the |score| drawn at full colour, shared with other rows; 0 follows normalize"
    ).tag(sync=True)
    palette = t.Unicode("default", help="the colour palette's name").tag(sync=True)
    hues = t.List(
        t.List(t.Int()), read_only=True, help="the palette's negative and positive colours"
    ).tag(sync=True)
    selected = t.Int(-1, help="the chip clicked last; -1 for none").tag(sync=True)
    label = t.Unicode("", help="an accessible name for the chip row").tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str] = (),
        scores: Sequence[float] | np.ndarray = (),
        *,
        special: Sequence[bool] | None = None,
        oov: Sequence[bool] | None = None,
        parts: Sequence[Sequence[Mapping[str, Any]]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_data(tokens, scores, special=special, oov=oov, parts=parts, label=self.label)

    def set_data(
        self,
        tokens: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        *,
        special: Sequence[bool] | None = None,
        oov: Sequence[bool] | None = None,
        parts: Sequence[Sequence[Mapping[str, Any]]] | None = None,
        label: str = "",
    ) -> None:
        """Replace tokens and raw scores in one message.

        Parameters
        ----------
        tokens : sequence of str
            Texts, ``(n,)``.
        scores : sequence of float
            Raw attributions, ``(n,)``; finite.
        special : sequence of bool, optional
            Special-token flags, ``(n,)`` (default all False).
        oov : sequence of bool, optional
            Out-of-vocabulary flags, ``(n,)``: the model reads these as its unknown token
            (marked and explained in a tooltip). Default: none.
        parts : sequence of sequences of dict, optional
            For sentence chips, ``(n,)`` lists of word items ``{"text", "score", "special",
            "oov"}`` (``score`` raw, finite; the flags optional) that a click expands the chip
            into, coloured on the chips' scale; an empty list for a chip without parts.
        label : str
            What the scores explain (e.g. the class name).
        """
        tokens = [str(x) for x in tokens]
        raw = np.asarray(scores, dtype=np.float64).reshape(-1)
        n = len(tokens)
        flags = _flags(special, n, "special")
        unknown = _flags(oov, n, "oov") if oov is not None and any(oov) else []
        items = _parts(parts, n)
        if len(raw) != n:
            raise ValueError(f"tokens and scores must have the same length, got {n} and {len(raw)}")
        if not np.all(np.isfinite(raw)):
            raise ValueError("scores must be finite numbers")
        with self.hold_sync():
            if n != len(self.tokens) or self.selected >= n:
                self.selected = -1
            self.tokens, self.scores, self.special = tokens, raw.tolist(), flags
            self.oov, self.parts = unknown, items
            self.label = label
            self._refresh()

    @classmethod
    def from_explanation(
        cls,
        exp: Explanation,
        target: int | str | None = None,
        level: str = "word",
        *,
        contrast: int | str | None = None,
        **kwargs: Any,
    ) -> ScoreWidget:
        """A widget showing one class of ``exp`` (see :func:`ig_widgets.views.selection.select`)."""
        widget = cls(**kwargs)
        widget.show(exp, target, level, contrast)
        return widget

    def show(
        self,
        exp: Explanation,
        target: int | str | None = None,
        level: str = "word",
        contrast: int | str | None = None,
    ) -> Selection:
        """Show one class of ``exp`` in this widget; returns what was shown.

        ``level`` is ``"word"``, ``"token"`` or ``"sentence"`` (sentence chips expand into
        their words on a click); ``contrast`` shows "why ``target`` and not ``contrast``".
        """
        view = select(exp, target, level, contrast)
        self.show_selection(view)
        return view

    def show_selection(self, view: Selection) -> None:
        """Show what :func:`ig_widgets.views.selection.select` chose, in one message.

        The one seam between a selection and a chip row or bar chart: its units' texts,
        raw scores ``(n,)``, special and unknown flags, a sentence's word parts and the
        label of the class (or contrast) shown.
        """
        self.set_data(
            view.tokens,
            view.scores,
            special=view.special,
            oov=view.oov,
            parts=[[asdict(p) for p in parts] for parts in view.parts],
            label=view.attribution.label,
        )

    @t.validate("normalize")
    def _check_normalize(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in NORMALIZE_MODES:
            raise t.TraitError(f"normalize must be one of {NORMALIZE_MODES}")
        return proposal["value"]

    @t.validate("palette")
    def _check_palette(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in PALETTES:
            raise t.TraitError(f"palette must be one of {tuple(PALETTES)}")
        return proposal["value"]

    @t.validate("vmax")
    def _check_vmax(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not (np.isfinite(value) and value >= 0.0):
            raise t.TraitError("vmax must be 0 (follow normalize) or a positive |score|")
        return value

    @t.validate("selected")
    def _check_selected(self, proposal: dict[str, Any]) -> int:
        index = int(proposal["value"])
        return index if 0 <= index < len(self.tokens) else -1

    @t.observe("normalize", "palette", "vmax")
    def _on_display(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        scale = self.vmax or display_scale(self.scores, self.normalize)
        with self.hold_sync():
            self.set_trait("values", _rounded(scaled(self.scores, scale)))
            self.set_trait(
                "part_values",
                [_rounded(scaled([w["score"] for w in p], scale)) if p else [] for p in self.parts],
            )
            self.set_trait("hues", [list(h) for h in PALETTES[self.palette]])


def _rounded(values: np.ndarray) -> list[float]:
    """Display values with 4 decimals (plenty for a colour, and a compact message)."""
    return [round(float(x), 4) for x in values]


def _flags(flags: Sequence[bool] | None, n: int, name: str) -> list[bool]:
    """``n`` booleans (all False when ``flags`` is None)."""
    if flags is None:
        return [False] * n
    out = [bool(x) for x in flags]
    if len(out) != n:
        raise ValueError(f"tokens and {name} must have the same length, got {n} and {len(out)}")
    return out


def _parts(parts: Sequence[Sequence[Mapping[str, Any]]] | None, n: int) -> list[list[dict]]:
    """The word items of each chip as plain dicts; [] when no chip has parts."""
    if parts is None or not any(parts):
        return []
    if len(parts) != n:
        raise ValueError(f"tokens and parts must have the same length, got {n} and {len(parts)}")
    out = []
    for chip in parts:
        items = []
        for word in chip:
            score = float(word["score"])
            if not np.isfinite(score):
                raise ValueError("the parts' scores must be finite numbers")
            items.append(
                {
                    "text": str(word["text"]),
                    "score": score,
                    "special": bool(word.get("special", False)),
                    "oov": bool(word.get("oov", False)),
                }
            )
        out.append(items)
    return out


class SaliencyChips(ScoreWidget):
    """Tokens, words or sentences as chips coloured by their attribution; one template for all.

    Colour by sign (the palette's positive or negative hue), opacity by magnitude after
    ``normalize`` (``"maxabs"`` default, ``"l2"``, ``"none"``) or against ``vmax`` (a scale
    shared with other rows); ``palette`` ``"default"`` (red/green) or ``"colorblind"``
    (orange/blue). Hovering a chip shows its raw score; clicking selects it (``selected``,
    -1 for none; click again to clear). A chip with ``parts`` (a sentence) expands into its
    word chips on a click, on the same colour scale, and collapses on the next. Chips of
    words the model does not know (``oov``) are underlined with a dotted line, marked "?"
    and say so in their tooltip. Long words wrap inside their chip.

    Parameters
    ----------
    tokens : sequence of str
        Texts, ``(n,)``; rendered as text, never as HTML.
    scores : sequence of float
        Raw attributions, ``(n,)``.
    special : sequence of bool, optional
        Special tokens are drawn muted.
    oov : sequence of bool, optional
        Out-of-vocabulary flags, ``(n,)``.
    parts : sequence of sequences of dict, optional
        Each chip's word items (see :meth:`set_data`).

    Examples
    --------
    >>> chips = SaliencyChips(tokens=["a", "great", "film"], scores=[0.0, 0.8, 0.1])
    >>> chips = SaliencyChips.from_explanation(exp, target="positive", level="sentence")

    DOM: root ``.igw-chips``; each chip ``.igw-chip`` with ``data-index``, ``data-score``,
    ``data-oov="true"`` when unknown and ``data-expanded`` when it has parts; the word chips
    of an expanded chip are ``.igw-subchip`` with ``data-part`` and ``data-score``.
    """

    template = t.Unicode(vue_template("chips.vue"), help="the Vue template (js/chips.vue)").tag(
        sync=True
    )
