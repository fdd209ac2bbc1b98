"""The Weights and Lab tabs driven through their widgets on the real MiniLM weights (pytest-qt, offscreen, CPU):
histograms with the format's levels, the error table, test-runs whose measured bytes equal the prediction, Cancel
keeping the earlier results with no thread left behind, a NaN tensor's one-line error, and the sensitivity
suggestion planned as a Memory-tab row."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
import torch
from PySide6.QtCore import QSettings, Qt, QThreadPool

from app.main_window import MainWindow
from app.tabs.memory import FIRST_COMPONENT
from quantcore.formats import catalog

TENSOR = "encoder.layer.3.intermediate.dense.weight"


def _open(qtbot, tmp_path: Path, model: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    w.state.set_model(str(model))
    qtbot.waitUntil(lambda: w.weights_tab.inventory is not None and w.weights_tab.source is not None, timeout=20000)
    return w


@pytest.fixture
def window(qtbot, tmp_path: Path, minilm_dir: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    w = _open(qtbot, tmp_path, minilm_dir)
    yield w
    for tab in (w.weights_tab, w.lab_tab):
        tab.cancel_jobs()
    qtbot.waitUntil(lambda: w.lab_tab.idle and all(j.idle for j in w.weights_tab.jobs), timeout=60000)


def _weights(minilm_dir: Path, name: str) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        return f.get_tensor(name)


def test_weights_histogram_with_levels_and_error_table(qtbot, window: MainWindow, minilm_dir: Path) -> None:
    bnb = pytest.importorskip("bitsandbytes.functional")
    tab = window.weights_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.tree_model.rowCount() > 1, timeout=5000)
    tab.precision.set_chosen(["nf4"])
    tab.select_tensor(TENSOR)
    qtbot.waitUntil(lambda: tab.last_histogram is not None and not tab.running, timeout=30000)
    w = _weights(minilm_dir, TENSOR)
    h = tab.last_histogram["selection"].histogram
    assert h.tensors == (TENSOR,) and h.total == w.numel() == sum(h.counts)
    x, y = tab.hist_view.bars.getData()  # drawn zoomed to p0.1..p99.9 by default: the tails counted aside
    central = tab.last_histogram["selection"].central
    assert (x[0], x[-1]) == (h.percentiles["p0.1"], h.percentiles["p99.9"])
    assert y.sum() == sum(central.counts) and sum(central.counts) + central.extra["outside"] == w.numel()
    inside = int(((w >= x[0]) & (w <= x[-1])).sum())
    assert abs(y.sum() - inside) <= 0.002 * w.numel()  # fine bins straddling the two ends
    tab.zoom.setChecked(False)
    x, y = tab.hist_view.bars.getData()
    assert len(x) == len(h.edges) and y.sum() == w.numel() and (x[0], x[-1]) == (float(w.min()), float(w.max()))
    for name, q in (("p1", 1), ("p50", 50), ("p99", 99)):  # within the running histogram's resolution
        assert h.percentiles[name] == pytest.approx(float(np.percentile(w.numpy(), q)), abs=float(w.abs().max()) / 2000)
        assert tab.hist_view.percentile_lines[name].value() == h.percentiles[name]
    # nf4 levels of the typical block: bitsandbytes' NF4 code x the median absmax of the blocks of 64
    code = bnb.get_4bit_type("nf4", device="cpu").numpy()
    blocks = np.sort(np.abs(w.numpy().reshape(-1, 64)).max(axis=1))
    absmax = float(blocks[(len(blocks) - 1) // 2])  # the block with the median scale (the lower one of an even count)
    lx, _ = tab.hist_view.levels.getData()
    assert np.allclose(np.unique(lx), np.sort(code * absmax), rtol=1e-6, atol=1e-9)
    assert "kurtosis" in tab.hist_view.stats.text() and "16 levels" in tab.hist_view.stats.text()
    # one chosen block: its own absmax
    tab.block.setValue(5)
    tab.one_block.setChecked(True)
    qtbot.waitUntil(lambda: not tab.running and "block 5 " in tab.last_histogram["note"], timeout=30000)
    lx, _ = tab.hist_view.levels.getData()
    block = w.reshape(-1)[5 * 64:6 * 64].numpy()
    assert np.allclose(np.unique(lx), np.sort(code * np.abs(block).max()), rtol=1e-6, atol=1e-9)
    assert len(tab.hist_view.block.getData()[0]) == 64
    # the error view: sorted by SQNR, nf4's equal to bitsandbytes' dequantized weight
    tab.error_precisions.set_chosen(["nf4", "int8", "fp8"])
    tab.compute.click()
    qtbot.waitUntil(lambda: tab.last_errors is not None and not tab.running, timeout=30000)
    model = tab.error_view.model
    assert model.rowCount() == 3
    sqnr = [model.index(r, 2).data(Qt.ItemDataRole.UserRole) for r in range(3)]
    assert sqnr == sorted(sqnr, reverse=True)
    assert [model.index(r, 0).data() for r in range(3)] == ["int8", "fp8", "nf4"]
    packed, st = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    err = (bnb.dequantize_4bit(packed, st) - w).double()
    assert sqnr[2] == pytest.approx(10 * math.log10(float((w.double() ** 2).sum() / (err ** 2).sum())), rel=1e-6)
    assert model.index(2, 1).data(Qt.ItemDataRole.UserRole) == catalog.tensor_bytes(
        next(t for t in tab.inventory.tensors if t.name == TENSOR), catalog.get_precision("nf4"))
    window.copy_selection()  # Edit > Copy cells on this tab: the selected error row
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text().startswith("int8\t")
    ex, ey = tab.error_view.err_bars.getData()
    assert ey.sum() == w.numel()
    assert len(tab.error_view.scatter.getData()[0]) == 4000
    assert tab.error_view.strip.image.shape == (256, 1)  # int8: one scale per row
    tab.error_view.view.selectRow(2)  # nf4
    assert tab.error_view.strip.image.shape == (256, 6)  # 1,536 rows pooled to 256, 384 / 64 blocks
    assert "nf4" in tab.error_view.err_plot.plotItem.titleLabel.text


def test_group_selection_streams_a_layer(qtbot, window: MainWindow) -> None:
    tab = window.weights_tab
    window.tabs.setCurrentWidget(tab)
    tab.group.setCurrentIndex(1)  # by role
    tab.filter.setText("intermediate.dense.weight")
    tab.select_tensor("mlp")
    assert tab.selected_names() == [f"encoder.layer.{i}.intermediate.dense.weight" for i in range(6)]
    qtbot.waitUntil(lambda: tab.last_histogram is not None and not tab.running, timeout=30000)
    assert tab.last_histogram["selection"].histogram.total == 6 * 1536 * 384


def test_lab_testrun_measured_equals_predicted_and_goes_into_reports(qtbot, window: MainWindow,
                                                                      tmp_path: Path) -> None:
    tab = window.lab_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: "GiB free" in tab.device.itemText(1), timeout=30000)  # named, with its free memory
    assert tab.device.itemData(1) == "cpu" and tab.device.count() == 2 + torch.cuda.device_count()
    tab.what.setCurrentIndex(tab.what.findData(TENSOR.removesuffix(".weight")))
    tab.precisions.set_chosen(["int8", "nf4"])
    tab.tokens.setValue(16)
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.results.rowCount() == 2, timeout=60000)
    for r in range(2):
        m = tab.results
        predicted, measured = (m.index(r, c).data(Qt.ItemDataRole.UserRole) for c in (m.PREDICTED, m.MEASURED))
        assert measured == predicted > 0 and m.index(r, m.MATCH).data() == "equal"
    assert tab.results.index(0, tab.results.KERNEL).data() == "native int8 matmul (torch._int_mm)"
    assert tab.sqnr_chart.labels == ["int8", "nf4"] and tab.latency_chart.labels == ["original", "int8", "nf4"]
    assert all(v > 0 for v in tab.latency_chart.heights)
    weights = window.weights_tab
    window.tabs.setCurrentWidget(weights)
    weights.precision.set_chosen(["int8"])
    weights.select_tensor(TENSOR)
    qtbot.waitUntil(lambda: weights.last_histogram is not None and not weights.running, timeout=30000)
    weights.error_precisions.set_chosen(["fp32", "int8"])  # fp32: an exact copy, its SQNR has no finite value
    weights.compute_errors()
    qtbot.waitUntil(lambda: weights.last_errors is not None and not weights.running, timeout=30000)
    out = window.export(str(tmp_path / "report.json"))
    data = json.loads(Path(out).read_text())
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "plan-schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    lab = data["lab"]
    assert [e["precision"] for e in lab["errors"]] == ["fp32", "int8"] and "sqnr_db" not in lab["errors"][0]
    assert lab["histograms"][0]["tensor"] == TENSOR and len(lab["histograms"][0]["levels"]) == 255
    assert [r["precision"] for r in lab["runs"]] == ["int8", "nf4"]
    assert all(r["measured_bytes"] == r["predicted_bytes"] for r in lab["runs"]) and "cpu" in lab["device"]


def test_cancel_keeps_old_results_and_leaves_no_thread(qtbot, window: MainWindow) -> None:
    tab = window.lab_tab
    window.tabs.setCurrentWidget(tab)
    tab.what.setCurrentIndex(tab.what.findData(TENSOR.removesuffix(".weight")))
    tab.precisions.set_chosen(["int8"])
    tab.tokens.setValue(8)
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.results.rowCount() == 1 and not tab.running, timeout=60000)
    before = [tab.results.index(0, c).data() for c in range(13)]
    tab.what.setCurrentIndex(tab.what.findData("mlp:2"))
    tab.precisions.set_chosen(["fp8", "nf4", "fp4", "int4-g128", "int3-g128", "int2-g64", "mxfp4", "nvfp4",
                               "binary", "ternary"])
    tab.batch.setValue(8)
    tab.tokens.setValue(512)
    with qtbot.waitSignal(tab.run_job.progress, timeout=30000):
        tab.run_button.click()
    qtbot.waitUntil(lambda: "quantizing" in tab.status.text(), timeout=30000)
    tab.cancel_button.click()
    assert not tab.running and tab.cancel_button.isEnabled() is False
    qtbot.waitUntil(lambda: tab.idle, timeout=120000)  # the cancelled thread ends at its next check
    qtbot.wait(200)  # anything it emitted late has been delivered (and dropped)
    assert tab.results.rowCount() == 1 and [tab.results.index(0, c).data() for c in range(13)] == before
    assert len(tab.runs) == 1 and "cancelled" in tab.status.text()
    assert QThreadPool.globalInstance().waitForDone(5000)
    assert not [t for t in threading.enumerate() if t.name.startswith("quantplanner-worker") and t.is_alive()]


def test_nan_tensor_shows_one_line_error(qtbot, tmp_path: Path, minilm_dir: Path) -> None:
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad-minilm"
    bad.mkdir()
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (bad / f).write_bytes((minilm_dir / f).read_bytes())
    tensors = load_file(str(minilm_dir / "model.safetensors"))
    tensors["encoder.layer.1.output.dense.weight"][3, 5] = float("nan")
    save_file(tensors, str(bad / "model.safetensors"), {"format": "pt"})
    window = _open(qtbot, tmp_path, bad)
    tab = window.weights_tab
    window.tabs.setCurrentWidget(tab)
    tab.select_tensor("encoder.layer.1.output.dense.weight")
    qtbot.waitUntil(lambda: "NaN" in tab.status.text(), timeout=30000)
    message = tab.status.text()
    assert message.startswith("encoder.layer.1.output.dense.weight: 1 NaN/Inf") and "\n" not in message
    assert window.banner.isVisible() and window.banner.text() == message
    lab = window.lab_tab
    window.tabs.setCurrentWidget(lab)
    lab.what.setCurrentIndex(lab.what.findData("encoder.layer.1.output.dense"))
    lab.precisions.set_chosen(["int8"])
    lab.run_button.click()
    qtbot.waitUntil(lambda: "NaN" in lab.status.text(), timeout=30000)
    assert "\n" not in lab.status.text() and lab.results.rowCount() == 0
    qtbot.waitUntil(lambda: lab.idle, timeout=30000)


def test_sensitivity_heatmap_and_suggestion_row_in_memory_tab(qtbot, window: MainWindow) -> None:
    tab = window.lab_tab
    window.tabs.setCurrentWidget(tab)
    tab.precisions.set_chosen(["nf4", "int8"])
    tab.scan_button.click()
    qtbot.waitUntil(lambda: tab.sensitivity is not None and not tab.running, timeout=120000)
    assert tab.heat.rowCount() == 36 and tab.heat.columnCount() == 2
    assert [tab.heat.headerData(i, Qt.Orientation.Horizontal) for i in range(2)] == ["int8", "nf4"]  # catalog order
    sug = tab.suggestion
    assert sug is not None and sug.keep
    mix = sug.mixture.id
    qtbot.waitUntil(lambda: any(r.precision.id == mix for r in window.controller.plan.rows), timeout=10000)
    window.tabs.setCurrentWidget(window.memory_tab)
    model = window.memory_tab.model
    row = next(i for i in range(model.rowCount()) if model.index(i, 0).data() == mix)
    inv = window.controller.inventory
    assert model.index(row, FIRST_COMPONENT).data(Qt.ItemDataRole.UserRole) == catalog.weight_bytes(inv, mix) == \
        sug.mixture.model_bytes(inv)
    assert "size" in tab.suggestion_label.text() and "%" in tab.suggestion_label.text()
    assert tab.size_change == pytest.approx(catalog.weight_bytes(inv, mix) / catalog.weight_bytes(inv, "nf4") - 1)


def test_app_start_does_not_import_torch() -> None:
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from app.main_window import MainWindow, wait_for_plan\nimport tempfile\n"
            "from PySide6.QtCore import QSettings\n"
            "w = MainWindow(QSettings(tempfile.mkdtemp() + '/s.ini', QSettings.Format.IniFormat))\nw.show()\n"
            "assert wait_for_plan(w)\nw.tabs.setCurrentWidget(w.weights_tab)\napp.processEvents()\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
