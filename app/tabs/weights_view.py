"""The Weights tab's pictures: the histogram with levels and percentiles, its statistics, and the error view
(table of MSE / SQNR / relative error / cosine per precision, error histogram, original-vs-dequantized scatter,
per-block error strip)."""
from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from app.tabs.common import Index, ListModel, make_table
from app.tabs.labkit import level_lines, step_item
from quantcore.errors import one_line
from quantcore.units import format_bytes

PERCENTILE_LINES = ("p1", "p50", "p99")


class HistogramView(QWidget):
    """The selection's histogram (linear or log counts), the precision's levels as red lines, percentiles dashed,
    and the values of one chosen block as ticks; statistics in a label beside."""

    def __init__(self) -> None:
        super().__init__()
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "weight value")
        self.plot.setLabel("left", "count")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars = step_item("#4c78a8")
        self.levels = level_lines()
        self.block = pg.ScatterPlotItem(size=7, symbol="t1", brush=pg.mkBrush("#f58518"), pen=pg.mkPen(None))
        for item in (self.bars, self.levels, self.block):
            self.plot.addItem(item)
        self.percentile_lines = {}
        for name in PERCENTILE_LINES:
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine),
                                   label=name, labelOpts={"position": 0.92, "color": "#888888"})
            self.plot.addItem(line)
            self.percentile_lines[name] = line
        self.stats = QLabel("Select a tensor, a layer, a role or the whole model.")
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setMinimumWidth(200)
        self.stats.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(self.stats)
        split.setStretchFactor(0, 3)
        split.setSizes([700, 250])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.log = False
        self.histogram: Any = None
        self.level_values: tuple[float, ...] = ()

    def show_histogram(self, h: Any, levels: tuple[float, ...], levels_note: str, outliers: dict[str, Any],
                       block_values: Any = None, log: bool = False) -> None:
        self.histogram, self.level_values, self.log = h, tuple(levels), log
        edges = np.asarray(h.edges, dtype=float)
        counts = np.asarray(h.counts, dtype=float)
        shown = np.log10(np.maximum(counts, 1.0)) if log else counts
        self.bars.setData(edges, shown)
        top = float(shown.max()) if len(shown) else 1.0
        lv = np.asarray([v for v in levels if edges[0] <= v <= edges[-1]], dtype=float)
        self.levels.setData(np.repeat(lv, 2), np.tile([0.0, top * 1.04], len(lv)))
        if block_values is not None and len(block_values):
            bv = np.asarray(block_values, dtype=float)
            self.block.setData(bv, np.full(len(bv), top * 0.03))
        else:
            self.block.setData([], [])
        for name, line in self.percentile_lines.items():
            value = h.percentiles.get(name)
            line.setVisible(value is not None)
            if value is not None:
                line.setPos(value)
        self.plot.setLabel("left", "log10(count)" if log else "count")
        self.plot.setXRange(edges[0], edges[-1], padding=0.02)
        self.plot.setYRange(0, top * 1.08, padding=0)
        self.stats.setText(stats_text(h, levels, levels_note, outliers))


def stats_text(h: Any, levels: tuple[float, ...], note: str, outliers: dict[str, Any]) -> str:
    what = _esc(h.tensors[0]) if len(h.tensors) == 1 else f"{len(h.tensors)} tensors"  # names from the file
    zoom = h.extra.get("outside")
    lines = [f"<b>{what}</b>", f"{h.total:,} values; min {h.minimum:.4g}, max {h.maximum:.4g}"
             + (f"<br>drawn: {h.extra['range']} ({zoom:,} values outside)" if zoom is not None else ""),
             f"mean {h.mean:.4g}, std {h.std:.4g}", "<b>percentiles</b>"]
    pct = list(h.percentiles.items())
    lines += ["  ".join(f"{k} {v:.3g}" for k, v in pct[i:i + 3]) for i in range(0, len(pct), 3)]
    if outliers:
        several = len(h.tensors) > 1
        lines += ["<b>outliers</b>",
                  f"excess kurtosis {outliers['kurtosis_max']:.3g}" + (f" (largest: {_esc(outliers['kurtosis_tensor'])})"
                                                                       if several else ""),
                  f"beyond 6 sigma {outliers['beyond_6_sigma']:.3%}" + (" (largest)" if several else "")
                  + f"; max |x| {outliers['absmax']:.4g}",
                  f"LLM.int8() outlier columns (|x| >= 6): {outliers['outlier_columns']:,}"]
        if outliers.get("skipped"):
            lines.append(f"({outliers['skipped']} tensor(s) too large for outlier statistics)")
    lines += ["<b>levels</b>", f"{len(levels)} levels; {_esc(note)}" if levels else (_esc(note) or "no precision chosen")]
    return "<br>".join(lines)


def _esc(text: object) -> str:
    """Text from model files (tensor names) inside this rich-text label: one line, HTML-escaped."""
    return html.escape(one_line(text, 300), quote=False)


class ErrorTableModel(ListModel):
    """One row per precision's TensorError."""

    headers = ["precision", "stored bytes", "SQNR (dB)", "relative error", "MSE", "cosine", "max |error|"]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        m = e.metrics
        values = [e.precision, e.nbytes, m.sqnr_db, m.rel_frobenius, m.mse, m.cosine, m.max_abs_error]
        col = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return values[col]
        if role == Qt.ItemDataRole.DisplayRole:
            v = values[col]
            if col == 0:
                return v
            if col == 1:
                return format_bytes(v, "MiB") if v >= 2**20 else f"{v:,} B"
            if isinstance(v, float) and math.isinf(v):
                return "exact"
            return f"{v:.2f}" if col == 2 else f"{v:.6f}" if col == 5 else f"{v:.4g}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{e.precision}: blocks of {e.block} values; SQNR = 10 log10(||W||^2 / ||W - Q||^2), relative "
                    "error = ||W - Q|| / ||W||, cosine of W and Q")
        return None


class ErrorView(QWidget):
    """The table (sorted by SQNR, best first); for the chosen row: error histogram, scatter, per-block strip."""

    def __init__(self) -> None:
        super().__init__()
        self.model = ErrorTableModel()
        self.view = make_table(self.model)
        self.view.setSelectionBehavior(self.view.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(self.view.SelectionMode.SingleSelection)
        self.title = QLabel("Errors: choose precisions and press Compute errors.")
        self.title.setWordWrap(True)
        self.controls = QHBoxLayout()
        self.controls.addWidget(self.title, 1)
        self.err_plot = pg.PlotWidget(title="error (dequantized - original)")
        self.err_bars = step_item("#e45756")
        self.err_plot.addItem(self.err_bars)
        self.scatter_plot = pg.PlotWidget(title="original vs dequantized")
        self.scatter_plot.setLabel("bottom", "original")
        self.scatter_plot.setLabel("left", "dequantized")
        self.scatter = pg.ScatterPlotItem(size=3, brush=pg.mkBrush(76, 120, 168, 140), pen=pg.mkPen(None))
        self.diagonal = pg.PlotDataItem([], [], pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.scatter_plot.addItem(self.diagonal)
        self.scatter_plot.addItem(self.scatter)
        self.strip_plot = pg.PlotWidget(title="relative error per block")
        self.strip = pg.ImageItem(axisOrder="row-major")
        self.strip.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256))
        self.strip_plot.addItem(self.strip)
        self.strip_plot.invertY(True)
        self.plots = (self.err_plot, self.scatter_plot, self.strip_plot)
        for p in self.plots:
            p.setMenuEnabled(False)
            p.getAxis("bottom").enableAutoSIPrefix(False)
            p.getAxis("left").enableAutoSIPrefix(False)
        plots = QSplitter(Qt.Orientation.Horizontal)
        for p in self.plots:
            plots.addWidget(p)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(self.controls)
        tl.addWidget(self.view)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(plots)
        split.setSizes([150, 230])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.view.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_row(cur.row()))

    def show_errors(self, tensor: str, errors: list[Any], failed: list[tuple[str, str]]) -> None:
        self.model.set_rows(errors)
        self.view.resizeColumnsToContents()
        text = f"Errors of <b>{_esc(tensor)}</b> per precision, best first."
        if failed:
            text += " Not applicable: " + _esc("; ".join(why for _, why in failed))
        self.title.setText(text)
        if errors:
            self.view.selectRow(0)
            self.show_row(0)

    def show_row(self, row: int) -> None:
        if not 0 <= row < len(self.model.rows):
            return
        e = self.model.rows[row]
        h = e.error_histogram
        self.err_bars.setData(np.asarray(h.edges, dtype=float), np.asarray(h.counts, dtype=float))
        self.err_plot.setTitle(f"{e.precision}: dequantized - original", size="9pt")
        orig, deq = (np.asarray(a, dtype=float) for a in e.sample)
        self.scatter.setData(orig, deq)
        lo, hi = float(min(orig.min(), deq.min())), float(max(orig.max(), deq.max()))
        self.diagonal.setData([lo, hi], [lo, hi])
        self.scatter_plot.setTitle(f"{e.precision}: dequantized vs original", size="9pt")
        strip = np.asarray(e.strip, dtype=float)
        top = float(strip.max()) if strip.size else 1.0
        self.strip.setImage(strip, levels=(0.0, top or 1.0), autoLevels=False)
        self.strip_plot.setTitle(f"{e.precision}: error per block of {e.block}", size="9pt")
        self.strip_plot.setToolTip(f"relative error ||w - q|| / ||w|| of each block of {e.block} values (rows "
                                   f"down, pooled by max; blocks across); dark 0, bright {top:.3g}")
        self.strip_plot.autoRange()
