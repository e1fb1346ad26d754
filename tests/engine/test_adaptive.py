"""The adaptive trapezoid rule's pieces: weights, exact panel errors and the choice of splits."""

from __future__ import annotations

import numpy as np
import pytest

from ig_widgets.engine import adaptive
from ig_widgets.engine.adaptive import first_nodes, panel_errors, split, trapezoid_weights


def test_first_nodes_fit_the_budget() -> None:
    assert first_nodes(2).tolist() == [0.0, 1.0]
    assert first_nodes(4).tolist() == [0.0, 0.5, 1.0]
    assert first_nodes(50).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_trapezoid_weights_integrate_a_straight_line_exactly() -> None:
    nodes = np.array([0.0, 0.125, 0.25, 0.5, 1.0])
    weights = trapezoid_weights(nodes)
    assert weights.tolist() == [0.0625, 0.125, 0.1875, 0.375, 0.25]
    assert weights @ (3 * nodes + 1) == pytest.approx(2.5)


def test_panel_errors_are_exact_and_sum_to_delta() -> None:
    nodes = np.array([0.0, 0.25, 0.5, 1.0])
    # F = α²: the trapezoid of F' = 2α is exact, so no panel has an error
    assert np.allclose(panel_errors(nodes, nodes[None] ** 2, 2 * nodes[None]), 0)
    # F = α³: each panel's error is its trapezoid of 3α² minus its rise of α³
    f, d = nodes[None] ** 3, 3 * nodes[None] ** 2
    errors = panel_errors(nodes, f, d)
    a, b = nodes[:-1], nodes[1:]
    np.testing.assert_allclose(errors[0], (b - a) * (3 * a**2 + 3 * b**2) / 2 - (b**3 - a**3))
    delta = trapezoid_weights(nodes) @ d[0] - (f[0, -1] - f[0, 0])
    assert errors.sum() == pytest.approx(delta)


def test_split_halves_the_panels_holding_most_of_the_error() -> None:
    nodes = np.linspace(0, 1, 5)
    errors = np.array([[0.01, -0.5, 0.02, 0.03]])
    assert split(nodes, errors, np.ones(1), 100).tolist() == [0, 0.25, 0.375, 0.5, 0.75, 1]
    # no panel holds 30 % of the error: the top two (28 % and 27 %) are split
    errors = np.array([[0.25, -0.28, 0.27, 0.2]])
    assert split(nodes, errors, np.ones(1), 100).tolist() == [0, 0.25, 0.375, 0.5, 0.625, 0.75, 1]


def test_split_ranks_classes_by_their_own_scale() -> None:
    nodes = np.linspace(0, 1, 3)
    errors = np.array([[0.5, 0.0], [0.0, 0.01]])  # class 1's 0.01 is large for its scale
    out = split(nodes, errors, np.array([10.0, 0.01]), 100)
    assert out.tolist() == [0, 0.5, 0.75, 1]


def test_split_keeps_to_the_budget_the_depth_and_breaks_ties_by_position() -> None:
    nodes = np.linspace(0, 1, 5)
    same = np.full((1, 4), 0.1)
    assert split(nodes, same, np.ones(1), 6).tolist() == [0, 0.125, 0.25, 0.5, 0.75, 1]
    assert split(nodes, same, np.ones(1), 5) is nodes
    assert split(nodes, np.zeros((1, 4)), np.ones(1), 100) is nodes
    tiny = np.array([0.0, 2.0**-adaptive.MAX_DEPTH, 1.0])
    out = split(tiny, np.array([[1.0, 0.001]]), np.ones(1), 100)
    assert out.tolist() == [0.0, 2.0**-adaptive.MAX_DEPTH, 0.5 + 2.0**-adaptive.MAX_DEPTH / 2, 1.0]
