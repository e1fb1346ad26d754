"""Teaching views of Integrated Gradients: the path, the quadrature's convergence, the baselines."""

from __future__ import annotations

from ig_widgets.widgets.teaching.baseline_lab import BaselineLab
from ig_widgets.widgets.teaching.convergence import ConvergenceView
from ig_widgets.widgets.teaching.path import PathView

__all__ = ["BaselineLab", "ConvergenceView", "PathView"]
