"""The Cost tab: purchase and hourly cost, break-even, speeds and cost per million tokens per GPU x precision."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QSplitter

from app.plot_labels import fit_ticks
from app.tabs.common import (GPU_COLOURS, ColumnFitter, Index, PlanModel, count_text, legend,
                             make_table, placement_colour, placement_tip, short_gpu_name)
from quantcore.planner.plan import Plan


class CostModel(PlanModel):
    """One row per (chosen GPU, precision): GPUs, purchase and hourly cost, speed, cost per million tokens."""

    headers = ["GPU", "precision", "GPUs", "purchase", "per hour", "break-even (days)", "decode tok/s (est.)",
               "prefill tok/s (est.)", "$ / M tokens (est.)"]

    def _rebuild(self) -> None:
        self.items = [(gi, r) for gi in self.selected for r in self.plan.rows] if self.plan else []

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.plan is None else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.plan is None:
            return None
        gi, row = self.items[index.row()]
        opt = row.gpus[gi]
        buy, rent = opt.purchase_usd, opt.hourly_usd
        breakeven = buy / rent / 24 if buy and rent else None
        raw = [opt.gpu.name, row.precision.id, opt.count, buy, rent, breakeven,
               opt.decode_tokens_per_s, opt.prefill_tokens_per_s, opt.cost_per_million_tokens]
        col = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return raw[col]
        if role == Qt.ItemDataRole.DisplayRole:
            v = raw[col]
            if col == 2:
                return count_text(v)
            if v is None:
                return "-"
            if col == 3:
                return f"${v:,.0f}"
            if col in (4, 8):
                return f"${v:,.2f}"
            if col in (5, 6, 7):
                return f"{v:,.1f}" if col != 5 else f"{v:,.0f}"
            return v
        if role == Qt.ItemDataRole.ToolTipRole:
            basis = f"\n\n{opt.speed_basis}" if opt.speed_basis else ""
            return {2: placement_tip(opt, self.size),
                    5: "Days of round-the-clock rent that cost as much as buying the GPUs (power not included).",
                    6: "Estimate: a decode step reads the active weights and the batch's KV cache once; bandwidth "
                       "x efficiency bounds it (or compute, at large batch)." + basis,
                    7: "Estimate: the prompt's FLOPs at the matmul rate the engine's kernels use x efficiency." + basis,
                    8: "Estimate: hourly rent of the GPUs used / generated tokens per hour at the decode rate."
                       + basis}.get(col)
        if role == Qt.ItemDataRole.BackgroundRole and col == 2:
            return placement_colour(opt)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class CostBars(pg.PlotWidget):
    """Cost per million generated tokens per precision, one bar colour per chosen GPU (grouped)."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.getPlotItem().invertY(True)
        self.getAxis("left").setWidth(104)
        self.setLabel("bottom", "$ per million generated tokens (decode, estimate)")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.legend = legend(self)  # a band above the bars
        self.bars: list[pg.BarGraphItem] = []
        self.ticks: list[tuple[float, str]] = []
        self.getPlotItem().vb.sigResized.connect(lambda: fit_ticks(self, self.ticks))

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
        self.setYRange(-0.6, max(len(rows) - 0.4, 0.5), padding=0)
        self.setXRange(0, top * 1.08 or 1.0, padding=0)
        self.ticks = [(float(i), r.precision.id) for i, r in enumerate(rows)]
        fit_ticks(self, self.ticks)


class CostTab(QSplitter):
    """The cost table above, cost per million tokens as bars below."""

    title = "Cost"

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.model = CostModel()
        self.view = make_table(self.model)
        self.bars = CostBars()
        self.plots = (self.bars,)
        self.addWidget(self.view)
        self.addWidget(self.bars)
        self.setSizes([330, 420])  # the bars need a text line per precision
        self._fitter = ColumnFitter()

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        self.model.set_plan(plan, selected, unit)
        self._fitter.fit(self.view, plan)
        if plan.rows:
            self.bars.update_plan(plan, selected)
