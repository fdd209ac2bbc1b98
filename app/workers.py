"""Workers that run a plain quantcore function off the GUI thread, with progress and a cancel flag.

Each worker runs on its own daemon thread, not on a QThreadPool: a pool has a few threads (two on a two-core
machine), and one blocked on slow I/O (a hung network share, a stalled server) would pin a pool thread, so that
after two such loads no model loads any more, and Qt waits for pool threads when the application quits, so the
window would close but the process would never exit. A cancelled worker's result is dropped at once (the
controller moves on); its thread ends on its own (Hub requests stop at the cancel flag or their deadline), and a
daemon thread never keeps the process alive.
"""
from __future__ import annotations

import sys
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from quantcore.errors import QuantPlannerError, one_line


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
        self.thread = threading.Thread(target=self.run, name=f"quantplanner-worker-{self.what[:40]}", daemon=True)
        self.thread.start()

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
