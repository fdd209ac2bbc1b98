"""The GPU panel: tick GPUs of the catalog (custom ones included), and the dialog that adds or edits your own."""
from __future__ import annotations

import re
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from app.panels.common import filter_list, plain_tip
from app.state import AppState
from quantcore.planner.hardware import GPU


class GpuPanel(QGroupBox):
    """Tick one or more GPUs from the catalog (custom ones included); add your own."""

    add_requested = Signal()
    edit_requested = Signal(str)  # id of a custom GPU to edit

    def __init__(self, state: AppState) -> None:
        super().__init__("GPUs")
        self.state = state
        self.filter = QLineEdit(placeholderText="Filter GPUs")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setMinimumHeight(220)
        add = QPushButton("Add custom GPU...")
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        lay.addWidget(add)
        self.filter.textChanged.connect(self._filter)
        self.list.itemChanged.connect(self._changed)
        self.list.itemDoubleClicked.connect(self._edit)
        add.clicked.connect(self.add_requested)

    def set_catalog(self, gpus: tuple[GPU, ...]) -> None:
        chosen = set(self.state.request.gpus)
        self.list.blockSignals(True)
        self.list.clear()
        for g in gpus:
            mem = f"{g.memory_bytes / 2**30:.0f} GiB"
            item = QListWidgetItem(f"{g.name}  ({mem}{', custom' if g.custom else ''})")
            item.setData(Qt.ItemDataRole.UserRole, g.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if g.id in chosen else Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole + 1, g.custom)
            item.setToolTip(plain_tip(f"{g.bandwidth_bytes_per_s / 1e9:,.0f} GB/s, {g.bf16_flops / 1e12:,.0f} dense "
                                      f"bf16 TFLOPS; {g.source} ({g.date})"
                                      + ("; double-click to edit" if g.custom else "")))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._filter(self.filter.text())

    def _filter(self, text: str) -> None:
        filter_list(self.list, text)

    def _edit(self, item: QListWidgetItem) -> None:
        if item.data(Qt.ItemDataRole.UserRole + 1):
            self.edit_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _changed(self, item: QListWidgetItem) -> None:
        gid = item.data(Qt.ItemDataRole.UserRole)
        current = list(self.state.request.gpus)
        if item.checkState() == Qt.CheckState.Checked and gid not in current:
            current.append(gid)
        elif item.checkState() != Qt.CheckState.Checked and gid in current:
            current.remove(gid)
        self.state.set_gpus(tuple(current))


class CustomGpuDialog(QDialog):
    """Name, memory, bandwidth, dense fp16 rate and prices of a GPU of your own."""

    def __init__(self, parent: QWidget | None = None, gpu: GPU | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit a custom GPU" if gpu else "Add a custom GPU")
        self.name = QLineEdit(placeholderText="e.g. My lab's A6000")
        self.memory = QDoubleSpinBox(minimum=1, maximum=100000, decimals=1, value=48, suffix=" GiB")
        self.bandwidth = QDoubleSpinBox(minimum=1, maximum=100000, decimals=0, value=768, suffix=" GB/s")
        self.fp16 = QDoubleSpinBox(minimum=0.1, maximum=100000, decimals=1, value=155, suffix=" TFLOPS")
        self.price = QDoubleSpinBox(minimum=0, maximum=10_000_000, decimals=0, value=0, prefix="$",
                                    specialValueText="unknown")
        self.hourly = QDoubleSpinBox(minimum=0, maximum=10_000, decimals=2, value=0, prefix="$",
                                     specialValueText="unknown")
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Memory", self.memory)
        form.addRow("Bandwidth", self.bandwidth)
        form.addRow("Dense fp16", self.fp16)
        form.addRow("Purchase price", self.price)
        form.addRow("Hourly rent", self.hourly)
        if gpu is not None:
            self.name.setText(gpu.name)
            self.memory.setValue(gpu.memory_bytes / 2**30)
            self.bandwidth.setValue(gpu.bandwidth_bytes_per_s / 1e9)
            self.fp16.setValue(gpu.fp16_flops / 1e12)
            self.price.setValue(gpu.purchase_usd or 0)
            self.hourly.setValue(gpu.hourly_usd or 0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, object]:
        return {"name": self.name.text().strip(), "memory_gib": self.memory.value(),
                "bandwidth_gbps": self.bandwidth.value(), "fp16_tflops": self.fp16.value(),
                "purchase_usd": self.price.value() or None, "hourly_usd": self.hourly.value() or None}


def custom_gpu(name: str, memory_gib: float, bandwidth_gbps: float, fp16_tflops: float,
               purchase_usd: float | None = None, hourly_usd: float | None = None, gid: str | None = None) -> GPU:
    """The catalog entry for a GPU of the user's own, from the dialog's values (fp32 taken as half the fp16 rate)."""
    gid = gid or "custom-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu")
    return GPU(id=gid, name=name or gid, vendor="custom", memory_bytes=int(memory_gib * 2**30),
               bandwidth_bytes_per_s=bandwidth_gbps * 1e9, fp32_flops=fp16_tflops * 1e12 / 2,
               fp16_flops=fp16_tflops * 1e12, bf16_flops=fp16_tflops * 1e12, fp8_flops=0.0, int8_ops=0.0,
               tdp_w=0.0, purchase_usd=purchase_usd, hourly_usd=hourly_usd, unified_memory=False,
               source="added in QuantPlanner", date=date.today().isoformat(), custom=True)
