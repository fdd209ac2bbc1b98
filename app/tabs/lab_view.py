"""The Lab tab's views: the test-run results table, bar charts by precision, and the sensitivity heatmap."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from app.panels.common import plain_tip
from app.tabs.common import Index, ListModel
from app.tabs.labkit import heat_colour
from quantcore.units import format_bytes


class ResultsModel(ListModel):
    """One row per precision of every test-run so far (newest run first)."""

    headers = ["precision", "predicted B", "measured B", "match", "latency ms", "vs original", "peak memory",
               "output error", "SQNR dB", "kernel", "layer", "device", "model"]
    PREDICTED, MEASURED, MATCH, KERNEL = 1, 2, 3, 9

    def set_runs(self, runs: list[Any]) -> None:
        self.set_rows([(run, r) for run in reversed(runs) for r in run.results])  # (TestRun, RunResult)

    def values(self, row: int) -> list[Any]:
        run, r = self.rows[row]
        return [r.precision, r.predicted_bytes, r.measured_bytes, r.measured_bytes == r.predicted_bytes,
                r.latency_ms, r.latency_ms / run.baseline_latency_ms if run.baseline_latency_ms else None,
                r.peak_bytes, r.output_error, r.output_sqnr_db, r.kernel, run.block.name, run.device.device,
                Path(run.model).name]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = index.column()
        v = self.values(index.row())[col]
        if role == Qt.ItemDataRole.UserRole:
            return v
        if role == Qt.ItemDataRole.DisplayRole:
            if col in (1, 2):
                return f"{v:,}"
            if col == 3:
                return "equal" if v else "DIFFERS"
            if col == 4:
                return f"{v:.3f}"
            if col == 5:
                return "-" if v is None else f"{v:.2f}x"
            if col == 6:
                return format_bytes(v, "MiB")
            if col == 7:
                return f"{v:.4g}"
            if col == 8:
                return "exact" if math.isinf(v) else f"{v:.2f}"
            return str(v)
        if role == Qt.ItemDataRole.BackgroundRole and col == 3:
            return heat_colour(0.0 if v else 1.0, 1.0)
        if role == Qt.ItemDataRole.ToolTipRole:
            run, r = self.rows[index.row()]
            return (f"{run.block.describe()} on {run.device.label()}; input {run.batch} x {run.tokens} tokens, "
                    f"{run.calibration}; {r.runs} timed runs after warm-up.\npredicted: the catalog's bytes for "
                    "these weights in this precision; measured: the bytes of the storages the quantized layer holds "
                    "on the device." + (f"\n{r.note}" if r.note else ""))
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= col <= 8:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class BarChart(pg.PlotWidget):
    """Horizontal bars, one per label (labels down the left axis, so long precision ids never overlap); created
    once, updated with setOpts."""

    def __init__(self, title: str, colour: str) -> None:
        super().__init__(title=title)
        self.setMenuEnabled(False)
        self.getPlotItem().invertY(True)
        self.getAxis("left").setWidth(72)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7, brush=colour, pen=pg.mkPen(None))
        self.addItem(self.bars)
        self.labels: list[str] = []
        self.heights: list[float] = []

    def set_bars(self, labels: list[str], values: list[float]) -> None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        cap = max(finite, default=1.0) * 1.1 or 1.0
        heights = [cap if v is None or not math.isfinite(v) else v for v in values]  # exact (inf dB): drawn at cap
        self.labels, self.heights = list(labels), heights
        n = len(heights)
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n, dtype=float), width=np.asarray(heights, dtype=float),
                          height=0.7)
        self.getAxis("left").setTicks([[(float(i), s) for i, s in enumerate(labels)]])
        self.setYRange(-0.6, max(n - 0.4, 0.5), padding=0)
        self.setXRange(min(0.0, min(heights, default=0.0)), max(heights, default=1.0) * 1.05 or 1.0, padding=0)


def short_layer(name: str) -> str:
    """'encoder.layer.3.attention.self.query.weight' -> '3 attention.self.query' (the layer number, then the rest)."""
    m = re.match(r"^.*?\.(\d+)\.(.*)$", name.removesuffix(".weight"))
    return f"{m.group(1)} {m.group(2)}" if m else name.removesuffix(".weight")


class SensitivityModel(QAbstractTableModel):
    """Layers down, precisions across; each cell the relative output error, coloured white to dark red."""

    def __init__(self) -> None:
        super().__init__()
        self.s: Any = None
        self.vmax = 1.0
        self.kept: set[str] = set()

    def set_data(self, s: Any, kept: tuple[str, ...] = ()) -> None:
        """kept: layers the suggestion keeps at 8-bit (marked * in the row headers)."""
        self.beginResetModel()
        self.s, self.kept = s, set(kept)
        finite = [v for row in (s.values if s else ()) for v in row if v is not None and math.isfinite(v)]
        self.vmax = max(finite, default=1.0)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.s is None else len(self.s.layers)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.s is None else len(self.s.precisions)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or self.s is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.s.precisions[section]
        name = self.s.layers[section]
        return ("* " if name in self.kept else "") + short_layer(name)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.s is None:
            return None
        v = self.s.values[index.row()][index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return v
        if role == Qt.ItemDataRole.DisplayRole:
            return "-" if v is None else f"{v:.3g}"
        if role == Qt.ItemDataRole.BackgroundRole:
            return heat_colour(v, self.vmax)
        if role == Qt.ItemDataRole.ForegroundRole:
            return pg.mkColor("w" if v is not None and v > 0.6 * self.vmax else "k")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(f"{self.s.layers[index.row()]} at {self.s.precisions[index.column()]}: relative output "
                             f"error {'-' if v is None else f'{v:.4g}'}")  # layer names from the model's files
        return None
