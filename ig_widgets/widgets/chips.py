"""SaliencyChips: every token (or word) as a coloured chip, drawn by one Vue template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipyvuetify as v
import numpy as np
import traitlets as t

from ig_widgets.views.normalize import NORMALIZE_MODES, PALETTES, normalize
from ig_widgets.widgets._templates import vue_template

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import ClassAttribution, Explanation

#: the strongest chip's background opacity: with it, the theme's own text colour (black on
#: light, white on dark) keeps a WCAG contrast of at least 4.5 on every palette hue
MAX_ALPHA = 0.75

LEVELS = ("word", "token")


@dataclass(frozen=True)
class AttributionView:
    """What a chip row or bar chart shows of one Explanation.

    Attributes
    ----------
    attribution : ClassAttribution
        The class (or contrast) shown, with its completeness check.
    tokens : list[str]
        Token or word texts, ``(n,)``.
    scores : list[float]
        Raw attributions, ``(n,)``.
    special : list[bool]
        True for special tokens / words made of them, ``(n,)``.
    """

    attribution: ClassAttribution
    tokens: list[str]
    scores: list[float]
    special: list[bool]


def attribution_view(
    exp: Explanation,
    target: int | str | None = None,
    level: str = "word",
    contrast: int | str | None = None,
) -> AttributionView:
    """Select what to show of ``exp``; no model call (the Explanation holds every class).

    Parameters
    ----------
    exp : Explanation
        The engine's result.
    target : int, str or None
        The class to explain; None for the predicted class.
    level : {"word", "token"}
        Words (markers and subword pieces folded) or the model's tokens.
    contrast : int, str or None
        When given, "why ``target`` and not ``contrast``" (``exp.contrast``).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    cls = exp.predicted if target is None else exp.class_index(target)
    attr = exp.for_class(cls) if contrast is None else exp.contrast(cls, contrast)
    if level == "word":
        tokens = [w.text for w in exp.words]
        scores = attr.word_scores
        special = [w.special for w in exp.words]
    else:
        tokens, scores, special = list(exp.tokens), attr.scores, list(exp.special)
    return AttributionView(attr, tokens, [float(s) for s in scores], [bool(s) for s in special])


class ScoreWidget(v.VuetifyTemplate):
    """Shared traits of the chip and bar widgets: tokens, raw scores and their display values.

    ``values`` (normalised to ``[-1, 1]`` by ``normalize``) and ``hues`` (the palette's
    negative and positive RGB) are derived: set ``tokens``/``scores`` (best with
    :meth:`set_data`), ``normalize`` and ``palette``.
    """

    tokens = t.List(help="the chips' text: words or tokens").tag(sync=True)
    scores = t.List(help="raw attributions, one per chip").tag(sync=True)
    special = t.List(help="which chips are special tokens (drawn muted)").tag(sync=True)
    values = t.List(read_only=True, help="scores normalised for display, in [-1, 1]").tag(sync=True)
    normalize = t.Unicode("maxabs", help="how scores become colours (see views.normalize)").tag(
        sync=True
    )
    palette = t.Unicode("default", help="the colour palette's name").tag(sync=True)
    hues = t.List(read_only=True, help="the palette's negative and positive colours").tag(sync=True)
    selected = t.Int(-1, help="the chip clicked last; -1 for none").tag(sync=True)
    label = t.Unicode("", help="an accessible name for the chip row").tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str] = (),
        scores: Sequence[float] | np.ndarray = (),
        *,
        special: Sequence[bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_data(tokens, scores, special=special, label=self.label)

    def set_data(
        self,
        tokens: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        *,
        special: Sequence[bool] | None = None,
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
        label : str
            What the scores explain (e.g. the class name).
        """
        tokens = [str(x) for x in tokens]
        raw = np.asarray(scores, dtype=np.float64).reshape(-1)
        flags = [False] * len(tokens) if special is None else [bool(s) for s in special]
        if len(raw) != len(tokens) or len(flags) != len(tokens):
            raise ValueError(
                f"tokens, scores and special must have the same length, got {len(tokens)}, "
                f"{len(raw)} and {len(flags)}"
            )
        if not np.all(np.isfinite(raw)):
            raise ValueError("scores must be finite numbers")
        with self.hold_sync():
            if len(tokens) != len(self.tokens) or self.selected >= len(tokens):
                self.selected = -1
            self.tokens, self.scores, self.special = tokens, raw.tolist(), flags
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
        """A widget showing one class of ``exp`` (see :func:`attribution_view`)."""
        widget = cls(**kwargs)
        widget.show(exp, target, level, contrast)
        return widget

    def show(
        self,
        exp: Explanation,
        target: int | str | None = None,
        level: str = "word",
        contrast: int | str | None = None,
    ) -> AttributionView:
        """Show one class of ``exp`` in this widget; returns what was shown."""
        view = attribution_view(exp, target, level, contrast)
        self.set_data(view.tokens, view.scores, special=view.special, label=view.attribution.label)
        return view

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

    @t.validate("selected")
    def _check_selected(self, proposal: dict[str, Any]) -> int:
        index = int(proposal["value"])
        return index if 0 <= index < len(self.tokens) else -1

    @t.observe("normalize", "palette")
    def _on_display(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        values = normalize(self.scores, self.normalize) if self.scores else np.zeros(0)
        with self.hold_sync():
            self.set_trait("values", [round(float(x), 4) for x in values])
            self.set_trait("hues", [list(h) for h in PALETTES[self.palette]])


class SaliencyChips(ScoreWidget):
    """Tokens or words as chips coloured by their attribution; one template for all chips.

    Colour by sign (the palette's positive or negative hue), opacity by magnitude after
    ``normalize`` (``"maxabs"`` default, ``"l2"``, ``"none"``); ``palette`` ``"default"``
    (red/green) or ``"colorblind"`` (orange/blue). Hovering a chip shows its raw score;
    clicking selects it (``selected``, -1 for none; click again to clear).

    Parameters
    ----------
    tokens : sequence of str
        Texts, ``(n,)``; rendered as text, never as HTML.
    scores : sequence of float
        Raw attributions, ``(n,)``.
    special : sequence of bool, optional
        Special tokens are drawn muted.

    Examples
    --------
    >>> chips = SaliencyChips(tokens=["a", "great", "film"], scores=[0.0, 0.8, 0.1])
    >>> chips = SaliencyChips.from_explanation(exp, target="positive", level="word")

    DOM: root ``.igw-chips``; each chip ``.igw-chip`` with ``data-index`` and ``data-score``.
    """

    template = t.Unicode(vue_template("chips.vue"), help="the Vue template (js/chips.vue)").tag(
        sync=True
    )
