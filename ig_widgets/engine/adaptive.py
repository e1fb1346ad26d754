"""Adaptive trapezoid points: split the panels of the path with the largest completeness error."""

from __future__ import annotations

import numpy as np

#: the narrowest panel: 2**-MAX_DEPTH of the path (dyadic points stay exact floats)
MAX_DEPTH = 24
#: each round splits the largest-error panels that together hold this share of the total error
SPLIT_SHARE = 0.3


def first_nodes(budget: int) -> np.ndarray:
    """The uniform start: 5 points (``0, ¼, ½, ¾, 1``), or 3 or 2 under a smaller budget."""
    count = 5 if budget >= 5 else 3 if budget >= 3 else 2
    return np.linspace(0.0, 1.0, count)


def trapezoid_weights(nodes: np.ndarray) -> np.ndarray:
    """Composite trapezoid weights of sorted ``nodes`` (first 0, last 1); they sum to 1.

    Returns
    -------
    np.ndarray
        ``(n_nodes,)``.
    """
    gaps = np.diff(nodes)
    weights = np.zeros(len(nodes))
    weights[:-1] += gaps / 2
    weights[1:] += gaps / 2
    return weights


def panel_errors(nodes: np.ndarray, f: np.ndarray, dfdalpha: np.ndarray) -> np.ndarray:
    """Each panel's completeness error: its trapezoid of ``dF/dα`` minus its rise of ``F``.

    ``F`` is known at every node, so the errors are exact, not estimates; they sum to the
    explanation's ``delta``.

    Parameters
    ----------
    nodes : np.ndarray
        Sorted points ``(m,)``.
    f, dfdalpha : np.ndarray
        ``F`` and ``dF/dα`` at the nodes, ``(n_classes, m)``.

    Returns
    -------
    np.ndarray
        ``(n_classes, m − 1)``.
    """
    gaps = np.diff(nodes)
    return gaps * (dfdalpha[:, :-1] + dfdalpha[:, 1:]) / 2 - np.diff(f, axis=1)


def split(nodes: np.ndarray, errors: np.ndarray, scale: np.ndarray, budget: int) -> np.ndarray:
    """The next round's nodes: the midpoints of the panels that hold most of the error.

    Panels are ranked by ``max over classes of |error| / scale`` (ties by position, so the
    result is deterministic); the top ones holding :data:`SPLIT_SHARE` of the total are split,
    at least one, never past ``budget`` nodes in all, never below ``2**-MAX_DEPTH`` wide.
    Sizes are compared to 4 digits of the largest, so float noise (which differs between
    batch sizes) cannot reorder near-ties.

    Parameters
    ----------
    nodes : np.ndarray
        Sorted points ``(m,)``.
    errors : np.ndarray
        :func:`panel_errors`, ``(n_classes, m − 1)``.
    scale : np.ndarray
        Per-class error scale ``(n_classes,)``, positive.
    budget : int
        The most nodes allowed.

    Returns
    -------
    np.ndarray
        Sorted nodes; the same array when nothing can be split.
    """
    room = budget - len(nodes)
    splittable = np.diff(nodes) > 2.0**-MAX_DEPTH
    size = np.where(splittable, (np.abs(errors) / scale[:, None]).max(axis=0), 0.0)
    if room <= 0 or not np.any(size > 0):
        return nodes
    # to 4 digits of the largest, so float noise between batch sizes cannot reorder near-ties
    size = np.round(size / size.max(), 4)
    order = np.argsort(-size, kind="stable")
    cumulative = np.cumsum(size[order])
    count = int(np.searchsorted(cumulative, SPLIT_SHARE * cumulative[-1])) + 1
    count = min(count, room, int(np.count_nonzero(size > 0)))
    chosen = order[:count]
    mids = (nodes[chosen] + nodes[chosen + 1]) / 2
    return np.sort(np.concatenate([nodes, mids]))
