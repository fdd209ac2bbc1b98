"""A QThreadPool worker that runs a plain quantcore function with progress and a cancel flag."""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, Signal

from quantcore.errors import QuantPlannerError


class WorkerSignals(QObject):
    progress = Signal(str, float)
    result = Signal(object)
    error = Signal(str)
    finished = Signal()


class Worker(QRunnable):
    """Runs fn(*args, **kwargs) off the GUI thread; fn may accept progress= and cancel= keyword arguments.

    Errors a user can cause arrive as their one-line message; anything else as a short 'internal error' line.
    A cancelled worker emits nothing but `finished`.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, pass_control: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self.cancel_event = threading.Event()
        self.pass_control = pass_control
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        kwargs = dict(self.kwargs)
        if self.pass_control:
            kwargs.update(progress=self.signals.progress.emit, cancel=self.cancel_event)
        try:
            out = self.fn(*self.args, **kwargs)
        except QuantPlannerError as exc:
            if not self.cancel_event.is_set():
                self.signals.error.emit(str(exc))
        except Exception as exc:  # a bug, not the user's fault: say so in one line, keep the window alive
            if not self.cancel_event.is_set():
                traceback.print_exc()
                self.signals.error.emit(f"internal error: {exc.__class__.__name__}: {exc}")
        else:
            if not self.cancel_event.is_set():
                self.signals.result.emit(out)
        finally:
            self.signals.finished.emit()
