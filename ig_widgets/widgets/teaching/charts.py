"""Small SVG line charts for the teaching views: geometry in Python, drawn by one Vue template."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ipyvuetify as v
import numpy as np
import traitlets as t

from ig_widgets.widgets._templates import vue_template

#: chart size in SVG user units and the margins around the plot area
WIDTH, HEIGHT = 600, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 26, 34


@dataclass(frozen=True)
class Series:
    """A polyline with optional markers.

    Attributes
    ----------
    name : str
        Legend text.
    xs, ys : sequence of float
        Data coordinates, ``(n,)`` each; non-finite points are dropped.
    kind : str
        CSS modifier of the line (``igw-line--<kind>``): its colour and dash.
    markers : bool
        Draw a dot at every point.
    line : bool
        Join the points (False: markers only).
    tips : sequence of str, optional
        Hover text of each marker.
    """

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    kind: str = "0"
    markers: bool = False
    tips: Sequence[str] = ()
    line: bool = True


@dataclass(frozen=True)
class Bar:
    """A rectangle from ``y = 0`` to ``y`` over ``[x0, x1]`` (a quadrature cell)."""

    x0: float
    x1: float
    y: float
    tip: str = ""


@dataclass(frozen=True)
class Axis:
    """One axis: label, optional fixed range, linear or log10 scale."""

    label: str
    lo: float | None = None
    hi: float | None = None
    log: bool = False
    ticks: Sequence[float] | None = None
    tick_format: str = "{:.3g}"


@dataclass
class Chart:
    """A chart's data before layout: axes, series, bars and horizontal reference lines."""

    title: str
    x: Axis
    y: Axis
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    refs: list[tuple[float, str]] = field(default_factory=list)

    def layout(self, width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
        """Pixel geometry for the template (numbers and plain strings only).

        Returns
        -------
        dict
            ``title``, ``width``, ``height``, ``box`` (plot area), ``xticks``/``yticks``
            (``{"at", "label"}``), ``xlabel``, ``ylabel``, ``lines`` (``{"kind", "name",
            "points"}``), ``dots``, ``rects`` and ``refs`` in SVG coordinates.
        """
        x0, x1, y0, y1 = LEFT, width - RIGHT, height - BOTTOM, TOP
        xs = [x for s in self.series for x in s.xs] + [b.x0 for b in self.bars]
        xs += [b.x1 for b in self.bars]
        ys = [y for s in self.series for y in s.ys] + [b.y for b in self.bars]
        ys += [r[0] for r in self.refs] + ([0.0] if self.bars else [])
        xlo, xhi = _range(self.x, xs)
        ylo, yhi = _range(self.y, ys)
        sx = _scale(xlo, xhi, x0, x1, self.x.log)
        sy = _scale(ylo, yhi, y0, y1, self.y.log)
        lines, dots = [], []
        for s in self.series:
            pts = [(sx(a), sy(b)) for a, b in zip(s.xs, s.ys, strict=True) if _ok(a, b, self)]
            points = " ".join(f"{a},{b}" for a, b in pts) if s.line else ""
            lines.append({"kind": s.kind, "name": s.name, "points": points})
            if s.markers:
                tips = list(s.tips) or [""] * len(s.xs)
                dots += [
                    {"kind": s.kind, "x": sx(a), "y": sy(b), "tip": tip}
                    for a, b, tip in zip(s.xs, s.ys, tips, strict=True)
                    if _ok(a, b, self)
                ]
        zero = sy(0.0) if not self.y.log else y0
        rects = []
        for bar in self.bars:
            top = sy(bar.y)
            rects.append(
                {
                    "x": sx(bar.x0),
                    "w": max(sx(bar.x1) - sx(bar.x0), 0.5),
                    "y": min(top, zero),
                    "h": abs(top - zero),
                    "tip": bar.tip,
                }
            )
        return {
            "title": self.title,
            "width": width,
            "height": height,
            "box": {"x0": x0, "x1": x1, "y0": y0, "y1": y1},
            "xlabel": self.x.label,
            "ylabel": self.y.label,
            "xticks": _ticks(self.x, xlo, xhi, sx),
            "yticks": _ticks(self.y, ylo, yhi, sy),
            "lines": lines,
            "dots": dots,
            "rects": rects,
            "refs": [{"y": sy(y), "label": label} for y, label in self.refs if _finite(y, self.y)],
        }


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """At most ``count + 1`` round tick values (steps of 1, 2 or 5 × 10^k) covering ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(round(value, 12) + 0.0)
        value += step
    return ticks


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Powers of ten within ``[lo, hi]`` (every other one, or fewer, when there are many)."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    powers = list(range(first, last + 1))
    stride = max(1, math.ceil(len(powers) / most))
    return [10.0**p for p in powers[::stride]]


def _finite(value: float, axis: Axis) -> bool:
    return math.isfinite(value) and (not axis.log or value > 0)


def _ok(x: float, y: float, chart: Chart) -> bool:
    return _finite(x, chart.x) and _finite(y, chart.y)


def _range(axis: Axis, values: Sequence[float]) -> tuple[float, float]:
    """The axis range: fixed ends where given, else the data's, padded when flat."""
    data = [float(x) for x in values if _finite(float(x), axis)]
    lo = axis.lo if axis.lo is not None else (min(data) if data else 0.0)
    hi = axis.hi if axis.hi is not None else (max(data) if data else 1.0)
    if axis.log:
        lo = lo if lo > 0 else 1e-12
        hi = hi if hi > lo else lo * 10
        return 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(hi))
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = 0.06 * (hi - lo)
    return (lo if axis.lo is not None else lo - pad), (hi if axis.hi is not None else hi + pad)


def _scale(lo: float, hi: float, p0: float, p1: float, log: bool) -> Any:
    """Data → pixel map (rounded to 0.1 px) of a linear or log axis."""
    if log:
        a, b = math.log10(lo), math.log10(hi)
        return lambda x: round(p0 + (math.log10(x) - a) / (b - a) * (p1 - p0), 1)
    return lambda x: round(p0 + (x - lo) / (hi - lo) * (p1 - p0), 1)


def _ticks(axis: Axis, lo: float, hi: float, scale: Any) -> list[dict[str, Any]]:
    if axis.ticks is not None:
        values = [x for x in axis.ticks if lo <= x <= hi]
    else:
        values = log_ticks(lo, hi) if axis.log else nice_ticks(lo, hi)
    step = min((b - a for a, b in itertools.pairwise(values)), default=0.0)
    top = max((abs(x) for x in values), default=0.0)
    return [{"at": scale(x), "label": _label(axis, x, step, top)} for x in values]


def _label(axis: Axis, value: float, step: float, top: float) -> str:
    """A tick label; on linear axes with the default format, as many decimals as the step.

    Ticks that are all tiny (``max |tick| < 1e-3``) are written in scientific notation.
    """
    if axis.log and (value < 1e-3 or value >= 1e4):
        return f"1e{round(math.log10(value))}"
    if axis.log or axis.tick_format != Axis.tick_format or step <= 0:
        return axis.tick_format.format(value)
    if top < 1e-3:
        return f"{value:.1e}" if value else "0"
    return f"{value:.{max(0, -math.floor(math.log10(step) + 1e-9))}f}"


def as_floats(values: Any) -> list[float]:
    """A plain list of Python floats (for traits), from any array-like ``(n,)``."""
    return [float(x) for x in np.asarray(values, dtype=np.float64).reshape(-1)]


class ChartWidget(v.VuetifyTemplate):
    """One SVG chart drawn from :meth:`Chart.layout`'s geometry (no chart library).

    DOM: root ``.igw-chart`` with ``data-title``; lines ``.igw-line`` (``data-name``),
    markers ``.igw-dot``, quadrature cells ``.igw-cell``.
    """

    template = t.Unicode(vue_template("chart.vue"), help="the Vue template (js/chart.vue)").tag(
        sync=True
    )

    panel = t.Dict(help="the chart to draw: axes, lines, points, legend").tag(sync=True)

    def draw(self, chart: Chart) -> None:
        """Replace the drawing."""
        self.panel = chart.layout()
