"""The workload panel's training inputs (recipe, recompute auto, dataset) drive the plan the app shows."""
from __future__ import annotations


import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.tabs.memory import COMPONENTS, FIRST_COMPONENT  # noqa: E402


def _cell(window: MainWindow, pid: str, component: str) -> int:
    m = window.memory_tab.model
    row = next(i for i in range(m.rowCount()) if m.index(i, 0).data() == pid)
    return m.index(row, FIRST_COMPONENT + COMPONENTS.index(component)).data(Qt.ItemDataRole.UserRole)


def _change(qtbot, window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.plan_ready, timeout=5000):
        action()


def test_recipe_combo_sets_what_a_full_fine_tune_keeps(qtbot, window: MainWindow) -> None:
    panel = window.workload_panel
    _change(qtbot, window, lambda: panel.mode.setCurrentIndex(panel.mode.findData("full")))
    assert panel.recipe.isEnabled() and panel.recipe.currentData() == "bf16-mixed"
    n = window.controller.inventory.parameters
    assert _cell(window, "bf16", "optimizer") == 12 * n  # fp32 master + moments
    ids = [window.memory_tab.model.index(i, 0).data() for i in range(window.memory_tab.model.rowCount())]
    assert "fp32" not in ids  # fp32 training only on request
    _change(qtbot, window, lambda: panel.recipe.setCurrentIndex(panel.recipe.findData("bf16-pure")))
    assert window.controller.plan.workload.recipe == "bf16-pure"
    assert _cell(window, "bf16", "optimizer") == 4 * n and _cell(window, "bf16", "gradients") == 2 * n


def test_lora_defaults_to_checkpointing_and_dataset_sets_training_time(qtbot, window: MainWindow) -> None:
    panel = window.workload_panel
    _change(qtbot, window, lambda: panel.mode.setCurrentIndex(panel.mode.findData("lora")))
    w = window.controller.plan.workload
    assert panel.recompute.currentData() == "auto" and w.effective_recompute == "full"
    assert not panel.recipe.isEnabled() and panel.dataset_tokens.isEnabled()
    _change(qtbot, window, lambda: panel.dataset_tokens.setValue(250))
    assert window.controller.plan.workload.dataset_tokens == 250_000_000
