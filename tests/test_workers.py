"""Worker threads never free a Qt object: many quick, dropped and cancelled workers neither crash nor lose results."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from app import workers  # noqa: E402
from app.workers import Worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Before start_thread, the worker thread held the last reference to each dropped Worker, so its WorkerSignals (a
# QObject of the GUI thread) was freed on that thread while its queued signals were delivered: this script
# segfaulted on every one of three runs (exit -11), and CI's `make test` died the same way in test_app.
STRESS = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QCoreApplication
    from app.workers import Worker
    app = QCoreApplication(sys.argv)
    got = []
    def slow(x):
        time.sleep(0.001 * (x % 5))
        return x
    for i in range(ROUNDS):
        w = Worker(slow, i)
        w.signals.result.connect(got.append)
        w.start()
        if i % 3 == 0:
            w.cancel()
        del w  # nothing on the GUI thread refers to it any more
        app.processEvents()
    end = time.time() + 20
    want = {i for i in range(ROUNDS) if i % 3}
    while not want <= set(got) and time.time() < end:
        app.processEvents()
        time.sleep(0.005)
    print(len(want - set(got)), "lost")
""")


def test_dropped_and_cancelled_workers_neither_crash_nor_lose_results() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", STRESS.replace("ROUNDS", "1500")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    assert out.stdout.strip() == "0 lost"


def test_a_thread_lets_go_of_its_worker_on_the_gui_thread_only(qtbot) -> None:
    release = threading.Event()
    seen_on: list[str] = []

    class Probe:
        def __del__(self) -> None:
            seen_on.append(threading.current_thread().name)

    def job(probe: Probe) -> int:
        release.wait(10)
        return 1

    worker = Worker(job, Probe())
    results: list[int] = []
    worker.signals.result.connect(results.append)
    worker.start()
    thread = worker.thread
    del worker
    assert workers.threads_kept() >= 1
    release.set()
    thread.join(10)
    assert not thread.is_alive() and seen_on == []  # the ended thread dropped its references, not the last one
    qtbot.waitUntil(lambda: results == [1], timeout=5000)
    qtbot.waitUntil(lambda: seen_on != [], timeout=5000)  # let go of by the reaper's timer
    assert seen_on == [threading.main_thread().name]
    deadline = time.time() + 5
    while workers.threads_kept() and time.time() < deadline:
        qtbot.wait(50)
    assert workers.threads_kept() == 0
