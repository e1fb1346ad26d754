"""Matplotlib bar charts of an Explanation, with the article's "why? / why not?" pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ig_widgets.views.normalize import PALETTES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ig_widgets.engine.explanation import ClassAttribution, Explanation

Target = int | str | tuple[int | str, int | str] | None


def _labels(exp: Explanation, level: str) -> list[str]:
    if level == "word":
        return [w.text for w in exp.words]
    if level == "token":
        return list(exp.tokens)
    raise ValueError(f"level must be 'word' or 'token', got {level!r}")


def _values(attribution: ClassAttribution, level: str) -> np.ndarray:
    return attribution.word_scores if level == "word" else attribution.scores


def _draw(
    ax: Axes,
    labels: list[str],
    values: np.ndarray,
    title: str,
    top_k: int | None,
    palette: str,
) -> None:
    """Horizontal bars of raw scores, the ``top_k`` largest ``|score|`` first (top)."""
    order = np.argsort(-np.abs(values), kind="stable")
    if top_k is not None:
        order = order[:top_k]
    negative, positive = (tuple(c / 255 for c in rgb) for rgb in PALETTES[palette])
    shown = values[order]
    y = np.arange(len(order))
    ax.barh(y, shown, color=[positive if v >= 0 else negative for v in shown])
    ax.set_yticks(y, [labels[i] for i in order])
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("attribution (raw)")
    ax.set_title(title)


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
    level : {"word", "token"}
        Bars per word (summed over its tokens) or per model token.
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
    labels = _labels(exp, level)
    if isinstance(target, tuple):
        a, b = (exp.classes[exp.class_index(t)] for t in target)
        panels = [(exp.contrast(*target), f"why {a} and not {b}?")]
    elif target is None and ax is None and len(exp.classes) == 2:
        p, other = exp.predicted, 1 - exp.predicted
        panels = [
            (exp.for_class(p), f"why {exp.classes[p]}?"),
            (exp.for_class(other), f"why not {exp.classes[other]}?"),
        ]
    else:
        index = exp.predicted if target is None else exp.class_index(target)
        panels = [(exp.for_class(index), f"why {exp.classes[index]}?")]
    n_bars = len(labels) if top_k is None else min(top_k, len(labels))
    if ax is None:
        import matplotlib.pyplot as plt

        height = 1.2 + 0.28 * max(n_bars, 1)
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False)
        plt.close(fig)  # returned, not shown: no second copy from the inline backend
        targets = list(axes[0])
    else:
        targets = [ax]
    for axis, (attribution, title) in zip(targets, panels, strict=True):
        _draw(axis, labels, _values(attribution, level), title, top_k, palette)
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
