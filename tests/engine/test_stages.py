"""Stage planning without a model: counts, validation, and when "auto" stops."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ig_widgets.engine.quadrature import Method
from ig_widgets.engine.stages import (
    AdaptivePlan,
    FixedPlan,
    auto_counts,
    converged,
    plan_stages,
)


def result(delta: float, diff: float = 1.0) -> SimpleNamespace:
    """What a plan reads from an Explanation: F at both ends and the completeness delta."""
    return SimpleNamespace(
        f_input=np.array([diff]), f_baseline=np.array([0.0]), delta=np.array([delta])
    )


def test_fixed_counts_and_nested_defaults() -> None:
    plan = plan_stages("riemann_right", 64)
    assert isinstance(plan, FixedPlan) and plan.counts == [8, 16, 32, 64]
    gauss, given = plan_stages(None, 64), plan_stages("riemann_left", 64, stages=[64])
    assert isinstance(gauss, FixedPlan) and gauss.counts == [4, 64]
    assert isinstance(given, FixedPlan) and given.counts == [64]
    alphas, _ = plan.first()
    assert len(alphas) == 8 and plan.remaining(8) == 8 + 16 + 32 + 64
    assert plan.n_stages(1) == 4


def test_auto_counts() -> None:
    assert auto_counts(Method.RIEMANN_RIGHT, 8, 64) == [8, 16, 32, 64]
    assert auto_counts(Method.RIEMANN_TRAPEZOID, 8, 60) == [8, 15, 29, 57, 60]
    assert auto_counts(Method.GAUSS_LEGENDRE, 8, 50) == [6, 9, 14, 21, 32, 48, 50]


def test_auto_stops_at_the_first_pass_for_fixed_rules() -> None:
    plan = plan_stages("riemann_right", "auto", tol=0.01, max_steps=64)
    plan.first()
    assert plan.after(result(0.5)) is not None  # fails: next stage
    assert plan.after(result(0.001)) is None  # passes: done


def test_a_plain_count_never_stops_early() -> None:
    plan = plan_stages("riemann_right", 32)
    plan.first()
    assert plan.after(result(0.0)) is not None


def test_adaptive_auto_needs_two_passes_in_a_row() -> None:
    plan = plan_stages(None, "auto", max_steps=64)
    assert isinstance(plan, AdaptivePlan) and plan.method is Method.ADAPTIVE
    nodes, weights = plan.first()
    np.testing.assert_allclose(nodes, [0, 0.25, 0.5, 0.75, 1])
    assert weights.sum() == pytest.approx(1.0)
    f = np.array([[0.0, 0.1, 0.5, 0.9, 1.0]])
    path = SimpleNamespace(alphas=nodes, f=f, dfdalpha=np.array([[0.2, 1.0, 2.0, 1.0, 0.2]]))
    passing = SimpleNamespace(**vars(result(0.0)), path=path)
    assert plan.after(passing) is not None  # one pass is not enough
    assert plan.after(passing) is None


def test_converged_uses_the_floor() -> None:
    assert converged(result(0.00009, diff=0.0), 0.01)  # |delta| <= 0.01 * AUTO_FLOOR
    assert not converged(result(0.0002, diff=0.0), 0.01)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("gausslegendre", "many"), {}, ValueError, "integer or 'auto'"),
        (("simpson", 8), {}, ValueError, "Unknown integration method"),
        ((None, "auto"), {"tol": 1.5}, ValueError, "tol must be between 0 and 1"),
        ((None, "auto"), {"max_steps": 1}, ValueError, "max_steps must be an int"),
        (("riemann_left", 1), {}, ValueError, "between 2 and 4096"),
        (("adaptive", 2.5), {}, TypeError, "integer"),
    ],
)
def test_invalid_plans(args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        plan_stages(*args, **kwargs)
