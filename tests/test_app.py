"""The desktop app driven through its real widgets (pytest-qt, offscreen): numbers on screen are the engine's."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.tabs.cost import CostModel  # noqa: E402
from app.tabs.fit import FitHeatmapModel, LimitsModel  # noqa: E402
from app.tabs.memory import COMPONENTS, FIRST_COMPONENT, MemoryTableModel  # noqa: E402
from quantcore.planner import memory  # noqa: E402
from quantcore.planner.hardware import find_gpu, load_gpus  # noqa: E402


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, qsettings: QSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv("QUANTPLANNER_GPUS", str(tmp_path / "gpus.toml"))
    w = MainWindow(qsettings)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    return w


def _row(model: MemoryTableModel, pid: str) -> int:
    return next(i for i in range(model.rowCount()) if model.index(i, 0).data() == pid)


def _cell(model: MemoryTableModel, pid: str, component: str) -> int:
    return model.index(_row(model, pid), FIRST_COMPONENT + COMPONENTS.index(component)).data(Qt.ItemDataRole.UserRole)


def _change(qtbot, window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.plan_ready, timeout=5000):
        action()


def test_opens_on_default_model_with_plan(window: MainWindow) -> None:
    inv = window.controller.inventory
    assert inv is not None and inv.id == "meta-llama/Llama-3.1-8B"
    assert window.memory_tab.model.rowCount() == len(window.controller.plan.rows) == 23
    assert "8,030,261,248" in window.model_panel.facts.text()
    assert "Recommendation" in window.advice.text()


def test_batch_and_context_change_table_and_plots_to_engine_numbers(qtbot, window: MainWindow) -> None:
    inv = window.controller.inventory
    _change(qtbot, window, lambda: window.workload_panel.batch.setValue(8))
    _change(qtbot, window, lambda: window.workload_panel.context.setValue(16384))
    w = window.state.request.workload
    assert (w.batch, w.context) == (8, 16384)
    gpu = find_gpu("rtx-4090", window.controller.gpus)
    expected = memory.memory_breakdown(inv, "bf16", w, gpu.memory_bytes)
    assert _cell(window.memory_tab.model, "bf16", "kv_cache") == expected.kv_cache == \
        memory.kv_cache_bytes(inv.arch, 16384, 8, "fp16")
    assert _cell(window.memory_tab.model, "bf16", "total") == expected.total
    # the stacked bars show the same bytes (GiB) for the kv-cache series
    bars = window.memory_tab.bars.bars[1].opts
    row = _row(window.memory_tab.model, "bf16")
    assert bars["width"][row] == pytest.approx(expected.kv_cache / 2**30)
    # the memory-vs-context curve for bf16 at its last point equals the engine at the model's limit
    x, y = window.memory_tab.curves.curves["bf16"].getData()
    at_limit = memory.memory_breakdown(inv, "bf16", replace(w, context=int(x[-1])), None).total
    assert y[-1] == pytest.approx(at_limit / 2**30)
    # fp8 is planned with vLLM (engine auto), which keeps a share of the chosen card: the curve counts it too
    x, y = window.memory_tab.curves.curves["fp8"].getData()
    vllm = memory.memory_breakdown(inv, "fp8", replace(w, context=int(x[-1]), engine="vllm"), gpu.memory_bytes)
    assert y[-1] == pytest.approx(vllm.total / 2**30)


def test_kv_dtype_and_mode(qtbot, window: MainWindow) -> None:
    before = _cell(window.memory_tab.model, "q4_k_m", "kv_cache")
    panel = window.workload_panel
    _change(qtbot, window, lambda: panel.kv.setCurrentIndex(panel.kv.findData("fp8")))
    assert _cell(window.memory_tab.model, "q4_k_m", "kv_cache") * 2 == pytest.approx(before, rel=1e-6)
    _change(qtbot, window, lambda: panel.mode.setCurrentIndex(panel.mode.findData("qlora")))
    ids = [window.memory_tab.model.index(i, 0).data() for i in range(window.memory_tab.model.rowCount())]
    assert "nf4" in ids and "q4_k_m" not in ids
    assert panel.lora_rank.isEnabled() and panel.optimizer.isEnabled()
    assert _cell(window.memory_tab.model, "nf4", "optimizer") > 0


def test_gpu_selection_adds_columns_badges_and_lines(qtbot, window: MainWindow) -> None:
    panel = window.gpu_panel
    item = next(panel.list.item(i) for i in range(panel.list.count())
                if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == "t4")
    _change(qtbot, window, lambda: item.setCheckState(Qt.CheckState.Checked))
    assert window.state.request.gpus == ("rtx-4090", "t4")
    model = window.memory_tab.model
    assert model.headerData(model.columnCount() - 1, Qt.Orientation.Horizontal) == "T4"
    plan = window.controller.plan
    t4 = window.controller.selected[1]
    fp32 = _row(model, "fp32")
    cell = model.index(fp32, model.columnCount() - 1)
    option = plan.rows[fp32].gpus[t4]  # Llama-3.1-8B in fp32 (32 GB) on a 16 GB T4: some layers stay in host RAM
    assert cell.data(Qt.ItemDataRole.UserRole) == plan.rows[fp32].counts[t4] == option.count == 1
    assert cell.data() == option.badge == f"partial offload {option.placement.gpu_layers}/32 layers"
    tip = cell.data(Qt.ItemDataRole.ToolTipRole)
    assert "system RAM" in tip and "estimate" in tip
    visible = [ln for ln in window.memory_tab.bars.lines if ln.isVisible()]
    assert [round(ln.value() * 2**30) for ln in visible] == [
        find_gpu("rtx-4090").usable_bytes, find_gpu("t4").usable_bytes]


def test_heatmap_limits_and_cost_follow_the_plan(window: MainWindow) -> None:
    plan = window.controller.plan
    assert window.fit_tab.heatmap_model.plan is None  # hidden tabs render when they are shown
    window.tabs.setCurrentIndex(1)
    window.tabs.setCurrentIndex(2)
    heat = window.fit_tab.heatmap_model
    assert heat.rowCount() == len(load_gpus()) and heat.columnCount() == len(plan.rows)
    i = window.controller.selected[0]
    assert heat.index(i, 0).data(Qt.ItemDataRole.UserRole) == plan.rows[0].counts[i]
    limits = window.fit_tab.limits_model
    assert limits.index(1, 2).data(Qt.ItemDataRole.UserRole) == plan.rows[1].gpus[i].max_context > 4096
    cost = window.cost_tab.model
    assert cost.rowCount() == len(plan.rows)
    assert cost.index(1, 6).data(Qt.ItemDataRole.UserRole) == plan.rows[1].gpus[i].decode_tokens_per_s


def test_open_local_model_and_bad_file_keeps_old_plan(qtbot, window: MainWindow, minilm_dir: Path,
                                                       tmp_path: Path) -> None:
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=10000):
        window.state.set_model(str(minilm_dir))
    assert window.controller.inventory.source == "safetensors"
    qtbot.waitUntil(lambda: window.controller.plan.inventory.source == "safetensors", timeout=5000)
    good = window.controller.plan
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with qtbot.waitSignal(window.controller.error, timeout=10000):
        window.state.set_model(str(bad))
    assert window.banner.isVisible() or not window.isVisible()
    assert "not valid JSON" in window.banner.text()
    assert window.controller.plan is good  # the previous plan stays
    assert window.state.request.model == str(minilm_dir)


def test_stale_load_result_is_dropped(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=10000):
        window.state.set_model("Qwen/Qwen2.5-72B")
        window.state.set_model("google/gemma-2-9b")
    qtbot.wait(200)
    assert window.controller.inventory.id == "google/gemma-2-9b"


def test_settings_and_theme_persist_across_restart(qtbot, qsettings: QSettings, window: MainWindow,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _change(qtbot, window, lambda: window.workload_panel.batch.setValue(4))
    window.unit_actions["GB"].trigger()
    window.theme_actions["dark"].trigger()
    window.close()
    again = MainWindow(qsettings)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.controller.plan is not None, timeout=20000)
    assert again.state.request.workload.batch == 4 and again.workload_panel.batch.value() == 4
    assert again.state.request.unit == "GB" and again.theme == "dark"
    assert again.theme_actions["dark"].isChecked()
    assert " GB" in again.memory_tab.model.index(0, FIRST_COMPONENT).data()


def test_custom_gpu_is_saved_and_selected(qtbot, window: MainWindow, tmp_path: Path) -> None:
    gpu = window.save_custom_gpu("Lab Card", 40, 900, 120, 5000, 1.1)
    assert gpu is not None
    assert "Lab Card" in (tmp_path / "gpus.toml").read_text()
    qtbot.waitUntil(lambda: gpu.id in [g.id for g in window.controller.plan.rows[0].gpu_list], timeout=5000)
    assert gpu.id in window.state.request.gpus
    assert any(gpu.id == window.gpu_panel.list.item(i).data(Qt.ItemDataRole.UserRole)
               for i in range(window.gpu_panel.list.count()))


def test_export_writes_plan_json(window: MainWindow, tmp_path: Path) -> None:
    out = window.export(str(tmp_path / "plan.json"))
    data = json.loads(out.read_text())
    assert data["schema"] == "quantplanner.plan/1"
    assert [g["gpu"] for g in data["rows"][0]["gpus"]] == ["rtx-4090"]


@pytest.mark.parametrize("model_cls", [MemoryTableModel, FitHeatmapModel, LimitsModel, CostModel])
def test_table_models_pass_qtmodeltester(qtmodeltester, window: MainWindow, model_cls) -> None:  # type: ignore[no-untyped-def]
    model = model_cls()
    model.set_plan(window.controller.plan, window.controller.selected, "GiB")
    qtmodeltester.check(model)


def test_self_test_command(tmp_path: Path) -> None:
    env = {"QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "app.launcher", "--self-test", "--screenshot",
                          str(tmp_path / "shot.png")], capture_output=True, text=True, timeout=180, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert "self-test passed" in out.stdout
    assert sorted(p.name for p in tmp_path.glob("shot-*.png")) == ["shot-best.png", "shot-cost.png", "shot-fit.png",
                                                                    "shot-lab.png", "shot-memory.png",
                                                                    "shot-weights.png"]
    final = tmp_path / "shot.png"  # PATH itself: the window as the self-test left it (the last tab)
    data = final.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 800) and len(data) > 20_000  # the default --size, a drawn window


def test_self_test_help_says_what_screenshot_writes() -> None:
    out = subprocess.run([sys.executable, "-m", "app.launcher", "--self-test", "--help"], capture_output=True,
                         text=True, timeout=120, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0
    assert "PATH itself" in out.stdout and "-memory" in out.stdout


def test_unticking_precisions_removes_rows_and_bars(qtbot, window: MainWindow) -> None:
    panel = window.precision_panel
    _change(qtbot, window, lambda: panel.show_only(("bf16", "q4_k_m")))
    ids = [window.memory_tab.model.index(i, 0).data() for i in range(window.memory_tab.model.rowCount())]
    assert ids == ["bf16", "q4_k_m"]
    assert len(window.memory_tab.bars.bars[0].opts["width"]) == 2
    assert window.state.request.hidden_precisions and "bf16" not in window.state.request.hidden_precisions
    _change(qtbot, window, lambda: panel.show_only(None))
    assert window.memory_tab.model.rowCount() == 23


def test_cost_bars_show_engine_cost_per_million_tokens(window: MainWindow) -> None:
    window.tabs.setCurrentIndex(2)
    plan, gi = window.controller.plan, window.controller.selected[0]
    widths = window.cost_tab.bars.bars[0].opts["width"]
    assert list(widths) == pytest.approx([r.gpus[gi].cost_per_million_tokens for r in plan.rows])


def test_custom_gpu_can_be_edited(qtbot, window: MainWindow, tmp_path: Path) -> None:
    gpu = window.save_custom_gpu("Lab Card", 40, 900, 120)
    edited = window.save_custom_gpu("Lab Card", 48, 900, 120, gid=gpu.id)
    assert edited.id == gpu.id
    qtbot.waitUntil(lambda: any(g.id == gpu.id and g.memory_bytes == 48 * 2**30
                                for g in window.controller.plan.rows[0].gpu_list), timeout=5000)
    assert (tmp_path / "gpus.toml").read_text().count("[[gpu]]") == 1


def test_typing_a_parameter_count_plans_a_guess(qtbot, window: MainWindow) -> None:
    window.model_panel.filter.setText("70B")
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=10000):
        window.model_panel.filter.returnPressed.emit()
    inv = window.controller.inventory
    assert inv.source == "count" and inv.parameters == 70 * 10**9
    assert "guess" in window.model_panel.facts.text()


def test_memory_tooltips_show_the_engine_formula(window: MainWindow) -> None:
    model = window.memory_tab.model
    row = _row(model, "bf16")
    tip = model.index(row, FIRST_COMPONENT + COMPONENTS.index("kv_cache")).data(Qt.ItemDataRole.ToolTipRole)
    kv = _cell(model, "bf16", "kv_cache")
    assert "8 KV heads" in tip and f"{kv:,} B" in tip


def test_memory_table_shows_each_rows_engine(window: MainWindow) -> None:
    model, plan = window.memory_tab.model, window.controller.plan
    assert model.headerData(2, Qt.Orientation.Horizontal) == "engine"
    for pid, name in (("q4_k_m", "llama.cpp"), ("bf16", "transformers"), ("awq-4bit-g128", "vLLM")):
        i = _row(model, pid)
        assert model.index(i, 2).data() == name and model.index(i, 2).data(Qt.ItemDataRole.UserRole) == plan.rows[i].engine
    assert "engine auto" in model.index(_row(model, "q4_k_m"), 2).data(Qt.ItemDataRole.ToolTipRole)


def test_settings_from_before_engine_auto_get_the_new_default(qsettings: QSettings) -> None:
    import json
    from dataclasses import asdict

    from app.settings import load_request, save_request
    from app.state import Request
    from quantcore.planner.workload import Workload

    old = asdict(Workload(engine="hf"))
    qsettings.setValue("workload", json.dumps(old))  # what the previous version saved: "hf" was its default
    assert load_request(qsettings).workload.engine == "auto"
    save_request(qsettings, Request(workload=Workload(engine="hf")))  # chosen in this version: kept
    assert load_request(qsettings).workload.engine == "hf"
