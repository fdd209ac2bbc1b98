"""The Best tab: which model of this family, at which precision, is best for the first chosen GPU, and why
(model x precision pairs that fit, ranked by expected quality on the k-bit scaling curve: planner/best.py)."""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.tabs.common import Index, PlanModel, make_table
from quantcore.errors import QuantPlannerError, one_line
from quantcore.model.inventory import Inventory
from quantcore.planner import best, quality
from quantcore.planner.plan import Plan, make_plan


class BestModel(PlanModel):
    """Rows: model x precision pairs that fit, best first. Tooltips: the evidence behind each quality figure."""

    headers = ["#", "model", "precision", "bits/w", "memory", "expected ppl", "16-bit equiv.", "quality evidence"]

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[best.Pair] = []
        self.inventories: dict[str, Inventory] = {}

    def set_pairs(self, plan: Plan | None, pairs: list[best.Pair], inventories: dict[str, Inventory],
                  unit: str) -> None:
        self.beginResetModel()
        self.plan, self.pairs, self.inventories, self.unit = plan, pairs, inventories, unit
        self._quality: dict[int, quality.Quality] = {}
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.pairs)

    def _evidence(self, i: int) -> quality.Quality | None:
        if i not in self._quality:
            p = self.pairs[i]
            inv = self.inventories.get(p.model)
            self._quality[i] = quality.row_quality(inv, p.precision) if inv is not None else None
        return self._quality[i]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.pairs):
            return None
        p, col = self.pairs[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            raw = role == Qt.ItemDataRole.UserRole
            if col == 7:
                q = self._evidence(index.row())
                return None if q is None else (q.value if raw else f"{q.cell().removesuffix(' est.')} ({q.kind})")
            values = [index.row() + 1, p.model, p.precision, p.bits_per_weight, p.total_bytes, p.ppl_increase_pct,
                      p.equivalent_parameters]
            if raw:
                return values[col]
            return [str(index.row() + 1), p.model, p.precision, f"{p.bits_per_weight:.2f}", self.size(p.total_bytes),
                    f"{p.ppl_increase_pct:+.2f}%", f"{p.equivalent_parameters / 1e9:.3g}B"][col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (5, 6):
                return quality.curve(p.model).basis()
            if col == 7:
                q = self._evidence(index.row())
                return None if q is None else q.source
            if col == 0:
                return ("4 bits or more first, then by 16-bit-equivalent size; sub-4-bit pairs only lead when nothing "
                        "else fits (k-bit scaling laws)")
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 3, 4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class BestTab(QWidget):
    """The family of the planned model on the first chosen GPU: the winner in one sentence, then every pair."""

    title = "Best"
    plots: tuple = ()

    def __init__(self) -> None:
        super().__init__()
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = BestModel()
        self.view = make_table(self.model)
        lay = QVBoxLayout(self)
        lay.addWidget(self.why)
        lay.addWidget(self.view, 1)
        self._inventories: dict[str, Inventory] = {}  # bundled siblings, loaded once

    def _sibling(self, model_id: str) -> Inventory | None:
        if model_id not in self._inventories:
            from quantcore.sources.source import load_model

            try:
                self._inventories[model_id] = load_model(model_id, use_hub=False)
            except QuantPlannerError:
                return None
        return self._inventories[model_id]

    def update_plan(self, plan: Plan, selected: tuple[int, ...], unit: str) -> None:
        gpus = plan.rows[0].gpu_list if plan.rows else ()
        if not selected or not gpus:
            self.why.setText("Tick a GPU on the left to rank this model's family on it.")
            self.model.set_pairs(plan, [], {}, unit)
            return
        gpu = gpus[selected[0]]
        inventories = {plan.inventory.id: plan.inventory}
        plans = [make_plan(plan.inventory, plan.workload, None, (gpu,))]
        for mid in best.family_models(plan.inventory.id):
            if mid.lower() == plan.inventory.id.lower():
                continue
            inv = self._sibling(mid)
            if inv is not None:
                inventories[inv.id] = inv
                plans.append(make_plan(inv, plan.workload, None, (gpu,)))
        ranked = best.distinct(best.rank([p for pl in plans for p in best.pairs(pl, 0)]))
        names = ", ".join(sorted(m.split("/")[-1] for m in inventories))
        # GPU and model names come from files and the Hub: escaped, shown as text inside the rich-text label
        gpu_name, models, reason = (html.escape(one_line(t), quote=False) for t in (gpu.name, names, best.why(ranked)))
        self.why.setText(f"<b>Best on one {gpu_name}</b> among {models} (same workload): {reason}")
        self.model.set_pairs(plan, ranked, inventories, unit)
        self.view.resizeColumnsToContents()
