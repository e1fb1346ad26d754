"""Stage planning of a progressive computation: fixed counts, nested refinements, adaptive, auto."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from ig_widgets.engine import adaptive
from ig_widgets.engine.options import IGOptions, Steps, auto_scale
from ig_widgets.engine.quadrature import Method, check_steps, nested_stages, rule

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import Explanation

__all__ = [
    "AdaptivePlan",
    "FixedPlan",
    "Stage",
    "StagePlan",
    "Steps",
    "auto_counts",
    "converged",
    "plan_stages",
]

#: one stage: its points ``α`` and their weights, both ``(n_points,)``
Stage = tuple[np.ndarray, np.ndarray]

#: rules whose points at the counts of :func:`auto_counts` are nested
_NESTED = (Method.RIEMANN_LEFT, Method.RIEMANN_RIGHT, Method.RIEMANN_TRAPEZOID)


def converged(exp: Explanation, tol: float) -> bool:
    """``|delta| ≤ tol · max(|F(input) − F(baseline)|, AUTO_FLOOR)`` for every class."""
    scale = auto_scale(exp.f_input, exp.f_baseline)
    return bool(np.all(np.abs(exp.delta) <= tol * scale))


class StagePlan(ABC):
    """The stages of one computation: the first, then each next one from the last result.

    With ``auto`` the plan ends as soon as :attr:`passes_needed` results in a row pass
    :func:`converged`; otherwise after its last stage.
    """

    #: how many passing results in a row end an "auto" plan
    passes_needed = 1

    def __init__(self, method: Method, auto: bool, tol: float) -> None:
        self.method = method
        self.auto = auto
        self.tol = tol
        self._passes = 0

    def first(self) -> Stage:
        """The first stage's points and weights."""
        step = self._next(None)
        assert step is not None  # every plan has a first stage
        return step

    def after(self, exp: Explanation) -> Stage | None:
        """The stage that follows ``exp`` (the last stage's result), or None: it was the last."""
        if self.auto:
            self._passes = self._passes + 1 if converged(exp, self.tol) else 0
            if self._passes == self.passes_needed:
                return None
        return self._next(exp)

    @abstractmethod
    def _next(self, previous: Explanation | None) -> Stage | None:
        """The next stage's points and weights, or None when the plan has no more."""

    @abstractmethod
    def remaining(self, current: int) -> int:
        """Points of the current stage (``current`` of them) and of the known later ones."""

    @abstractmethod
    def n_stages(self, stage: int) -> int:
        """How many stages there are, as known at stage ``stage`` (1-based)."""


class FixedPlan(StagePlan):
    """Stages of one of Captum's rules at a list of step counts."""

    def __init__(self, method: Method, counts: list[int], auto: bool, tol: float) -> None:
        super().__init__(method, auto, tol)
        self.sizes = [len(rule(method, c)[0]) for c in counts]  # validates them all
        self.counts = counts
        self.given = 0

    def _next(self, previous: Explanation | None) -> Stage | None:
        if self.given == len(self.counts):
            return None
        self.given += 1
        return rule(self.method, self.counts[self.given - 1])

    def remaining(self, current: int) -> int:
        """Points of the current stage and of those after it (for progress)."""
        return sum(self.sizes[self.given - 1 :])

    def n_stages(self, stage: int) -> int:
        """The length of the list of counts."""
        return len(self.counts)


class AdaptivePlan(StagePlan):
    """Rounds of the adaptive trapezoid rule: each splits the panels with the largest error.

    "auto" stops when two rounds in a row pass: a round adds few points, and one pass alone
    can come from panel errors of opposite sign cancelling.
    """

    passes_needed = 2

    def __init__(self, budget: int, auto: bool, tol: float) -> None:
        super().__init__(Method.ADAPTIVE, auto, tol)
        self.budget = budget
        self.nodes: np.ndarray | None = None

    def _next(self, previous: Explanation | None) -> Stage | None:
        if previous is None:
            nodes = adaptive.first_nodes(self.budget)
        else:
            path = previous.path
            assert path is not None and self.nodes is not None
            errors = adaptive.panel_errors(path.alphas, path.f, path.dfdalpha)
            scale = auto_scale(previous.f_input, previous.f_baseline)
            nodes = adaptive.split(self.nodes, errors, scale, self.budget)
            if len(nodes) == len(self.nodes):
                return None
        self.nodes = nodes
        return nodes, adaptive.trapezoid_weights(nodes)

    def remaining(self, current: int) -> int:
        """Points of the current round (later ones are not known yet)."""
        return current

    def n_stages(self, stage: int) -> int:
        """At least one more than ``stage`` (the last result says it is the last)."""
        return stage + 1


def plan_stages(
    options: IGOptions | str | Method | None,
    n_steps: Steps | None = None,
    *,
    stages: list[int] | None = None,
    first: int = 8,
    tol: float | None = None,
    max_steps: int | None = None,
) -> StagePlan:
    """The stages of a computation; ``ValueError``/``TypeError`` before any work when invalid.

    Parameters
    ----------
    options : IGOptions, str, Method or None
        The computation's options (built once by its entry point), or, as before they
        existed, a rule's name (None: :func:`~ig_widgets.engine.options.default_method`)
        with ``n_steps``, ``tol`` and ``max_steps`` beside it, validated here by
        :meth:`IGOptions.build <ig_widgets.engine.options.IGOptions.build>`.
    n_steps : int, "auto" or None
        The last stage's points; ``"auto"`` grows them until :func:`converged` (with ``tol``)
        or ``max_steps``. None: the options' (or the default, 50).
    stages : list of int, optional
        Explicit step counts, overriding the nested plan (:func:`nested_stages`).
    first : int
        About how many points the first stage of a nested or auto plan has.
    tol, max_steps : float, int or None
        For ``"auto"``; None: the options' (or the defaults).
    """
    ready = options if isinstance(options, IGOptions) else None
    method = None if ready is not None else options
    given = IGOptions.coerce(ready, n_steps=n_steps, method=method, tol=tol, max_steps=max_steps)
    m, steps = given.method, given.n_steps
    if m is Method.ADAPTIVE:
        budget = given.max_steps if isinstance(steps, str) else (stages or [steps])[-1]
        return AdaptivePlan(check_steps(budget, m), given.auto, given.tol)
    if isinstance(steps, str):
        return FixedPlan(m, auto_counts(m, first, given.max_steps), True, given.tol)
    counts = list(stages) if stages is not None else nested_stages(m, steps, first)
    return FixedPlan(m, counts, False, given.tol)


def auto_counts(method: Method, first: int, max_steps: int) -> list[int]:
    """Step counts tried by ``n_steps="auto"`` with one of Captum's rules, ending at ``max_steps``.

    Nested rules double (``riemann_left``/``right``) or go to ``2n − 1`` (trapezoid) from
    ``first``, so every stage reuses all earlier points and the total cost is the last
    stage's. Other rules share no points between counts: they grow by half from 6
    (6, 9, 14, 21, 32, 48, …), which keeps both the overshoot and the cost of the stages that
    fail small — their convergence is not monotone on models with max pooling, so a finer
    ladder also finds an early count that already meets the tolerance.

    Returns
    -------
    list[int]
        Increasing step counts; the last is ``max_steps``.
    """
    counts: list[int] = []
    count = max(first, 2) if method in _NESTED else 6
    while count < max_steps:
        counts.append(count)
        if method is Method.RIEMANN_TRAPEZOID:
            count = 2 * count - 1
        elif method in _NESTED:
            count = 2 * count
        else:
            count = max(count + 1, round(count * 1.5))
    counts.append(max_steps)
    return counts
