"""The precision panel: tick the precisions to plan (all by default, or the common ones)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from app.state import AppState
from quantcore.formats.catalog import PRECISIONS
from quantcore.formats.describe import explain_precision

COMMON = ("bf16", "fp8", "int8", "nf4", "gptq-4bit-g128", "awq-4bit-g128", "q8_0", "q6_k", "q5_k_m", "q4_k_m",
          "q3_k_m")


class PrecisionPanel(QGroupBox):
    """Tick the precisions to plan (all by default)."""

    def __init__(self, state: AppState) -> None:
        super().__init__("Precisions")
        self.state = state
        self.list = QListWidget()
        self.list.setMinimumHeight(160)
        hidden = set(state.request.hidden_precisions)
        for p in PRECISIONS:
            item = QListWidgetItem(f"{p.id}  ({p.label})")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setToolTip("\n".join(explain_precision(p.id)))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if p.id in hidden else Qt.CheckState.Checked)
            self.list.addItem(item)
        every, common = QPushButton("All"), QPushButton("Common")
        common.setToolTip("bf16, fp8, int8, nf4, gptq/awq 4-bit, q8_0, q6_k, q5_k_m, q4_k_m, q3_k_m")
        buttons = QHBoxLayout()
        buttons.addWidget(every)
        buttons.addWidget(common)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        self.list.itemChanged.connect(self._changed)
        every.clicked.connect(lambda: self.show_only(None))
        common.clicked.connect(lambda: self.show_only(COMMON))

    def show_only(self, ids: tuple[str, ...] | None) -> None:
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = ids is None or item.data(Qt.ItemDataRole.UserRole) in ids
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
        self._changed()

    def _changed(self, _item: QListWidgetItem | None = None) -> None:
        hidden = tuple(self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                       if self.list.item(i).checkState() != Qt.CheckState.Checked)
        self.state.set_hidden_precisions(hidden)
