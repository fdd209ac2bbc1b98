"""Cold start to first plan drawn, and redraw time per control change, for the desktop app (offscreen).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/startup.py
Cold start runs in fresh processes (python -> window shown with the default model's plan drawn); redraw is the
time from a control change to the tables and plots updated (controller recompute + rendering, debounce excluded).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import time, sys
t0 = time.perf_counter()
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow, wait_for_plan
w = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat))
w.show()
assert wait_for_plan(w)
app.processEvents()
print(time.perf_counter() - t0, int("torch" in sys.modules))
"""


def cold_starts(n: int = 5) -> list[tuple[float, float, bool]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", CHILD, os.path.join(tmp, f"s{i}.ini")], capture_output=True,
                                 text=True, check=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
            wall = time.perf_counter() - t0
            inside, torch = res.stdout.split()
            out.append((wall, float(inside), torch == "1"))
    return out


def redraws() -> dict[str, float]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from app.main_window import MainWindow, wait_for_plan

    with tempfile.TemporaryDirectory() as tmp:
        w = MainWindow(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
        w.show()
        wait_for_plan(w)
        panel = w.workload_panel
        changes = {
            "batch": lambda i: panel.batch.setValue(1 + i % 16),
            "context": lambda i: panel.context.setValue(1024 * (1 + i % 32)),
            "kv dtype": lambda i: panel.kv.setCurrentIndex(i % panel.kv.count()),
            "mode": lambda i: panel.mode.setCurrentIndex(i % panel.mode.count()),
            "unit": lambda i: w.state.set_unit("GB" if i % 2 else "GiB"),
        }
        result = {}
        for name, change in changes.items():
            times = []
            for i in range(1, 21):
                change(i)
                t0 = time.perf_counter()
                w.controller.recompute()  # what the debounce timer runs; plan_ready renders synchronously
                app.processEvents()
                times.append(time.perf_counter() - t0)
            result[name] = statistics.median(times)
        w.close()
    return result


def main() -> None:
    starts = cold_starts()
    walls = [s[0] for s in starts]
    print(f"cold start to first plan drawn (5 runs): median {statistics.median(walls):.2f} s, "
          f"max {max(walls):.2f} s (target < 2 s); torch imported: {any(s[2] for s in starts)}")
    print(f"{'control changed':18} {'redraw (median of 20)':>22}  target")
    for name, t in redraws().items():
        print(f"{name:18} {t * 1e3:>19.1f} ms  < 50 ms")


if __name__ == "__main__":
    main()
