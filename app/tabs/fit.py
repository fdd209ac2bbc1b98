"""The Fit tab: GPUs needed for every catalog GPU x precision, and the largest context and batch on the first
chosen GPU."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.tabs.common import ColumnFitter, Index, PlanModel, count_text, make_table, placement_colour, placement_tip
from quantcore.planner.plan import Plan
from quantcore.units import format_bytes


class FitHeatmapModel(PlanModel):
    """Rows: every catalog GPU. Columns: precisions. Cell: GPUs needed, coloured by fit."""

    def _rebuild(self) -> None:
        self.headers = [r.precision.id for r in self.plan.rows] if self.plan else []

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if parent.isValid() or self.plan is None or not self.plan.rows:
            return 0
        return len(self.plan.rows[0].gpu_list)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Vertical and self.plan is not None and self.plan.rows:
            gpu = self.plan.rows[0].gpu_list[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return f"{gpu.name} ({format_bytes(gpu.memory_bytes, self.unit, 0)})"
            return None
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.plan is None:
            return None
        row = self.plan.rows[index.column()]
        option = row.gpus[index.row()]
        count = option.count
        if role == Qt.ItemDataRole.DisplayRole:
            return count_text(count) + (" + RAM" if option.placement.kind == "offload" else "")
        if role == Qt.ItemDataRole.UserRole:
            return count
        if role == Qt.ItemDataRole.BackgroundRole:
            return placement_colour(option)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.precision.id}: " + placement_tip(option, self.size)
        return None


class LimitsModel(PlanModel):
    """For the first chosen GPU: per precision, GPUs needed and the largest context and batch that fit."""

    headers = ["precision", "GPUs", "largest context", "largest batch", "per-GPU memory"]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.plan is None or not self.selected else len(self.plan.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.plan is None or not self.selected:
            return None
        row = self.plan.rows[index.row()]
        opt = row.gpus[self.selected[0]]
        col = index.column()
        values = [row.precision.id, opt.count, opt.max_context, opt.max_batch, opt.per_gpu.total if opt.per_gpu else None]
        if role == Qt.ItemDataRole.UserRole:
            return values[col]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 1:
                return count_text(opt.count)
            if col in (2, 3):
                return "-" if not values[col] else f"{values[col]:,}"
            if col == 4:
                return self.size(values[4])
            return values[0]
        if role == Qt.ItemDataRole.BackgroundRole and col == 1:
            return placement_colour(opt)
        if role == Qt.ItemDataRole.ToolTipRole and col in (2, 3):
            return ("Largest context per sequence (at this batch) / largest batch (at this context) whose memory "
                    "fits on the GPUs needed, capped at the model's own context limit.")
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None




class FitTab(QWidget):
    """The heatmap above, the first chosen GPU's limits below."""

    title = "Fit"

    def __init__(self) -> None:
        super().__init__()
        self.heatmap_model, self.limits_model = FitHeatmapModel(), LimitsModel()
        self.heatmap_view, self.limits_view = make_table(self.heatmap_model), make_table(self.limits_model)
        self.view = self.heatmap_view
        self.plots = ()
        self.limits_label = QLabel()
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("GPUs needed per GPU model and precision (green: fits on one; amber: 2-8; red: more)"))
        lay.addWidget(self.heatmap_view, 3)
        lay.addWidget(self.limits_label)
        lay.addWidget(self.limits_view, 2)
        self._fitter = ColumnFitter()

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        if selected and plan.rows:
            name = plan.rows[0].gpu_list[selected[0]].name
            self.limits_label.setText(f"On {name}: GPUs needed, largest context and batch per precision")
        else:
            self.limits_label.setText("Tick a GPU to see the largest context and batch per precision")
        self.heatmap_model.set_plan(plan, selected, unit)
        self.limits_model.set_plan(plan, selected, unit)
        self._fitter.fit(self.limits_view, plan)
        # heatmap: 29 x 23 short numbers; each column as wide as its header asks (margins included), so no
        # precision id is elided and short ones leave room for more columns (cells are not read: that is slow)
        header = self.heatmap_view.horizontalHeader()
        # the widest texts a cell can hold: a partial offload ("1 + RAM") and "> 64", with the cell's margins
        cell = max(self.heatmap_view.fontMetrics().horizontalAdvance(s) for s in ("1 + RAM", "> 64")) + 16
        for i in range(self.heatmap_model.columnCount()):
            header.resizeSection(i, max(header.sectionSizeHint(i), cell, 44))
