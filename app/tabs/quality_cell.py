"""The Memory tab's quality column: each precision's expected quality cost, the evidence and its source on hover.

A table model that shows another plan table model's columns plus one "quality" column at the end, so the memory
table itself stays as it is.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from app.tabs.common import Index, PlanModel
from quantcore.planner.plan import PlanRow
from quantcore.planner.quality import Quality, row_quality

QUALITY_HEADER = "quality"
ESTIMATE = QColor(120, 120, 120)
TIP = ("Quality cost of this precision: measured on this model by the quantization lab, else a published figure "
       "for the format (resources/quality.toml), else the k-bit scaling-law estimate (marked est.).")


class QualityColumn(QAbstractTableModel):
    """`source`'s rows and columns, then the quality of each row's precision on the plan's model."""

    def __init__(self, source: PlanModel) -> None:
        super().__init__()
        self.source = source
        self.lab: dict[str, Any] | None = None  # the lab's results for the planned model (measured evidence)
        self._cache: dict[str, Quality] = {}
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self._reset)
        source.dataChanged.connect(lambda a, b, roles=(): self.dataChanged.emit(
            self.index(a.row(), a.column()), self.index(b.row(), b.column()), roles))
        source.headerDataChanged.connect(self.headerDataChanged.emit)

    def _reset(self) -> None:
        self._cache = {}
        self.endResetModel()

    def set_lab(self, lab: dict[str, Any] | None) -> None:
        """Use the quantization lab's results ({"errors": [{"precision", "rel_error" | "sqnr_db"}, ...]}) as the
        measured evidence for the rows they cover."""
        self.beginResetModel()
        self.lab = lab
        self._cache = {}
        self.endResetModel()

    @property
    def quality_column(self) -> int:
        return self.source.columnCount()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self.source.rowCount()

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self.source.columnCount() + 1

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and section == self.quality_column:
            if role == Qt.ItemDataRole.DisplayRole:
                return QUALITY_HEADER
            if role == Qt.ItemDataRole.ToolTipRole:
                return TIP
            return None
        return self.source.headerData(section, orientation, role)

    def quality(self, row: PlanRow) -> Quality:
        got = self._cache.get(row.precision.id)
        if got is None:
            got = self._cache[row.precision.id] = row_quality(row.inventory, row.precision, self.lab)
        return got

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.column() < self.quality_column:
            return self.source.index(index.row(), index.column()).data(role)
        plan = self.source.plan
        if plan is None or index.row() >= len(plan.rows):
            return None
        row = plan.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.quality(row).cell()
        if role == Qt.ItemDataRole.UserRole:
            return self.quality(row).ppl_increase_pct
        if role == Qt.ItemDataRole.ToolTipRole:
            q = self.quality(row)
            return f"{TIP}\n\n{q.metric}: {q.cell()} ({q.kind})\n{q.source}"
        if role == Qt.ItemDataRole.ForegroundRole and self.quality(row).kind == "estimate":
            return ESTIMATE
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
