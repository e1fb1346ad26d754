"""Matplotlib bar charts of an Explanation, with the article's "why? / why not?" pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ig_widgets.views.normalize import PALETTES
from ig_widgets.views.selection import LEVELS, Selection, completeness, legend, select

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ig_widgets.engine.explanation import Explanation

Target = int | str | tuple[int | str, int | str] | None

#: appended to the label of a word the model does not know (explained under the axis)
OOV_MARK = " (?)"


def _draw(ax: Axes, view: Selection, title: str, top_k: int | None, palette: str) -> None:
    """Horizontal bars of raw scores, the ``top_k`` largest ``|score|`` first (top).

    The x label says whether the scores add up (the completeness check in plain words); a
    legend says what the two colours mean; unknown words are marked ``(?)``.
    """
    from matplotlib.patches import Patch

    values = np.asarray(view.scores, dtype=np.float64)
    order = np.argsort(-np.abs(values), kind="stable")
    if top_k is not None:
        order = order[:top_k]
    negative, positive = ((r / 255, g / 255, b / 255) for r, g, b in PALETTES[palette])
    shown = values[order]
    y = np.arange(len(order))
    ax.barh(y, shown, color=[positive if v >= 0 else negative for v in shown])
    labels = [view.tokens[i] + (OOV_MARK if view.oov[i] else "") for i in order]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.5", linewidth=0.8)
    xlabel = f"attribution (raw) · {completeness(view.attribution).text}"
    if any(view.oov[i] for i in order):
        xlabel += "\n(?) not in the model's vocabulary: read as its unknown token"
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    pieces = legend(view.attribution.label, view.level, palette).split(" · ")
    handles = [
        Patch(color=colour, label=piece)
        for piece, colour in zip(pieces, (positive, negative), strict=False)
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.85)


def plot_explanation(
    exp: Explanation,
    target: Target = None,
    level: str = "word",
    top_k: int | None = 20,
    ax: Axes | None = None,
    palette: str = "default",
) -> Figure:
    """Horizontal bar chart of the raw attributions of an explanation.

    Parameters
    ----------
    exp : Explanation
        The engine's result.
    target : int, str, (a, b) or None
        The class to explain, or a pair ``(a, b)`` for "why a and not b". With ``None`` on a
        two-class explanation (and no ``ax``), two charts side by side: "why <predicted>?"
        and "why not <other>?" (the other class's own attributions); otherwise the
        predicted class.
    level : {"word", "token", "sentence"}
        Bars per word (summed over its tokens), per model token or per sentence.
    top_k : int or None
        The number of bars, largest ``|attribution|`` first (default 20; None for all).
    ax : matplotlib Axes, optional
        Draw one chart into this axes instead of a new figure.
    palette : {"default", "colorblind"}
        Colours for positive and negative bars.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not shown: nothing here calls ``plt.show``).
    """
    if palette not in PALETTES:
        raise ValueError(f"Unknown palette {palette!r}; use one of {', '.join(PALETTES)}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if isinstance(target, tuple):
        a, b = (exp.classes[exp.class_index(t)] for t in target)
        panels = [(select(exp, a, level, b), f"why {a} and not {b}?")]
    elif target is None and ax is None and len(exp.classes) == 2:
        p, other = exp.predicted, 1 - exp.predicted
        panels = [
            (select(exp, p, level), f"why {exp.classes[p]}?"),
            (select(exp, other, level), f"why not {exp.classes[other]}?"),
        ]
    else:
        index = exp.predicted if target is None else exp.class_index(target)
        panels = [(select(exp, index, level), f"why {exp.classes[index]}?")]
    n_units = len(panels[0][0].tokens)
    n_bars = n_units if top_k is None else min(top_k, n_units)
    if ax is None:
        import matplotlib.pyplot as plt

        height = 1.6 + 0.28 * max(n_bars, 1)
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False)
        plt.close(fig)  # returned, not shown: no second copy from the inline backend
        targets = list(axes[0])
    else:
        targets = [ax]
    for axis, (view, title) in zip(targets, panels, strict=True):
        _draw(axis, view, title, top_k, palette)
    if ax is None:
        fig.tight_layout()
        return fig
    return _root_figure(ax)  # the caller's layout is left alone


def _root_figure(ax: Axes) -> Figure:
    """The top-level figure of an axes, also when it sits in a sub-figure."""
    from matplotlib.figure import Figure

    parent = ax.figure
    while not isinstance(parent, Figure):
        parent = parent.figure
    return parent
