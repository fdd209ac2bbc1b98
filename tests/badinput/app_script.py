"""Run by test_corpus_process.py in a child process: the desktop app offscreen, driven through hostile inputs, then
closed; the child must exit on its own (a worker blocked on I/O must not keep it alive).

    python app_script.py fifos FOLDER        5 FIFOs in a row (banner each time), then a valid model, then close
    python app_script.py stuck FOLDER        a load blocked forever in open() on a FIFO, then close
    python app_script.py hub MODEL           load MODEL from the Hub (HF_ENDPOINT), wait for the banner, then close
Prints one line per step and 'exited-window' before returning; exit 0 when every step did what it should.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    mode, arg = sys.argv[1], sys.argv[2]
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from app.main_window import MainWindow

    folder = Path(os.environ["QP_SCRIPT_HOME"])
    window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.show()

    def wait(until, seconds: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        return bool(until())

    if not wait(lambda: window.controller.plan is not None, 30):
        print("no first plan", flush=True)
        return 1
    first = window.controller.plan
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    if mode == "fifos":
        for i in range(5):
            p = Path(arg) / f"fifo-{i}" / "config.json"
            p.parent.mkdir(parents=True)
            os.mkfifo(p)
            before = len(errors)
            window.state.set_model(str(p.parent))
            if not wait(lambda b=before: len(errors) > b, 10) or "FIFO" not in errors[-1]:
                print(f"fifo {i}: no banner", flush=True)
                return 1
            if window.controller.plan is not first:
                print(f"fifo {i}: plan changed", flush=True)
                return 1
            print(f"fifo {i}: banner: {window.banner.text()[:80]}", flush=True)
        good = Path(arg) / "good"
        good.mkdir()
        (good / "config.json").write_text('{"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, '
                                          '"num_hidden_layers": 3, "num_attention_heads": 4, "vocab_size": 1000}')
        window.state.set_model(str(good))
        if not wait(lambda: window.controller.inventory.id == "good", 20):
            print("the valid model did not load", flush=True)
            return 1
        print("valid model loaded", flush=True)
    elif mode == "stuck":
        import app.controller as controller

        p = Path(arg) / "stuck.fifo"
        os.mkfifo(p)

        def blocked(spec: str, **_kw: object) -> object:
            with open(p, "rb") as fh:  # a plain open: blocks forever, no writer will come
                return fh.read()

        controller.load_model = blocked  # type: ignore[assignment]
        window.state.set_model("stuck/worker")
        time.sleep(0.5)
        print("a worker is blocked in open()", flush=True)
    elif mode == "hub":
        start = time.monotonic()
        window.state.set_model(arg, use_hub=True)
        if not wait(lambda: bool(errors), float(os.environ.get("QP_BANNER_WAIT", "40"))):
            print("no banner", flush=True)
            return 1
        print(f"banner after {time.monotonic() - start:.1f} s: {errors[-1][:200]}", flush=True)
        if window.controller.plan is not first:
            return 1
    window.close()
    app.quit()
    print("exited-window", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
