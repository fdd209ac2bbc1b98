"""What the Weights and Lab tabs share: one long job at a time in a worker (progress, Cancel, stale results
dropped), a precision picker, where the open model's weights are, and small plot helpers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QLabel, QMenu, QProgressBar, QToolButton

from app.workers import Worker
from quantcore.errors import QuantPlannerError, one_line
from quantcore.sources.safe_io import probe

DEFAULT_PRECISIONS = ("fp8", "int8", "nf4", "int4-g128", "mxfp4", "q4_k_m")
ERROR_STYLE = "QLabel { color: #c62828; }"


class JobStatus:
    """A lab tab's progress bar and status line, and the slots its jobs report to (mixed into the tab's QWidget,
    which has an `error` signal: failures also reach the window's banner)."""

    progress: QProgressBar
    status: QLabel
    error: Any

    def _make_status(self, bar_width: int) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(bar_width)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file and tensor names: never markup
        self.status.setWordWrap(True)

    def _progress(self, message: str, fraction: float) -> None:
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self._say(one_line(message, 160), False)

    def _failed(self, message: str) -> None:
        self._say(message, True)
        self.error.emit(message)

    def _say(self, text: str, error: bool) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(one_line(text))


class Job(QObject):
    """Runs one engine call at a time (fn(..., progress=, cancel=)) off the GUI thread.

    A new start cancels the running one; results of a cancelled or superseded job are dropped (generation
    counter), so Cancel leaves whatever the tab showed before."""

    progress = Signal(str, float)
    done = Signal(object)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.worker: Any = None
        self._generation = 0
        self._alive: set[Any] = set()  # started workers whose thread has not finished yet (cancelled ones too)

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def idle(self) -> bool:
        """No thread of this job is still running (a cancelled one ends at its next cancel check)."""
        return not self._alive

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.cancel()
        self._generation += 1
        gen = self._generation
        worker = Worker(_needs_torch(fn), *args, pass_control=True, what=self.what, **kwargs)
        sig = worker.signals
        sig.progress.connect(lambda m, f, g=gen: g == self._generation and self.progress.emit(m, f))
        sig.result.connect(lambda out, g=gen: g == self._generation and self.done.emit(out))
        sig.error.connect(lambda msg, g=gen: g == self._generation and self.failed.emit(msg))
        sig.finished.connect(lambda w=worker: self._finished(w))
        self.worker = worker
        self._alive.add(worker)
        self.running_changed.emit(True)
        worker.start()  # a daemon thread of its own (app.workers): a job stuck in I/O never keeps the app alive

    def cancel(self) -> None:
        """Stop the running job: its result is dropped, its thread ends at the next cancel check."""
        if self.worker is not None:
            self.worker.cancel()
            self._generation += 1
            self.worker = None
            self.running_changed.emit(False)

    def _finished(self, worker: Any) -> None:
        self._alive.discard(worker)
        if worker is self.worker:
            self.worker = None
            self.running_changed.emit(False)


def _needs_torch(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn, with a missing torch (the desktop bundle leaves it out) said in one line instead of a crash report."""
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModuleNotFoundError as exc:
            if exc.name != "torch":
                raise
            from quantcore.errors import BadInputError

            raise BadInputError("the quantization lab needs torch, which this build does not include: install "
                                "QuantPlanner with pip (torch 2.13) to see weights and run tests") from None
    return run


class PrecisionPicker(QToolButton):
    """A button whose menu ticks precisions of the catalog; precisions this build cannot quantize are greyed out
    (checked the first time the menu opens, so opening the app imports no codec)."""

    changed = Signal()

    def __init__(self, chosen: tuple[str, ...] = DEFAULT_PRECISIONS, single: bool = False) -> None:
        super().__init__()
        from quantcore.formats.catalog import precision_ids

        self.single = single
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        self.actions_by_id: dict[str, QAction] = {}
        for pid in precision_ids():
            act = QAction(pid, self, checkable=True, checked=pid in chosen)
            act.toggled.connect(lambda on, p=pid: self._toggled(p, on))
            menu.addAction(act)
            self.actions_by_id[pid] = act
        menu.aboutToShow.connect(self._mark_available)
        self.setMenu(menu)
        self._checked_available = False
        self._refresh()

    def _mark_available(self) -> None:
        if self._checked_available:
            return
        from quantcore.formats.quantize import available

        for pid, act in self.actions_by_id.items():
            if not available(pid):
                act.setText(f"{pid} (not in this build yet)")
                act.setEnabled(False)
        self._checked_available = True

    def _toggled(self, pid: str, on: bool) -> None:
        if self.single and on:
            for other, act in self.actions_by_id.items():
                if other != pid and act.isChecked():
                    act.blockSignals(True)
                    act.setChecked(False)
                    act.blockSignals(False)
        self._refresh()
        self.changed.emit()

    def chosen(self) -> list[str]:
        return [p for p, a in self.actions_by_id.items() if a.isChecked()]

    def set_chosen(self, pids: list[str] | tuple[str, ...]) -> None:
        for p, a in self.actions_by_id.items():
            a.blockSignals(True)
            a.setChecked(p in pids)
            a.blockSignals(False)
        self._refresh()
        self.changed.emit()

    def _refresh(self) -> None:
        got = self.chosen()
        text = ", ".join(got[:4]) + (f" +{len(got) - 4}" if len(got) > 4 else "") if got else "none"
        self.setText(("Precision: " if self.single else "Precisions: ") + text)


def local_weights(spec: str) -> Path | None:
    """The local weights the model spec names (a folder, .safetensors or .gguf), else None (Hub id, bundled config,
    parameter count)."""
    if not spec:
        return None
    try:  # never raises on what the user typed (a name too long, ~nouser, a folder without access)
        path = Path(spec).expanduser()
        kind = probe(path)
        if kind is None:
            return None
        if kind != "dir":
            return path if path.suffix.lower() in (".safetensors", ".gguf") else (
                path.parent if any(path.parent.glob("*.safetensors")) else None)
        if any(path.glob("*.safetensors")) or any(path.glob("*.gguf")):
            return path
    except (OSError, RuntimeError, ValueError, QuantPlannerError):
        return None
    return None


def step_item(colour: str) -> pg.PlotDataItem:
    """A histogram drawn as steps over bin edges, filled to zero."""
    fill = QColor(colour)
    fill.setAlpha(110)
    return pg.PlotDataItem([0, 1], [0], stepMode="center", fillLevel=0, brush=fill, pen=pg.mkPen(colour, width=1))


def level_lines(colour: str = "#e45756") -> pg.PlotDataItem:
    """Vertical lines (one per quantization level) as one item: x pairs joined two by two."""
    return pg.PlotDataItem([], [], connect="pairs", pen=pg.mkPen(colour, width=1))


def heat_colour(value: float | None, vmax: float) -> QColor:
    """White to dark red by value / vmax (grey: not applicable)."""
    if value is None or vmax <= 0:
        return QColor(200, 200, 200)
    t = max(0.0, min(1.0, value / vmax))
    return QColor(255 - int(t * 90), 255 - int(t * 240), 255 - int(t * 234))
