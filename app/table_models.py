"""QAbstractTableModels over a quantcore Plan: memory per precision, fit heatmap, limits, cost."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from quantcore.planner.explain import explain
from quantcore.planner.plan import Plan
from quantcore.units import format_bytes

Index = QModelIndex | QPersistentModelIndex
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


class _PlanModel(QAbstractTableModel):
    headers: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.plan: Plan | None = None
        self.selected: tuple[int, ...] = ()
        self.unit = "GiB"

    def set_plan(self, plan: Plan | None, selected: tuple[int, ...] = (), unit: str = "GiB") -> None:
        self.beginResetModel()
        self.plan, self.selected, self.unit = plan, tuple(selected), unit
        self._rebuild()
        self.endResetModel()

    def _rebuild(self) -> None:
        """Derive per-row view data after a new plan arrives (no memory arithmetic)."""

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            if 0 <= section < len(self.headers):
                return self.headers[section]
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Vertical:
            return section + 1
        return None

    def size(self, n: int | None) -> str:
        return "-" if not n else format_bytes(n, self.unit)


class MemoryTableModel(_PlanModel):
    """Rows: precisions. Columns: bits per weight, each memory line, then GPUs needed on each chosen GPU."""

    def _explained(self, pid: str) -> dict[str, str]:
        """The engine's formula for each line of this row, worked out the first time a tooltip asks."""
        if pid not in self._explanations and self.plan is not None:
            self._explanations[pid] = explain(self.plan.inventory, pid, self.plan.workload)
        return self._explanations.get(pid, {})

    def _rebuild(self) -> None:
        self._explanations: dict[str, dict[str, str]] = {}
        gpus = [short_gpu_name(self.plan.rows[0].gpu_list[i].name) for i in self.selected] \
            if self.plan and self.plan.rows else []
        self.headers = ["precision", "bits/w"] + [c.replace("_", " ") for c in COMPONENTS] + gpus

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.plan is None else len(self.plan.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.plan is None:
            return None
        row, col = self.plan.rows[index.row()], index.column()
        ncomp = len(COMPONENTS)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            raw = role == Qt.ItemDataRole.UserRole
            if col == 0:
                return row.precision.id
            if col == 1:
                return row.bits_per_weight if raw else f"{row.bits_per_weight:.2f}"
            if col < 2 + ncomp:
                value = getattr(row.memory, COMPONENTS[col - 2])
                return value if raw else self.size(value)
            count = row.counts[self.selected[col - 2 - ncomp]]
            if raw:
                return count
            return "fits on 1" if count == 1 else f"needs {count_text(count)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                p = row.precision
                return f"{p.label}: {p.storage_bits:.4g} storage bits per quantized weight. Keeps: {p.keeps}. {p.source}"
            if col == 1:
                return "Bits per weight over the whole model, kept-in-16-bit tensors included."
            if col < 2 + ncomp:
                name = COMPONENTS[col - 2]
                detail = self._explained(row.precision.id).get(name)
                return COMPONENT_TIPS[name] + (f"\n\n{detail}" if detail else "")
            gi = self.selected[col - 2 - ncomp]
            g = row.gpu_list[gi]
            per = row.per_gpu[gi]
            share = f"; each holds {self.size(per.total)} of {self.size(g.usable_bytes)} usable" if per else ""
            return f"GPUs of {g.name} needed (a tensor-parallel degree that divides the heads){share}."
        if role == Qt.ItemDataRole.BackgroundRole and col >= 2 + ncomp:
            return count_colour(row.counts[self.selected[col - 2 - ncomp]])
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class FitHeatmapModel(_PlanModel):
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
        count = row.counts[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return count_text(count)
        if role == Qt.ItemDataRole.UserRole:
            return count
        if role == Qt.ItemDataRole.BackgroundRole:
            return count_colour(count)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            gpu = row.gpu_list[index.row()]
            return f"{row.precision.id} on {gpu.name}: {count_text(count)} GPU(s) needed"
        return None


class LimitsModel(_PlanModel):
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
            return count_colour(opt.count)
        if role == Qt.ItemDataRole.ToolTipRole and col in (2, 3):
            return ("Largest context per sequence (at this batch) / largest batch (at this context) whose memory "
                    "fits on the GPUs needed, capped at the model's own context limit.")
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class CostModel(_PlanModel):
    """One row per (chosen GPU, precision): GPUs, purchase and hourly cost, speed, cost per million tokens."""

    headers = ["GPU", "precision", "GPUs", "purchase", "per hour", "break-even (days)", "decode tok/s",
               "prefill tok/s", "$ / M tokens"]

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
            return {5: "Days of round-the-clock rent that cost as much as buying the GPUs (power not included).",
                    6: "Roofline: a decode step reads the active weights and the batch's KV cache once; bandwidth "
                       "x efficiency bounds it (or compute, at large batch).",
                    7: "Roofline: 2 x active parameters FLOPs per prompt token at the GPU's dense rate x efficiency.",
                    8: "Hourly rent of the GPUs needed / generated tokens per hour at the decode rate."}.get(col)
        if role == Qt.ItemDataRole.BackgroundRole and col == 2:
            return count_colour(opt.count)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
