"""Quadrature rules for the path integral, with Captum's names, points and weights."""

from __future__ import annotations

from enum import Enum
from fractions import Fraction

import numpy as np

#: the largest step count the engine accepts (beyond it, IG is no more exact, only slower)
MAX_STEPS = 4096


class Method(str, Enum):
    """The quadrature rules Captum offers, under Captum's names."""

    GAUSS_LEGENDRE = "gausslegendre"
    RIEMANN_LEFT = "riemann_left"
    RIEMANN_RIGHT = "riemann_right"
    RIEMANN_MIDDLE = "riemann_middle"
    RIEMANN_TRAPEZOID = "riemann_trapezoid"
    ADAPTIVE = "adaptive"  # not Captum's: trapezoid panels split where the error is (adaptive.py)


#: Captum's rules: results agree with its ``LayerIntegratedGradients``
METHODS: tuple[str, ...] = tuple(m.value for m in Method if m is not Method.ADAPTIVE)
#: every rule the engine offers
ALL_METHODS: tuple[str, ...] = (*METHODS, Method.ADAPTIVE.value)


def parse_method(method: str | Method) -> Method:
    """The :class:`Method` of a name; ``ValueError`` listing the names when it is unknown."""
    if isinstance(method, Method):
        return method
    try:
        return Method(method)
    except ValueError:
        raise ValueError(
            f"Unknown integration method {method!r}; use one of {', '.join(ALL_METHODS)}"
        ) from None


def check_steps(n_steps: int, method: Method) -> int:
    """Validate a step count for ``method``: an int in ``[1, MAX_STEPS]`` (all but GL need 2)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)):
        raise TypeError(f"n_steps must be an integer or 'auto', got {n_steps!r}")
    low = 1 if method is Method.GAUSS_LEGENDRE else 2
    if not low <= int(n_steps) <= MAX_STEPS:
        raise ValueError(
            f"n_steps must be between {low} and {MAX_STEPS} for {method.value}, got {n_steps}"
        )
    return int(n_steps)


def rule(method: str | Method, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights of a rule on ``[0, 1]``.

    The Riemann rules reproduce Captum's exactly, including its trapezoid weights (``1/n``
    with halved end points, which sum to ``(n − 1)/n``), so results agree with Captum's
    ``LayerIntegratedGradients``. Riemann points are computed as exact fractions, so the
    points of nested rules (left/right at ``n`` and ``2n``, trapezoid at ``n`` and
    ``2n − 1``) are bit-identical and a refinement can reuse them.

    Returns
    -------
    alphas, weights : np.ndarray
        Both of shape ``(n_steps,)``, float64.
    """
    m = parse_method(method)
    n = check_steps(n_steps, m)
    if m is Method.ADAPTIVE:
        raise ValueError("the adaptive rule's points depend on the model: see engine.adaptive")
    if m is Method.GAUSS_LEGENDRE:
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (1.0 + x), 0.5 * w
    if m is Method.RIEMANN_TRAPEZOID:
        fractions = [Fraction(i, n - 1) for i in range(n)]
    elif m is Method.RIEMANN_LEFT:
        fractions = [Fraction(i, n) for i in range(n)]
    elif m is Method.RIEMANN_RIGHT:
        fractions = [Fraction(i + 1, n) for i in range(n)]
    else:
        fractions = [Fraction(2 * i + 1, 2 * n) for i in range(n)]
    alphas = np.array([float(f) for f in fractions])
    weights = np.full(n, 1.0 / n)
    if m is Method.RIEMANN_TRAPEZOID:
        weights[0] /= 2
        weights[-1] /= 2
    return alphas, weights


def nested_stages(method: str | Method, n_steps: int, first: int = 8) -> list[int]:
    """Step counts of a progressive computation that ends at ``n_steps``.

    For nested rules (left/right halving, trapezoid ``(n − 1)/2 + 1``, down to about ``first``
    points) every stage's points are a subset of the next, so the stages together cost no more
    than the final one. Other rules
    get a single coarse stage of about ``n_steps / 16`` points (at least ``first // 2``), an
    overhead of about 6 %.

    Returns
    -------
    list[int]
        Increasing step counts; the last is ``n_steps``.
    """
    m = parse_method(method)
    n = check_steps(n_steps, m)
    low = 1 if m is Method.GAUSS_LEGENDRE else 2
    stages = [n]
    if m in (Method.RIEMANN_LEFT, Method.RIEMANN_RIGHT):
        while stages[0] % 2 == 0 and stages[0] // 2 >= max(low, first):
            stages.insert(0, stages[0] // 2)
        return stages
    if m is Method.RIEMANN_TRAPEZOID:
        while (stages[0] - 1) % 2 == 0 and (stages[0] - 1) // 2 + 1 >= max(3, first):
            stages.insert(0, (stages[0] - 1) // 2 + 1)
        return stages
    coarse = max(first // 2, low, round(n / 16))
    return [coarse, n] if coarse < n // 2 else [n]


def alpha_key(alpha: float) -> float:
    """Cache key of a point: the float rounded to 12 decimals (nested points coincide exactly)."""
    return round(float(alpha), 12)
