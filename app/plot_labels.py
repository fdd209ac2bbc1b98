"""Labels of GPU capacity lines that never sit on top of each other: GPUs of equal memory share one label, and
labels of nearby lines are moved along their lines until their boxes on screen are clear of each other."""
from __future__ import annotations

from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.tabs.common import short_gpu_name


def merged_names(values: Sequence[tuple[str, float]]) -> list[str]:
    """One label text per line: the first line of each equal value names every GPU at it, the others are blank."""
    seen: dict[float, int] = {}
    texts: list[list[str]] = []
    for name, value in values:
        short = short_gpu_name(name)
        if value in seen:
            if short not in texts[seen[value]]:
                texts[seen[value]].append(short)
            texts.append([])
        else:
            seen[value] = len(texts)
            texts.append([short])
    return [", ".join(t) for t in texts]


def _rect(item: pg.GraphicsObject) -> QRectF:
    return item.sceneBoundingRect().adjusted(-1, -1, 1, 1)


def keep_inside(label: pg.InfLineLabel) -> None:
    """A label that would run past the plot's right edge is drawn on the other side of its point."""
    view = label.line.getViewBox()
    if view is None or label.scene() is None:
        return
    if not hasattr(label, "side_anchors"):
        label.side_anchors = list(label.anchors)  # as made: text to the right of its point
    label.anchors = label.side_anchors
    label.updatePosition()
    if label.sceneBoundingRect().right() > view.sceneBoundingRect().right():
        label.anchors = [(1.0, y) for _x, y in label.side_anchors]
        label.updatePosition()


def place_labels(lines: Sequence[pg.InfiniteLine], start: float, step_sign: int,
                 fixed: Sequence[pg.InfLineLabel] = ()) -> None:
    """Put each visible line's label at the first position along its line (start, then steps of one label's size
    in step_sign's direction) where its box on screen overlaps no label placed before it nor a `fixed` label;
    labels stay inside the plot."""
    for item in (*lines, *(label.line for label in fixed)):
        view = item.getViewBox()
        if view is not None:
            view.childTransform()  # apply a pending range change now, so positions below are the drawn ones
        item.viewTransformChanged()
    for label in fixed:
        keep_inside(label)
    placed = [_rect(f) for f in fixed if f.isVisible() and f.scene() is not None]
    for line in lines:
        label = line.label
        if not line.isVisible() or not label.isVisible() or not label.toPlainText().strip():
            continue
        view = line.getViewBox()
        if view is None or view.height() <= 0 or view.width() <= 0:
            label.setPosition(start)
            continue
        vertical = line.angle % 180 == 90  # a vertical line: its label moves up or down along it
        size = label.boundingRect().height() if vertical else label.boundingRect().width()
        extent = view.height() if vertical else view.width()
        step = (size + 3) / extent
        position = start
        for _ in range(int(1 / max(step, 1e-3)) + 1):
            label.setPosition(position)
            keep_inside(label)
            box = _rect(label)
            if not any(box.intersects(other) for other in placed):
                break
            nxt = position + step_sign * step
            if not 0.0 <= nxt <= 1.0:
                break
            position = nxt
        placed.append(_rect(label))


def fit_ticks(plot: pg.PlotWidget, ticks: list[tuple[float, str]], axis: str = "left") -> None:
    """Row labels (precision ids) on a bar chart: all of them when each row has a text line of room, else every
    second (third, ...) one, so no two labels are ever drawn over each other."""
    from math import ceil

    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    plot.full_ticks = list(ticks)  # type: ignore[attr-defined]
    view = plot.getPlotItem().vb
    rows = max(1.0, abs(view.viewRange()[1 if axis == "left" else 0][1] - view.viewRange()[1 if axis == "left"
                                                                                          else 0][0]))
    extent = view.height() if axis == "left" else view.width()
    pitch = extent / rows if extent > 0 else 0.0
    line = QFontMetrics(QApplication.font()).ascent()  # rows closer than a capital letter's height would touch
    stride = max(1, ceil(line / pitch)) if pitch > 0 else 1
    plot.getAxis(axis).setTicks([[t for i, t in enumerate(ticks) if i % stride == 0]])
