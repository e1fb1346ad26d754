"""The difference of two models' aligned word rows, as the Compare widget draws it."""

from __future__ import annotations

import numpy as np

from ig_widgets.views.normalize import normalize

__all__ = ["difference"]


def difference(a: np.ndarray, b: np.ndarray, scale: str = "own") -> np.ndarray:
    """A − B per word, for the difference row.

    Parameters
    ----------
    a, b : np.ndarray
        Raw word attributions of two models for the same class, ``(n_words,)`` each.
    scale : {"own", "shared"}
        ``"own"``: each row scaled to its own ``max |score|`` first (values in [-2, 2]; a row
        of zeros scales to zeros). ``"shared"``: the raw difference, in F's units.

    Returns
    -------
    np.ndarray
        ``(n_words,)``.
    """
    if scale == "shared":
        return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return normalize(a, "maxabs") - normalize(b, "maxabs")
