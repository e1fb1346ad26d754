"""Score normalisation and the sign/magnitude colour scale shared by every view of attributions."""

from __future__ import annotations

from typing import Literal

import numpy as np

NormalizeMode = Literal["maxabs", "l2", "none"]
Palette = Literal["default", "colorblind"]
Theme = Literal["light", "dark"]
RGB = tuple[int, int, int]

#: the normalisation modes accepted by :func:`normalize`
NORMALIZE_MODES: tuple[str, ...] = ("maxabs", "l2", "none")

#: (negative hue, positive hue) of each palette; "colorblind" is orange/blue, safe for
#: red-green colour blindness
PALETTES: dict[str, tuple[RGB, RGB]] = {
    "default": ((214, 39, 40), (26, 150, 65)),
    "colorblind": ((230, 97, 1), (33, 102, 172)),
}

#: what the (negative, positive) hues of each palette are called in words (legends)
HUE_NAMES: dict[str, tuple[str, str]] = {
    "default": ("red", "green"),
    "colorblind": ("orange", "blue"),
}

#: background a zero score blends into, per theme
BACKGROUNDS: dict[str, RGB] = {"light": (255, 255, 255), "dark": (30, 30, 30)}

#: black and white text: the one that contrasts more with a chip is chosen. With pure black
#: and white the better of the two reaches a WCAG contrast of at least 4.58 on any
#: background (greyer text colours can fall to about 4.2 on mid-luminance chips)
_DARK_TEXT: RGB = (0, 0, 0)
_LIGHT_TEXT: RGB = (255, 255, 255)


def display_scale(scores: np.ndarray | list[float], mode: str = "maxabs") -> float:
    """The ``|score|`` that :func:`normalize` shows at full strength (its divisor).

    Parameters
    ----------
    scores : array-like
        Raw attributions, shape ``(n,)``.
    mode : {"maxabs", "l2", "none"}
        ``max |score|``, the Euclidean norm, or 1 (raw values).

    Returns
    -------
    float
        The divisor, ``>= 0``; 0 when every score is zero (or there is none).
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite to be normalised")
    if mode == "maxabs":
        return float(np.abs(values).max()) if values.size else 0.0
    if mode == "l2":
        return float(np.linalg.norm(values))
    if mode == "none":
        return 1.0
    raise ValueError(f"Unknown normalisation {mode!r}; use one of {', '.join(NORMALIZE_MODES)}")


def scaled(scores: np.ndarray | list[float], scale: float) -> np.ndarray:
    """``scores / scale`` clamped to ``[-1, 1]``; all zeros when ``scale`` is 0.

    Parameters
    ----------
    scores : array-like
        Raw attributions, shape ``(n,)``.
    scale : float
        The ``|score|`` shown at full strength (e.g. :func:`display_scale`, or one maximum
        shared by several rows).

    Returns
    -------
    np.ndarray
        Display values, shape ``(n,)``, float64, each in ``[-1, 1]``.
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite to be normalised")
    if not scale > 0.0:
        return np.zeros_like(values)
    return np.clip(values / scale, -1.0, 1.0)


def normalize(scores: np.ndarray | list[float], mode: str = "maxabs") -> np.ndarray:
    """Scale raw attributions to ``[-1, 1]`` for display; signs are kept.

    Parameters
    ----------
    scores : array-like
        Raw attributions, shape ``(n,)``.
    mode : {"maxabs", "l2", "none"}
        ``"maxabs"`` (default) divides by ``max |score|`` so the strongest score is ±1;
        ``"l2"`` divides by the Euclidean norm (every value then lies in ``[-1, 1]``);
        ``"none"`` keeps the raw values, clamped to ``[-1, 1]`` so that colours saturate
        rather than overflow. All-zero (or empty) scores stay zero.

    Returns
    -------
    np.ndarray
        The display values, shape ``(n,)``, float64, each in ``[-1, 1]``.
    """
    return scaled(scores, display_scale(scores, mode))


def _check(palette: str, theme: str) -> None:
    if palette not in PALETTES:
        raise ValueError(f"Unknown palette {palette!r}; use one of {', '.join(PALETTES)}")
    if theme not in BACKGROUNDS:
        raise ValueError(f"Unknown theme {theme!r}; use one of {', '.join(BACKGROUNDS)}")


def rgb_for(value: float, palette: str = "default", theme: str = "light") -> RGB:
    """The chip colour of one display value, as an opaque RGB triple.

    The palette's positive or negative hue (by sign) is blended into the theme's background
    in proportion to ``|value|`` (clamped to 1): 0 gives the background, ±1 the full hue.

    Parameters
    ----------
    value : float
        A normalised score, usually in ``[-1, 1]``.
    palette : {"default", "colorblind"}
        Red/green, or the colour-blind-safe orange/blue.
    theme : {"light", "dark"}
        The background the chips sit on.

    Returns
    -------
    tuple[int, int, int]
        Red, green and blue in ``0..255``.
    """
    _check(palette, theme)
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"A colour needs a finite value, got {value}")
    negative, positive = PALETTES[palette]
    hue = positive if value >= 0 else negative
    strength = min(abs(value), 1.0)
    background = BACKGROUNDS[theme]
    return tuple(  # type: ignore[return-value]
        round(b + (h - b) * strength) for b, h in zip(background, hue, strict=True)
    )


def _luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""
    channels = []
    for c in rgb:
        s = c / 255.0
        channels.append(s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours (1 = none, 21 = black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_rgb_for(background: RGB) -> RGB:
    """The text colour (black or white) that contrasts more with ``background``."""
    dark, light = contrast_ratio(background, _DARK_TEXT), contrast_ratio(background, _LIGHT_TEXT)
    return _DARK_TEXT if dark >= light else _LIGHT_TEXT


def css(rgb: RGB) -> str:
    """A CSS colour string such as ``rgb(26, 150, 65)``."""
    r, g, b = rgb
    return f"rgb({r}, {g}, {b})"


def color_for(value: float, palette: str = "default", theme: str = "light") -> str:
    """The CSS background colour of a chip for one display value (see :func:`rgb_for`)."""
    return css(rgb_for(value, palette, theme))


def text_color_for(value: float, palette: str = "default", theme: str = "light") -> str:
    """The CSS text colour that stays legible on :func:`color_for`'s background."""
    return css(text_rgb_for(rgb_for(value, palette, theme)))


def score_format(scores: np.ndarray | list[float]) -> str:
    """A ``str.format`` pattern that prints a set of raw scores readably.

    Fixed point with 4 decimals (``+0.1234``) when the largest ``|score|`` is at least 0.01
    (or all are zero), else scientific with 4 digits (``+1.234e-04``), so that the tiny
    attributions of a weak or untrained model do not all print as ``+0.0000``.
    """
    values = np.abs(np.asarray(scores, dtype=np.float64))
    top = float(values.max(initial=0.0))
    return "{:+.4f}" if top >= 0.01 or top == 0.0 else "{:+.3e}"
