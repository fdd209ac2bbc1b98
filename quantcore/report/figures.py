"""Charts as plain geometry (rectangles, lines, polylines, text) that the SVG and the PDF writers both draw.

Coordinates are points with the origin at the top left (as in SVG); text y is its baseline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str | None = None
    width: float = 0.0
    tip: str = ""  # a tooltip in the HTML


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = "#333333"
    width: float = 1.0
    dash: tuple[float, ...] = ()


@dataclass(frozen=True)
class Polyline:
    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.5
    dash: tuple[float, ...] = ()


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 8.0
    fill: str = "#222222"
    anchor: str = "start"  # start | middle | end
    bold: bool = False
    rotate: float = 0.0  # degrees, clockwise on the page as in SVG (-90 reads upwards)


Item = Union[Rect, Line, Polyline, Text]


@dataclass(frozen=True)
class Figure:
    """One chart: its size in points, what it draws, and a title / description for readers and screen readers."""

    name: str  # file stem when charts are written beside a Markdown report
    width: float
    height: float
    items: tuple[Item, ...]
    title: str
    desc: str = ""
    meta: dict[str, str] = field(default_factory=dict)


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 x 10^k) that cuts span into about `ticks` parts."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, ticks)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def ticks(top: float, count: int = 5) -> list[float]:
    """0, step, 2 step, ... up to top."""
    step = nice_step(top, count)
    n = int(math.floor(top / step + 1e-9))
    return [i * step for i in range(n + 1)]


def tick_label(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}" if v == int(v) else f"{v:.1f}".rstrip("0").rstrip(".")


def clip_polyline(points: list[tuple[float, float]], top_y: float) -> list[list[tuple[float, float]]]:
    """Pieces of a polyline (page coordinates, y down) that stay below the line y = top_y, cut where they cross."""
    pieces: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(points):
        inside = y >= top_y
        if i:
            px, py = points[i - 1]
            if (py >= top_y) != inside and py != y:
                t = (top_y - py) / (y - py)
                cross = (px + t * (x - px), top_y)
                cur.append(cross)
                if not inside:
                    pieces.append(cur)
                    cur = []
        if inside:
            cur.append((x, y))
    if len(cur) > 1:
        pieces.append(cur)
    return [p for p in pieces if len(p) > 1]
