"""Everyday use without dead ends (pytest-qt, offscreen): Enter in the filter, errors worded for the window and
cleared by the next action, Help > About, charts saved and copied, the context box, --version and a self-test that
never touches the user's settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from app import plot_menu  # noqa: E402
from app.about import about_html, components  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.messages import gui_text  # noqa: E402
from quantcore import __version__  # noqa: E402
from quantcore.errors import QuantPlannerError  # noqa: E402
from quantcore.sources.hub_http import offline_message  # noqa: E402
from quantcore.sources.source import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    return w


def _load(qtbot, window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=20000):
        action()
    qtbot.waitUntil(lambda: window.controller.plan.inventory is window.controller.inventory, timeout=5000)


def test_enter_in_the_bundled_filter_opens_the_first_match(qtbot, window: MainWindow) -> None:
    panel = window.model_panel
    QTest.keyClicks(panel.filter, "gemma 2")
    first = next(panel.list.item(i).text() for i in range(panel.list.count()) if not panel.list.item(i).isHidden())
    assert first.startswith("google/gemma-2")
    _load(qtbot, window, lambda: QTest.keyClick(panel.filter, Qt.Key.Key_Return))
    assert window.controller.inventory.id == first
    assert window.banner.isHidden()


def test_errors_never_tell_gui_users_to_run_a_command(qtbot, window: MainWindow) -> None:
    engine_lines = []
    for spec in ("no-such-thing", "", "./missing/model.safetensors"):
        with pytest.raises(QuantPlannerError) as err:
            load_model(spec, use_hub=False)
        engine_lines.append(str(err.value))
    engine_lines.append(offline_message("org/model"))
    engine_lines.append("acme/x is gated: accept its license at https://hf.co/acme/x, then log in with "
                        "`hf auth login` or set HF_TOKEN")
    assert any("`quantplanner" in line for line in engine_lines)  # the CLI wording the window must not show
    for reason in ("", "env", "setting", "auto"):
        for line in engine_lines:
            shown = gui_text(line, reason)
            assert "`" not in shown and "quantplanner models" not in shown and "hf auth" not in shown, shown
    assert "File > Hugging Face token" in gui_text(engine_lines[-1])
    with qtbot.waitSignal(window.controller.error, timeout=10000):
        window.state.set_model("no-such-thing")
    assert window.banner.text() and "`" not in window.banner.text()
    assert "Bundled list" in window.banner.text()


def test_stale_errors_are_cleared(qtbot, window: MainWindow, tmp_path: Path, minilm_dir: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with qtbot.waitSignal(window.controller.error, timeout=10000):
        window.state.set_model(str(bad))
    assert not window.banner.isHidden() and window.statusBar().currentMessage().startswith("Error: ")
    _load(qtbot, window, lambda: window.state.set_model(str(minilm_dir)))  # a good load: both errors go
    assert window.banner.isHidden() and not window.statusBar().currentMessage().startswith("Error: ")
    assert window.export(str(tmp_path / "plan.txt")) is None  # an export error ...
    assert not window.banner.isHidden() and "report type must be one of" in window.banner.text()
    window.tabs.setCurrentIndex(1)  # ... stays only until the user does something else
    assert window.banner.isHidden() and not window.statusBar().currentMessage().startswith("Error: ")


def test_about_shows_version_licenses_and_where_settings_live(qtbot, window: MainWindow) -> None:
    dialog = window.about()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    assert f"QuantPlanner {__version__}" in text
    assert window.qsettings.fileName() in text and "gpus.toml" in text
    found = {name.lower().replace("_", "-"): lic for name, _version, lic in components()}
    assert found["pyqtgraph"] == "MIT" and "LGPL-3.0" in found["pyside6-essentials"]
    assert found["huggingface-hub"] == "Apache-2.0" and "BSD-3-Clause" in found["numpy"]
    assert found["safetensors"] == "Apache-2.0" and found["gguf"] == "MIT"
    assert "pyqtgraph" in about_html(window.qsettings)
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in menus


def test_version_flag() -> None:
    from importlib.metadata import version

    assert __version__ == version("quantplanner")  # one version: the package's and the app's
    out = subprocess.run([sys.executable, "-m", "app.launcher", "--version"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == f"quantplanner {__version__}"


def test_charts_save_as_png_and_svg_and_copy(qtbot, window: MainWindow, tmp_path: Path) -> None:
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    bars = window.memory_tab.bars
    menu = plot_menu.menu_for(bars, "memory")
    assert [a.text() for a in menu.actions() if a.text()] == ["Save image as PNG...", "Save image as SVG...",
                                                              "Copy image"]
    assert bars.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu  # right-click opens it
    png = plot_menu.save_plot(bars, tmp_path / "bars.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") >= bars.width() - 2  # the chart at (at least) its size on screen
    svg = plot_menu.save_plot(window.memory_tab.curves, tmp_path / "curves.svg").read_text()
    assert "<svg" in svg and "q4_k_m" in svg and "<clipPath" in svg  # legend text along, curves clipped to the plot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.png", "curves.svg", "settings.ini"]  # no temp files
    QGuiApplication.clipboard().clear()
    plot_menu.copy_plot(bars)
    image = QGuiApplication.clipboard().image()
    assert not image.isNull() and image.width() >= bars.width() - 2


def test_context_box_keeps_typed_digits_and_the_request_across_models(qtbot, window: MainWindow,
                                                                      minilm_dir: Path) -> None:
    panel = window.workload_panel
    _load(qtbot, window, lambda: window.state.set_model(str(minilm_dir)))  # a 512-token model
    box = panel.context
    box.lineEdit().selectAll()
    QTest.keyClicks(box.lineEdit(), "8192")
    qtbot.waitUntil(lambda: window.state.request.workload.context == 8192, timeout=5000)
    assert box.value() == 8192  # not 819
    assert panel.context_input.badge.isVisibleTo(panel) and "512" in panel.context_input.badge.text()
    box.lineEdit().selectAll()
    QTest.keyClicks(box.lineEdit(), "16k")
    qtbot.waitUntil(lambda: window.state.request.workload.context == 16384, timeout=5000)
    _load(qtbot, window, lambda: window.state.set_model("meta-llama/Llama-3.1-8B", use_hub=False))
    assert window.state.request.workload.context == 16384 and box.value() == 16384  # allowed: kept
    assert not panel.context_input.badge.isVisibleTo(panel)
    _load(qtbot, window, lambda: window.state.set_model("openai-community/gpt2", use_hub=False))  # 1,024 tokens
    assert window.state.request.workload.context == 1024 and box.value() == 1024  # shown clamped
    _load(qtbot, window, lambda: window.state.set_model("Qwen/Qwen2.5-7B", use_hub=False))
    assert window.state.request.workload.context == 16384  # the request comes back
    assert window.controller.plan.workload.context == 16384


def test_self_test_runs_in_its_own_settings_scope(tmp_path: Path) -> None:
    """A user's profile (dark theme, another model, a narrow selection) is neither read nor written."""
    conf = tmp_path / "config" / "QuantPlanner"
    conf.mkdir(parents=True)
    profile = conf / "QuantPlanner.conf"
    profile.write_text('[General]\nmodel=Qwen/Qwen2.5-72B\ntheme=dark\nhidden_precisions="[\\"fp32\\"]"\n')
    gpus = tmp_path / "config" / "quantplanner" / "gpus.toml"
    gpus.parent.mkdir(parents=True)
    gpus.write_text('[[gpu]]\nid = "broken"\n')  # read as the user's GPUs it would fail the catalog
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    env = {"QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run([sys.executable, "-m", "app.launcher", "--self-test"], capture_output=True, text=True,
                         timeout=180, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "self-test passed: meta-llama/Llama-3.1-8B, 23 precisions" in out.stdout  # not the profile's model
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
