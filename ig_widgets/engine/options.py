"""The IG options of one computation (steps, rule, tolerance, step limit), validated once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ig_widgets.engine.quadrature import MAX_STEPS, Method, check_steps, parse_method

__all__ = [
    "AUTO_FLOOR",
    "COMPLETENESS_TOLERANCE",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_STEPS",
    "OPTION_NAMES",
    "IGOptions",
    "Steps",
    "auto_scale",
    "default_method",
]

Steps = int | Literal["auto"]

#: the completeness check passes when ``|delta| ≤ COMPLETENESS_TOLERANCE · |F(x) − F(x′)|``;
#: ``n_steps="auto"`` adds points until it does (its ``tol``, this by default)
COMPLETENESS_TOLERANCE = 0.01
#: the floor of ``|F(input) − F(baseline)|`` in the ``"auto"`` tolerance
AUTO_FLOOR = 0.01
#: the step count of :meth:`Explainer.explain` when none is given
DEFAULT_STEPS = 50
#: where ``n_steps="auto"`` stops when the check never passes
DEFAULT_MAX_STEPS = 512
#: the keyword arguments of the entry points that an :class:`IGOptions` holds
OPTION_NAMES = ("n_steps", "method", "tol", "max_steps")


def default_method(n_steps: Steps) -> Method:
    """The rule used when none is named: ``adaptive`` for ``"auto"``, else Gauss-Legendre.

    The adaptive rule reuses every point of its earlier rounds, so a search for the step
    count wastes none; for a fixed count Gauss-Legendre converges fastest.
    """
    return Method.ADAPTIVE if n_steps == "auto" else Method.GAUSS_LEGENDRE


def auto_scale(f_input: np.ndarray, f_baseline: np.ndarray) -> np.ndarray:
    """The per-class scale of the ``"auto"`` check: ``max(|F(input) − F(baseline)|, AUTO_FLOOR)``.

    Parameters
    ----------
    f_input, f_baseline : np.ndarray
        ``F`` at both ends of the path, ``(n_classes,)``.

    Returns
    -------
    np.ndarray
        ``(n_classes,)``, every entry at least :data:`AUTO_FLOOR`.
    """
    return np.maximum(np.abs(np.asarray(f_input) - np.asarray(f_baseline)), AUTO_FLOOR)


@dataclass(frozen=True)
class IGOptions:
    """How the path integral of one explanation is computed, checked when it is built.

    Every entry point (``explain``, ``refine``, ``explain_many``, the widgets and the CLI)
    builds one of these, so all of them accept and refuse the same options with the same
    messages.

    Attributes
    ----------
    n_steps : int or "auto"
        Quadrature points, an int in ``[1, MAX_STEPS]`` (``[2, MAX_STEPS]`` for every rule
        but Gauss-Legendre), or ``"auto"``: points are added until the completeness check
        passes with ``tol`` for every class, or ``max_steps`` is reached.
    method : Method
        The rule; given as a name or None (then :func:`default_method`), stored resolved.
    tol : float
        The completeness tolerance of ``"auto"``, in ``(0, 1)``.
    max_steps : int
        The most points ``"auto"`` evaluates, an int in ``[2, MAX_STEPS]``.
    """

    n_steps: Steps = DEFAULT_STEPS
    method: Method = Method.GAUSS_LEGENDRE
    tol: float = COMPLETENESS_TOLERANCE
    max_steps: int = DEFAULT_MAX_STEPS

    @classmethod
    def build(
        cls,
        n_steps: Steps = DEFAULT_STEPS,
        method: str | Method | None = None,
        tol: float = COMPLETENESS_TOLERANCE,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> IGOptions:
        """Validated options; ``ValueError``/``TypeError`` naming the first bad one.

        ``method=None`` resolves to :func:`default_method` of ``n_steps``.
        """
        auto = n_steps == "auto"
        if isinstance(n_steps, str) and not auto:
            raise ValueError(f"n_steps must be an integer or 'auto', got {n_steps!r}")
        rule = parse_method(method) if method is not None else default_method(n_steps)
        steps: Steps = "auto" if auto else check_steps(n_steps, rule)  # type: ignore[arg-type]
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)):
            raise TypeError(f"tol must be a number, got {tol!r}")
        if not 0 < float(tol) < 1:
            raise ValueError(f"tol must be between 0 and 1, got {tol}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
            raise TypeError(f"max_steps must be an int, got {max_steps!r}")
        if not 2 <= int(max_steps) <= MAX_STEPS:
            raise ValueError(f"max_steps must be an int in [2, {MAX_STEPS}], got {max_steps}")
        return cls(n_steps=steps, method=rule, tol=float(tol), max_steps=int(max_steps))

    @classmethod
    def coerce(cls, options: IGOptions | None = None, **given: Any) -> IGOptions:
        """``options`` itself, or options built from keyword arguments (``n_steps=`` …).

        Keyword arguments given beside ``options`` replace its entries and are validated
        again; one that is None counts as not given (the entry of ``options``, else the
        default), which is how the entry points pass their keyword options through.
        """
        if options is not None and not isinstance(options, IGOptions):
            raise TypeError(f"options must be an IGOptions, got {type(options).__name__}")
        given = {name: value for name, value in given.items() if value is not None}
        if options is None:
            return cls.build(**given)
        if not given:
            return options
        return cls.build(**{**options.as_kwargs(), **given})

    @property
    def auto(self) -> bool:
        """Whether the step count is searched (``n_steps="auto"``)."""
        return self.n_steps == "auto"

    def as_kwargs(self) -> dict[str, Any]:
        """``n_steps``, ``method`` (its name), ``tol``, ``max_steps``: what ``explain`` takes."""
        return {
            "n_steps": self.n_steps,
            "method": self.method.value,
            "tol": self.tol,
            "max_steps": self.max_steps,
        }

    def with_steps(self, n_steps: Steps) -> IGOptions:
        """The same options at another step count, validated for this rule."""
        return IGOptions.build(n_steps, self.method, self.tol, self.max_steps)

    def passes(self, delta: float, diff: float) -> bool:
        """The completeness check of one class at :attr:`tol`: ``|delta| ≤ tol · |diff|``."""
        return abs(delta) <= self.tol * abs(diff)
