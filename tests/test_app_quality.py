"""The app's quality views (offscreen): the Memory tab's quality column with its source, the Best tab ranking the
planned model's family on the first chosen GPU, the precision list explaining each format."""
from __future__ import annotations


import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.tabs.best import BestModel  # noqa: E402
from app.tabs.quality_cell import QUALITY_HEADER, QualityColumn  # noqa: E402
from quantcore.formats.describe import explain_precision  # noqa: E402
from quantcore.planner import best, quality  # noqa: E402


def test_memory_table_has_a_quality_column_with_the_source(window: MainWindow) -> None:
    view_model = window.memory_tab.view.model()
    assert isinstance(view_model, QualityColumn)
    col = view_model.columnCount() - 1
    assert view_model.headerData(col, Qt.Orientation.Horizontal) == QUALITY_HEADER
    assert view_model.columnCount() == window.memory_tab.model.columnCount() + 1  # the memory table is unchanged
    plan = window.controller.plan
    for i, row in enumerate(plan.rows):
        expected = quality.row_quality(plan.inventory, row.precision)
        assert view_model.index(i, col).data() == expected.cell()
        tip = view_model.index(i, col).data(Qt.ItemDataRole.ToolTipRole)
        assert expected.source in tip and expected.kind in tip
        assert view_model.index(i, 0).data() == row.precision.id  # the other columns pass through
    q4 = next(i for i, r in enumerate(plan.rows) if r.precision.id == "q4_k_m")
    assert "llama.cpp" in view_model.index(q4, col).data(Qt.ItemDataRole.ToolTipRole)


def test_lab_results_become_the_measured_evidence(window: MainWindow) -> None:
    view_model = window.memory_tab.view.model()
    plan = window.controller.plan
    nf4 = next(i for i, r in enumerate(plan.rows) if r.precision.id == "nf4")
    col = view_model.columnCount() - 1
    view_model.set_lab({"device": "cpu", "errors": [{"tensor": "model.layers.0.mlp.down_proj.weight",
                                                     "precision": "nf4", "sqnr_db": 20.5}]})
    assert view_model.index(nf4, col).data() == "20.5 dB"
    assert "measured by the quantization lab" in view_model.index(nf4, col).data(Qt.ItemDataRole.ToolTipRole)
    view_model.set_lab(None)
    assert view_model.index(nf4, col).data() != "20.5 dB"


def test_best_tab_ranks_the_family_on_the_chosen_gpu(qtbot, window: MainWindow) -> None:
    window.tabs.setCurrentWidget(window.best_tab)
    qtbot.waitUntil(lambda: window.best_tab.model.rowCount() > 0, timeout=10000)
    tab, plan = window.best_tab, window.controller.plan
    gpu = plan.rows[0].gpu_list[window.controller.selected[0]]
    assert gpu.id == "rtx-4090" and plan.inventory.id == "meta-llama/Llama-3.1-8B"
    assert "Best on one NVIDIA GeForce RTX 4090" in tab.why.text() and "Llama-3.1-70B" in tab.why.text()
    rows = [(tab.model.index(i, 1).data(), tab.model.index(i, 2).data()) for i in range(tab.model.rowCount())]
    assert rows[0] == ("meta-llama/Llama-3.1-8B", "bf16")  # a 24 GB card holds no 70B at 4 bits
    assert all(model == "meta-llama/Llama-3.1-8B" for model, _ in rows)
    tiers = [tab.model.pairs[i].tier for i in range(tab.model.rowCount())]
    assert tiers == sorted(tiers, reverse=True)
    assert "scaling" in tab.model.index(0, 6).data(Qt.ItemDataRole.ToolTipRole)
    assert "Published" in tab.model.index(1, 7).data(Qt.ItemDataRole.ToolTipRole)


def test_best_model_passes_qtmodeltester(qtmodeltester, window: MainWindow) -> None:
    plan = window.controller.plan
    model = BestModel()
    model.set_pairs(plan, best.rank(best.pairs(plan, window.controller.selected[0])),
                    {plan.inventory.id: plan.inventory}, "GiB")
    qtmodeltester.check(model)


def test_quality_column_passes_qtmodeltester(qtmodeltester, window: MainWindow) -> None:
    qtmodeltester.check(window.memory_tab.view.model())


def test_precision_list_explains_each_format(window: MainWindow) -> None:
    panel = window.precision_panel
    for i in range(panel.list.count()):
        item = panel.list.item(i)
        pid = item.data(Qt.ItemDataRole.UserRole)
        assert item.toolTip() == "\n".join(explain_precision(pid))
