"""The Memory tab: precisions x memory lines with fit badges, stacked bars with GPU capacity lines, and
memory-vs-context curves."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QSplitter

from app.plot_labels import fit_ticks, merged_names, place_labels
from app.tabs.common import (ColumnFitter, Index, PlanModel, gpu_line, legend,
                             make_table, placement_colour, placement_tip, short_gpu_name)
from quantcore.planner.estimate import ENGINE_NAMES
from quantcore.planner.explain import explain
from quantcore.planner.plan import Plan, context_points, memory_curve
from quantcore.units import unit_for

COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total")
COMPONENT_TIPS = {
    "weights": "Sum over the model's tensors of their bytes in this precision, including block scales and "
               "zero-points; tensors the format's real tool keeps in 16-bit stay 16-bit.",
    "kv_cache": "2 (K and V) x attention layers x KV heads x head_dim x context x batch x bytes of the KV dtype; "
                "sliding-window layers hold at most the window; MLA holds one latent per token.",
    "activations": "Peak transient of one layer's forward pass over the prompt (buffers are reused across layers), "
                   "or, in training, activations kept for the backward pass (Korthikanti et al.).",
    "gradients": "Gradients of the trainable weights (fp32 under mixed precision), sharded by ZeRO stage 2+.",
    "optimizer": "Optimizer states: AdamW keeps an fp32 master copy and two fp32 moments (12 B/param); 8-bit Adam "
                 "2 B/param of states; SGD one momentum; Adafactor factored second moments.",
    "adapters": "LoRA adapters: rank x (in + out) per targeted matrix, in 16-bit.",
    "overhead": "Runtime overhead of the chosen engine preset (CUDA context, allocator slack, reserved share); "
                "an explicit line you can override, never a hidden multiplier.",
    "total": "The sum of the lines to the left: memory one GPU needs for the whole model (before splitting).",
}
BAR_COMPONENTS = COMPONENTS[:-1]
COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d")
CURVE_PRECISIONS = ("fp32", "bf16", "fp8", "q8_0", "q6_k", "q4_k_m", "nf4", "q3_k_m", "q2_k")




FIRST_COMPONENT = 3  # columns: precision, bits/w, engine, the memory lines, then one per chosen GPU


class MemoryTableModel(PlanModel):
    """Rows: precisions. Columns: bits per weight, the engine the row is planned with, each memory line, then the
    placement on each chosen GPU."""

    def _explained(self, pid: str) -> dict[str, str]:
        """The engine's formula for each line of this row, worked out the first time a tooltip asks."""
        if pid not in self._explanations and self.plan is not None:
            row = self.plan.row(pid)
            self._explanations[pid] = explain(self.plan.inventory, pid, row.workload if row else self.plan.workload)
        return self._explanations.get(pid, {})

    def _rebuild(self) -> None:
        self._explanations: dict[str, dict[str, str]] = {}
        gpus = [short_gpu_name(self.plan.rows[0].gpu_list[i].name) for i in self.selected] \
            if self.plan and self.plan.rows else []
        self.headers = ["precision", "bits/w", "engine"] + [c.replace("_", " ") for c in COMPONENTS] + gpus

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.plan is None else len(self.plan.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.plan is None:
            return None
        row, col = self.plan.rows[index.row()], index.column()
        last = FIRST_COMPONENT + len(COMPONENTS)  # first GPU column
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            raw = role == Qt.ItemDataRole.UserRole
            if col == 0:
                return row.precision.label if row.as_stored and not raw else row.precision.id
            if col == 1:
                return row.bits_per_weight if raw else f"{row.bits_per_weight:.2f}"
            if col == 2:
                return row.engine if raw else ENGINE_NAMES.get(row.engine, row.engine)
            if col < last:
                value = getattr(row.memory, COMPONENTS[col - FIRST_COMPONENT])
                return value if raw else self.size(value)
            option = row.gpus[self.selected[col - last]]
            return option.count if raw else option.badge
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                p = row.precision
                return f"{p.label}: {p.storage_bits:.4g} storage bits per quantized weight. Keeps: {p.keeps}. {p.source}"
            if col == 1:
                return "Bits per weight over the whole model, kept-in-16-bit tensors included."
            if col == 2:
                return (f"Memory, multi-GPU layout and speed follow {ENGINE_NAMES.get(row.engine, row.engine)}"
                        + (" (engine auto: the engine this precision usually runs on; pick one in Workload to "
                           "plan every row with it)." if self.plan.workload.engine == "auto" else "."))
            if col < last:
                name = COMPONENTS[col - FIRST_COMPONENT]
                detail = self._explained(row.precision.id).get(name)
                return COMPONENT_TIPS[name] + (f"\n\n{detail}" if detail else "")
            return placement_tip(row.gpus[self.selected[col - last]], self.size)
        if role == Qt.ItemDataRole.BackgroundRole and col >= last:
            return placement_colour(row.gpus[self.selected[col - last]])
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class MemoryBars(pg.PlotWidget):
    """Horizontal stacked bars, one per precision, one colour per memory line; a vertical line per chosen GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getPlotItem().invertY(True)
        self.getAxis("left").setWidth(104)  # fixed: precision ids fit, and relabelling never re-lays out the plot
        self.getAxis("bottom").enableAutoSIPrefix(False)  # the unit is picked from the magnitude instead
        self.legend = legend(self)  # a band above the bars
        self.bars = []
        for name, colour in zip(BAR_COMPONENTS, COLOURS):
            item = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7, brush=colour, pen=pg.mkPen(None))
            self.addItem(item)
            self.legend.addItem(item, name.replace("_", " "))
            self.bars.append(item)
        self.lines: list[pg.InfiniteLine] = []
        self.line_values: list[tuple[str, float]] = []
        self.ticks: list[tuple[float, str]] = []
        self.getPlotItem().vb.sigResized.connect(self.place_labels)

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        rows = plan.rows
        gpus = [rows[0].gpu_list[i] for i in selected] if rows else []
        biggest = max([r.memory.total for r in rows] + [g.usable_bytes for g in gpus] + [1])
        unit, div = unit_for(biggest, unit)
        y = np.arange(len(rows), dtype=float)
        left = np.zeros(len(rows))
        for name, item in zip(BAR_COMPONENTS, self.bars):
            width = np.array([getattr(r.memory, name) for r in rows], dtype=float) / div
            item.setOpts(x0=left.copy(), y=y, width=width, height=0.7)
            left += width
        self.ticks = [(float(i), r.precision.id) for i, r in enumerate(rows)]
        self.setLabel("bottom", f"memory ({unit})")
        self._set_lines([(g.name, g.usable_bytes / div) for g in gpus])
        self.setYRange(-0.6, max(len(rows) - 0.4, 0.5), padding=0)
        top = max([*left, *(v for _, v in self.line_values)], default=1.0)
        self.setXRange(0, top * 1.08, padding=0)
        self.place_labels()

    def place_labels(self) -> None:
        """Precision ids as dense as the height allows; GPU names at the bottom of their lines, moved up along a
        line where they would cover another."""
        fit_ticks(self, self.ticks)
        place_labels(self.lines, 0.98, -1)

    def _set_lines(self, values: list[tuple[str, float]]) -> None:
        while len(self.lines) < len(values):
            self.lines.append(gpu_line(self, len(self.lines), 90, 0.98))
        texts = merged_names(values)  # GPUs of equal memory share one label
        for i, line in enumerate(self.lines):
            visible = i < len(values)
            line.setVisible(visible)
            if visible:
                line.setPos(values[i][1])
                line.label.setFormat(f"{texts[i]} " if texts[i] else "")
        self.line_values = values


CURVE_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac", "#eeca3b",
                 "#1b9e77", "#d95f02", "#7570b3")


class ContextCurves(pg.PlotWidget):
    """Total memory against context length for a few representative precisions, with GPU capacity lines."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getAxis("left").setWidth(56)
        self.getAxis("left").enableAutoSIPrefix(False)  # the unit is picked from the magnitude instead
        self.legend = legend(self)  # a band above the curves
        self._legend_pids: list[str] | None = None
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
        self.getPlotItem().vb.sigResized.connect(self.place_labels)

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
        peak_bytes = max([max(c) for c in curves.values() if c] + [1])
        focus_bytes = max([v for _, v in capacities] + list(current_totals) + [1]) * 1.5
        unit, div = unit_for(min(peak_bytes * 1.05, focus_bytes), unit)
        x = np.asarray(contexts, dtype=float)
        for pid in curves:
            self._curve(pid)
        shown = [pid for pid in self.curves if pid in curves]
        relabel = shown != self._legend_pids  # labels are rebuilt only when the set of curves changes
        if relabel:
            self.legend.clear()
            self._legend_pids = shown
        for pid, item in self.curves.items():
            if pid in curves:
                item.setData(x, np.asarray(curves[pid], dtype=float) / div)
                item.setVisible(True)
                if relabel:
                    self.legend.addItem(item, pid)
            else:
                item.setData([], [])
                item.setVisible(False)
        while len(self.lines) < len(capacities):
            self.lines.append(gpu_line(self, len(self.lines), 0, 0.02))
        texts = merged_names(capacities)  # GPUs of equal memory share one label
        for i, line in enumerate(self.lines):
            line.setVisible(i < len(capacities))
            if i < len(capacities):
                line.setPos(capacities[i][1] / div)
                line.label.setFormat(texts[i])
        self.setLabel("left", f"memory ({unit})")
        self.now.setPos(current)
        top = min(peak_bytes * 1.05, focus_bytes) / div
        self.setYRange(0, top, padding=0)
        # x: up to where even the lowest curve leaves the view (or the model's limit), at least twice the current
        right = float(x[-1]) if len(x) else 1.0
        if curves and len(x):
            lowest = min(curves.values(), key=lambda c: c[-1])
            beyond = [xi for xi, v in zip(x, lowest) if v / div > top]
            if beyond:
                right = min(right, max(beyond[0] * 1.1, 2.0 * current))
        self.setXRange(0, right, padding=0.02)
        self.place_labels()

    def place_labels(self) -> None:
        """GPU names at the left end of their lines, moved right along a line where they would cover another
        (or the 'current' marker's label)."""
        place_labels(self.lines, 0.02, 1, fixed=(self.now.label,))




class MemoryTab(QSplitter):
    """The table above, bars and curves below; update() renders a plan for the chosen GPUs."""

    title = "Memory"

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.model = MemoryTableModel()
        from app.tabs.quality_cell import QualityColumn  # issue 14: the quality column beside the memory lines

        self.view = make_table(QualityColumn(self.model))
        self.bars, self.curves = MemoryBars(), ContextCurves()
        self.plots = (self.bars, self.curves)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.bars)
        plots.addWidget(self.curves)
        self.addWidget(self.view)
        self.addWidget(plots)
        self.setSizes([330, 420])
        self._fitter = ColumnFitter()

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        self.model.set_plan(plan, selected, unit)
        self._fitter.fit(self.view, plan)
        if plan.rows:
            self.bars.update_plan(plan, selected, unit)
            self._update_curves(plan, selected, unit)

    def _update_curves(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        inv, w = plan.inventory, plan.workload
        limit = inv.arch.max_context if inv.arch and inv.arch.max_context else max(w.context, 8192)
        contexts = context_points(limit)
        present = [r.precision.id for r in plan.rows]
        wanted = [p for p in CURVE_PRECISIONS if p in present]
        if len(wanted) < 3:  # training modes plan only a few precisions: draw them all
            wanted = present[:6]
        gpus = plan.rows[0].gpu_list
        # on the first chosen GPU: vLLM-planned rows keep a share of that card, as the table's figures do
        card = gpus[selected[0]].memory_bytes if selected else None
        curves = {p: memory_curve(inv, p, plan.row(p).workload, contexts, card) for p in wanted}
        totals = tuple(r.memory.total for r in plan.rows if r.precision.id in curves)
        self.curves.update_curves(contexts, curves, [(gpus[i].name, gpus[i].usable_bytes) for i in selected], unit,
                                  current=w.context, current_totals=totals)
