"""What the result tabs share: the base table model over a Plan, fit colours, GPU names, table views, plot items."""
from __future__ import annotations

from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyleOptionViewItem, QTableView

from app.panels.common import plain_tip
from quantcore.planner.estimate import ENGINE_NAMES
from quantcore.planner.options import GpuOption
from quantcore.planner.plan import Plan
from quantcore.units import format_in, unit_for

Index = QModelIndex | QPersistentModelIndex
GPU_COLOURS = ("#d62728", "#9467bd", "#17becf", "#bcbd22", "#8c564b", "#e377c2")
UNITS = {"GiB": 2**30, "GB": 10**9}
FIT = QColor(46, 160, 67, 90)
TIGHT = QColor(210, 153, 34, 110)
NOFIT = QColor(218, 54, 51, 90)


def short_gpu_name(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX 4090': column headers and plot labels have little room."""
    words = name.split()
    while len(words) > 1 and words[0] in ("NVIDIA", "GeForce", "AMD", "Instinct", "Apple", "Radeon"):
        words = words[1:]
    return " ".join(words)


def count_text(count: int | None) -> str:
    return "> 64" if count is None else str(count)


def count_colour(count: int | None) -> QColor:
    return FIT if count == 1 else NOFIT if count is None or count > 8 else TIGHT


def placement_colour(option: GpuOption) -> QColor:
    """Green on one GPU, amber on a few GPUs or with layers in host RAM, red when too large (or > 8 GPUs)."""
    if option.placement.kind == "offload":
        return TIGHT
    return count_colour(option.count)


def placement_tip(option: GpuOption, size: Callable[[int], str]) -> str:
    """The placement badge explained: where the model sits, the fullest GPU's share, host RAM, the alternative."""
    place, gpu = option.placement, option.gpu
    engine = ENGINE_NAMES.get(option.engine, option.engine)
    lines = [f"{option.badge} on {gpu.name} ({engine})."]
    if place.per_gpu is not None:
        each = "it holds" if place.gpus == 1 else "the fullest GPU holds"
        lines.append(f"{each[0].upper() + each[1:]} {size(place.per_gpu.total)} of {size(gpu.usable_bytes)} usable.")
    if place.kind == "offload":
        lines.append(f"{place.gpu_layers} of {place.total_layers} layers on the GPU (llama.cpp -ngl "
                     f"{place.gpu_layers}); {size(place.host_bytes)} of weights and KV cache stay in system RAM.")
        alt = option.multi_gpu
        if alt.gpus is not None:
            lines.append(f"Without offloading: {alt.badge}.")
    elif place.kind == "tensor_parallel":
        heads = option.inventory.arch.num_heads
        lines.append(f"Tensor parallel over {place.gpus} GPUs (a degree that divides the {heads} attention heads; "
                     f"vLLM --tensor-parallel-size {place.gpus}).")
    elif place.kind == "pipeline":
        lines.append(f"Layers split over {place.gpus} GPUs (llama.cpp --split-mode layer, vLLM "
                     f"--pipeline-parallel-size {place.gpus}, accelerate device_map).")
    elif place.kind == "too_large":
        lines.append("Does not fit on up to 64 of these GPUs, or in host RAM, with this workload.")
    if option.decode_tokens_per_s is not None:
        lines.append(f"Decode about {option.decode_tokens_per_s:,.1f} tokens/s, prefill about "
                     f"{option.prefill_tokens_per_s:,.0f} tokens/s ({option.speed_basis}).")
    return plain_tip("\n".join(lines), keep_lines=True)  # GPU names from the user's GPUs file: never markup


class HeaderedModel(QAbstractTableModel):
    """A table whose columns are `headers`; rows numbered down the side when `numbered`."""

    headers: list[str] = []
    numbered = False

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        return section + 1 if self.numbered else None


class ListModel(HeaderedModel):
    """A table over a list of row objects (`rows`), replaced whole by set_rows."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)


class PlanModel(HeaderedModel):
    numbered = True

    def __init__(self) -> None:
        super().__init__()
        self.plan: Plan | None = None
        self.selected: tuple[int, ...] = ()
        self.unit = "GiB"

    def set_plan(self, plan: Plan | None, selected: tuple[int, ...] = (), unit: str = "GiB") -> None:
        self.beginResetModel()
        self.plan, self.selected, self.unit = plan, tuple(selected), unit
        # one unit for the table, from its largest figure: MiB for a small model, GiB (or GB) otherwise
        biggest = max((r.memory.total for r in plan.rows), default=0) if plan is not None else 0
        self.table_unit = unit_for(biggest, unit)[0] if biggest else unit
        self._rebuild()
        self.endResetModel()

    def _rebuild(self) -> None:
        """Derive per-row view data after a new plan arrives (no memory arithmetic)."""

    def size(self, n: int | None) -> str:
        """Bytes in the table's unit (the chosen one, or MiB/MB for a small model), never '0.00 GiB'."""
        return "-" if not n else format_in(n, getattr(self, "table_unit", self.unit))




def make_table(model: QAbstractTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setAlternatingRowColors(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(False)
    view.horizontalHeader().setResizeContentsPrecision(-1)  # every row: a cell scrolled to later is never elided
    return view


def needed_width(view: QTableView, column: int) -> int:
    """The width at which no cell of the column (nor its header) is elided."""
    return max(view.sizeHintForColumn(column), view.horizontalHeader().sectionSizeHint(column))


def text_width(view: QTableView, column: int, margin: int) -> int:
    """needed_width from the cells' display text alone (one data() call per cell instead of the delegate's
    several roles): the widest text plus the delegate's margin, measured once per view."""
    model, metrics = view.model(), view.fontMetrics()
    widest = max((metrics.horizontalAdvance(str(model.data(model.index(r, column)) or ""))
                  for r in range(model.rowCount())), default=0)
    return max(widest + margin, view.horizontalHeader().sectionSizeHint(column))


def cell_margin(view: QTableView) -> int:
    """What the item delegate adds around a cell's text (padding, focus frame), from the first cell."""
    model = view.model()
    if model.rowCount() == 0 or model.columnCount() == 0:
        return 12
    index = model.index(0, 0)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    hint = view.itemDelegateForIndex(index).sizeHint(option, index).width()
    return max(8, hint - view.fontMetrics().horizontalAdvance(str(index.data() or ""))) + 2


class ColumnFitter:
    """Keeps every cell readable: a new model (or new columns) sizes the columns to their contents, and any other
    redraw widens the columns whose text grew (a larger batch, GB instead of GiB), never narrowing one the user
    widened."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, list[str]]] = {}
        self._margin: dict[int, int] = {}

    def fit(self, view: QTableView, plan: Plan) -> None:
        model = view.model()
        headers = [str(model.headerData(i, Qt.Orientation.Horizontal)) for i in range(model.columnCount())]
        key = (id(plan.inventory), headers)
        if self._seen.get(id(view)) != key:
            view.resizeColumnsToContents()
            self._margin[id(view)] = cell_margin(view)
        else:
            margin = self._margin.get(id(view)) or cell_margin(view)
            for col in range(model.columnCount()):
                need = text_width(view, col, margin)
                if view.columnWidth(col) < need:
                    view.setColumnWidth(col, need)
        self._seen[id(view)] = key


def gpu_line(plot: pg.PlotWidget, index: int, angle: int, position: float) -> pg.InfiniteLine:
    """A dashed capacity line for the index-th chosen GPU, labelled at `position` along it (added to plot)."""
    colour = GPU_COLOURS[index % len(GPU_COLOURS)]
    line = pg.InfiniteLine(angle=angle, movable=False, pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine),
                           label="", labelOpts={"position": position, "color": colour, "anchors": [(0, 1), (0, 1)]})
    plot.addItem(line)
    return line


def legend(plot: pg.PlotWidget) -> pg.LegendItem:
    """A legend in a band above the plot area (app.plot_legend): it never covers bars or curves."""
    from app.plot_legend import BandLegend

    return BandLegend(plot)
