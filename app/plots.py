"""pyqtgraph views of a plan: stacked memory bars with GPU capacity lines, and memory-vs-context curves."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.table_models import short_gpu_name
from quantcore.planner.plan import Plan

COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead")
COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d")
GPU_COLOURS = ("#d62728", "#9467bd", "#17becf", "#bcbd22", "#8c564b", "#e377c2")
CURVE_PRECISIONS = ("fp32", "bf16", "fp8", "q8_0", "q6_k", "q4_k_m", "nf4", "q3_k_m", "q2_k")
UNITS = {"GiB": 2**30, "GB": 10**9}


def _gpu_line(plot: pg.PlotWidget, index: int, angle: int, position: float) -> pg.InfiniteLine:
    """A dashed capacity line for the index-th chosen GPU, labelled at `position` along it (added to plot)."""
    colour = GPU_COLOURS[index % len(GPU_COLOURS)]
    line = pg.InfiniteLine(angle=angle, movable=False, pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine),
                           label="", labelOpts={"position": position, "color": colour, "anchors": [(0, 1), (0, 1)]})
    plot.addItem(line)
    return line


def _legend(plot: pg.PlotWidget) -> pg.LegendItem:
    """A legend on a nearly opaque panel of the plot's background, so lines behind it do not garble its text."""
    colour = pg.mkColor(pg.getConfigOption("background"))
    colour.setAlpha(215)
    return plot.addLegend(brush=pg.mkBrush(colour), pen=pg.mkPen(None))


class MemoryBars(pg.PlotWidget):
    """Horizontal stacked bars, one per precision, one colour per memory line; a vertical line per chosen GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getPlotItem().invertY(True)
        self.getAxis("left").setWidth(104)  # fixed: precision ids fit, and relabelling never re-lays out the plot
        self.legend = _legend(self)
        # right-middle: the mid-precision bars there are short, and the GPU labels keep the bottom edge
        self.legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5), offset=(-10, 0))
        self.bars = []
        for name, colour in zip(COMPONENTS, COLOURS):
            item = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7, brush=colour, pen=pg.mkPen(None))
            self.addItem(item)
            self.legend.addItem(item, name.replace("_", " "))
            self.bars.append(item)
        self.lines: list[pg.InfiniteLine] = []

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        div = UNITS[unit]
        rows = plan.rows
        y = np.arange(len(rows), dtype=float)
        left = np.zeros(len(rows))
        for name, item in zip(COMPONENTS, self.bars):
            width = np.array([getattr(r.memory, name) for r in rows], dtype=float) / div
            item.setOpts(x0=left.copy(), y=y, width=width, height=0.7)
            left += width
        ticks = [(float(i), r.precision.id) for i, r in enumerate(rows)]
        self.getAxis("left").setTicks([ticks])
        self.setLabel("bottom", f"memory ({unit})")
        gpus = [rows[0].gpu_list[i] for i in selected] if rows else []
        self._set_lines([(g.name, g.usable_bytes / div) for g in gpus])
        self.setYRange(-0.6, max(len(rows) - 0.4, 0.5), padding=0)
        top = max([*left, *(v for _, v in self.line_values)], default=1.0)
        self.setXRange(0, top * 1.08, padding=0)

    def _set_lines(self, values: list[tuple[str, float]]) -> None:
        while len(self.lines) < len(values):
            self.lines.append(_gpu_line(self, len(self.lines), 90, 0.99))
        for i, line in enumerate(self.lines):
            visible = i < len(values)
            line.setVisible(visible)
            if visible:
                name, value = values[i]
                line.setPos(value)
                line.label.setFormat(f"{short_gpu_name(name)} ")
                line.label.setPosition(0.99 - 0.05 * i)  # stagger labels so two GPUs' names never overlap
        self.line_values = values


CURVE_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac", "#eeca3b",
                 "#1b9e77", "#d95f02", "#7570b3")


class ContextCurves(pg.PlotWidget):
    """Total memory against context length for a few representative precisions, with GPU capacity lines."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getAxis("left").setWidth(56)
        self.legend = _legend(self)
        # bottom right: rising curves leave the space under their right ends free
        self.legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-10, -30))
        self.curves: dict[str, pg.PlotDataItem] = {}
        for pid in CURVE_PRECISIONS:
            self._curve(pid)
        self.lines: list[pg.InfiniteLine] = []
        self.now = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888888", width=1,
                                                                         style=Qt.PenStyle.DotLine),
                                   label="current", labelOpts={"position": 0.96, "color": "#888888",
                                                               "anchors": [(0, 0.5), (0, 0.5)]})
        self.addItem(self.now)
        self.setLabel("bottom", "context (tokens per sequence)")

    def _curve(self, pid: str) -> pg.PlotDataItem:
        """The line for a precision, made the first time it is needed and kept (setData afterwards)."""
        item = self.curves.get(pid)
        if item is None:
            colour = CURVE_PALETTE[len(self.curves) % len(CURVE_PALETTE)]
            item = self.curves[pid] = self.plot([], [], pen=pg.mkPen(colour, width=2), antialias=True)
        return item

    def update_curves(self, contexts: tuple[int, ...], curves: dict[str, tuple[int, ...]],
                      capacities: list[tuple[str, int]], unit: str, current: int = 0,
                      current_totals: tuple[int, ...] = ()) -> None:
        """current: the workload's context (a dotted line); the y range shows the GPU lines and the totals at the
        current context with room to spare, not the far end of a training curve at the model's maximum context."""
        div = UNITS[unit]
        x = np.asarray(contexts, dtype=float)
        self.legend.clear()
        for pid in curves:
            self._curve(pid)
        for pid, item in self.curves.items():
            if pid in curves:
                item.setData(x, np.asarray(curves[pid], dtype=float) / div)
                item.setVisible(True)
                self.legend.addItem(item, pid)
            else:
                item.setData([], [])
                item.setVisible(False)
        while len(self.lines) < len(capacities):
            self.lines.append(_gpu_line(self, len(self.lines), 0, 0.02))
        for i, line in enumerate(self.lines):
            line.setVisible(i < len(capacities))
            if i < len(capacities):
                name, value = capacities[i]
                line.setPos(value / div)
                line.label.setFormat(short_gpu_name(name))
        self.setLabel("left", f"memory ({unit})")
        self.now.setPos(current)
        peak = max([max(c) for c in curves.values() if c] + [1]) / div
        focus = max([v for _, v in capacities] + list(current_totals) + [1]) / div * 1.5
        top = min(peak * 1.05, max(focus, 1.0))
        self.setYRange(0, top, padding=0)
        # x: up to where even the lowest curve leaves the view (or the model's limit), at least twice the current
        right = float(x[-1]) if len(x) else 1.0
        if curves and len(x):
            lowest = min(curves.values(), key=lambda c: c[-1])
            beyond = [xi for xi, v in zip(x, lowest) if v / div > top]
            if beyond:
                right = min(right, max(beyond[0] * 1.1, 2.0 * current))
        self.setXRange(0, right, padding=0.02)


class CostBars(pg.PlotWidget):
    """Cost per million generated tokens per precision, one bar colour per chosen GPU (grouped)."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getPlotItem().invertY(True)
        self.getAxis("left").setWidth(104)
        self.setLabel("bottom", "$ per million generated tokens (decode, roofline)")
        self.legend = _legend(self)
        self.legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-10, -10))
        self.bars: list[pg.BarGraphItem] = []

    def update_plan(self, plan: Plan, selected: tuple[int, ...]) -> None:
        rows = plan.rows
        while len(self.bars) < len(selected):
            colour = GPU_COLOURS[len(self.bars) % len(GPU_COLOURS)]
            item = pg.BarGraphItem(x0=[], y=[], width=[], height=0.5, brush=colour, pen=pg.mkPen(None))
            self.addItem(item)
            self.bars.append(item)
        self.legend.clear()
        k = max(1, len(selected))
        height = 0.8 / k
        top = 0.0
        for j, item in enumerate(self.bars):
            if j >= len(selected):
                item.setOpts(x0=[], y=[], width=[])
                continue
            gi = selected[j]
            costs = np.array([r.gpus[gi].cost_per_million_tokens or 0.0 for r in rows], dtype=float)
            y = np.arange(len(rows), dtype=float) - 0.4 + height * (j + 0.5)
            item.setOpts(x0=np.zeros(len(rows)), y=y, width=costs, height=height * 0.9)
            self.legend.addItem(item, short_gpu_name(rows[0].gpu_list[gi].name) if rows else "")
            top = max(top, float(costs.max(initial=0.0)))
        self.getAxis("left").setTicks([[(float(i), r.precision.id) for i, r in enumerate(rows)]])
        self.setYRange(-0.6, max(len(rows) - 0.4, 0.5), padding=0)
        self.setXRange(0, top * 1.08 or 1.0, padding=0)
