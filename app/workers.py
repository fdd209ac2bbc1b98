"""Workers that run a plain quantcore function off the GUI thread, with progress and a cancel flag.

Each worker runs on its own daemon thread, not on a QThreadPool: a pool has a few threads (two on a two-core
machine), and one blocked on slow I/O (a hung network share, a stalled server) would pin a pool thread, so that
after two such loads no model loads any more, and Qt waits for pool threads when the application quits, so the
window would close but the process would never exit. A cancelled worker's result is dropped at once (the
controller moves on); its thread ends on its own (Hub requests stop at the cancel flag or their deadline), and a
daemon thread never keeps the process alive.

A thread never drops the last reference to a QObject: Qt objects must be destroyed on the thread they live on (the
GUI thread), and a WorkerSignals freed by its ending worker thread while the GUI thread still delivered its queued
`finished` crashed the process (a segfault in CI, reproduced by 3,000 quick loads with cancels). start_thread keeps
what a thread touches alive on the GUI thread until that thread has ended, and lets go of it there.
"""
from __future__ import annotations

import sys
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal

from quantcore.errors import QuantPlannerError, one_line


_KEPT: dict[threading.Thread, tuple[object, bool]] = {}  # thread -> (what it touches, seen ended at a reap)
_REAPER: list[QTimer] = []  # the one timer that lets go of them, made on first use


def start_thread(target: Callable[[], None], keep: object, name: str) -> threading.Thread:
    """Start target on a daemon thread; `keep` (the QObjects the thread emits from, or their owner) stays referenced
    from the GUI thread until the thread has ended, so that its last reference is never dropped by that thread."""
    _reap()
    thread = threading.Thread(target=target, name=name, daemon=True)
    _KEPT[thread] = (keep, False)
    thread.start()
    app = QCoreApplication.instance()
    if app is not None and QThread.currentThread() is app.thread():
        if not _REAPER:
            timer = QTimer()
            timer.setInterval(250)
            timer.timeout.connect(_reap)
            _REAPER.append(timer)
        if not _REAPER[0].isActive():
            _REAPER[0].start()
    return thread


def _reap() -> None:
    """On the GUI thread: let go of what a thread touched once it was seen ended at an earlier reap, so that the
    signals it emitted last (queued for this thread) were delivered in between, never dropped with their sender."""
    for thread, (keep, seen) in list(_KEPT.items()):
        if seen:
            del _KEPT[thread]
        elif not thread.is_alive():
            _KEPT[thread] = (keep, True)
    if not _KEPT and _REAPER:
        _REAPER[0].stop()


def threads_kept() -> int:
    """How many started threads are still held for their GUI-thread release (tests)."""
    return len(_KEPT)


class WorkerSignals(QObject):
    progress = Signal(str, float)
    result = Signal(object)
    error = Signal(str)
    finished = Signal()


def unexpected_message(exc: BaseException, what: str = "this") -> str:
    """The banner line for an error that is not the user's (a bug, or an input nothing checked): what failed and
    what to do, never a bare exception name."""
    return one_line(f"QuantPlanner could not finish {what}: an unexpected {exc.__class__.__name__} (a bug; please "
                    "report it with the file or model id; run from a terminal to see the details)", 400)


class Worker:
    """Runs fn(*args, **kwargs) on a daemon thread; fn may accept progress= and cancel= keyword arguments.

    Errors a user can cause arrive as their one-line message; anything else as unexpected_message (with the
    traceback on stderr). A cancelled worker emits nothing but `finished`."""

    def __init__(self, fn: Callable[..., Any], *args: Any, pass_control: bool = False, what: str = "this",
                 **kwargs: Any) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self.cancel_event = threading.Event()
        self.pass_control = pass_control
        self.what = what
        self.thread: threading.Thread | None = None

    def cancel(self) -> None:
        self.cancel_event.set()

    def start(self) -> None:
        self.thread = start_thread(self.run, self, f"quantplanner-worker-{self.what[:40]}")

    def run(self) -> None:
        kwargs = dict(self.kwargs)
        if self.pass_control:
            kwargs.update(progress=self._progress, cancel=self.cancel_event)
        try:
            out = self.fn(*self.args, **kwargs)
        except QuantPlannerError as exc:
            self._emit(self.signals.error, str(exc))
        except BaseException as exc:  # noqa: BLE001 - not the user's fault: say so in one line, keep the window
            if not self.cancel_event.is_set():
                traceback.print_exc(file=sys.stderr)
            self._emit(self.signals.error, unexpected_message(exc, self.what))
        else:
            self._emit(self.signals.result, out)
        finally:
            try:
                self.signals.finished.emit()
            except RuntimeError:  # the window (and these signals) went away first
                pass

    def _progress(self, message: str, fraction: float) -> None:
        if not self.cancel_event.is_set():
            self._emit(self.signals.progress, message, fraction)

    def _emit(self, signal: Any, *values: Any) -> None:
        if self.cancel_event.is_set():
            return
        try:
            signal.emit(*values)
        except RuntimeError:  # the receiving objects were deleted (the window closed meanwhile)
            pass
