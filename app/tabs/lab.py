"""The Lab tab: quantize a linear layer, an MLP block or an attention block of the open model and test-run it against
the original on this machine (results table, SQNR and latency by precision), and scan every linear layer's
sensitivity (heatmap) with a mixed-precision suggestion that the planner sizes as one more row of the Memory tab."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.tabs.common import make_table
from app.tabs.lab_view import BarChart, ResultsModel, SensitivityModel
from app.panels.common import plain_tip
from app.tabs.labkit import Job, JobStatus, PrecisionPicker, local_weights
from quantcore.errors import one_line



def _devices_job(progress: Any = None, cancel: Any = None) -> Any:
    from quantcore.lab.devices import list_devices

    return list_devices()


def _sensitivity_job(source: Path, precisions: list[str], calibration: str, tokens: int, inventory: Any,
                     progress: Any = None, cancel: Any = None) -> tuple[Any, Any]:
    from quantcore.lab.sensitivity import sensitivity, suggest

    s = sensitivity(source, precisions, calibration, tokens, progress=progress, cancel=cancel)
    return s, suggest(s, inventory)


class LabTab(QWidget, JobStatus):
    title = "Lab"
    empty_until_run = True  # its tables fill when the user runs something (the self-test expects no rows)
    error = Signal(str)
    mixture_changed = Signal(object)  # a formats.mixture.Mixture to plan as one more row, or None

    def __init__(self) -> None:
        super().__init__()
        self.inventory: Any = None
        self.source: Path | None = None
        self.runs: list[Any] = []  # every TestRun while the app is open
        self.sensitivity: Any = None
        self.suggestion: Any = None
        self.size_change: float | None = None
        self._devices_listed = False
        self.run_job, self.scan_job = Job("the test-run"), Job("the sensitivity scan")
        self.devices_job = Job("listing devices")

        self.what = QComboBox()
        self.what.setMinimumContentsLength(24)
        self.what.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.precisions = PrecisionPicker(("fp8", "int8", "nf4", "int4-g128", "mxfp4"))
        self.device = QComboBox()
        self.device.addItem("auto", "auto")
        self.device.addItem("cpu", "cpu")
        self.device.setMinimumContentsLength(16)
        self.device.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.calibration = QComboBox()
        for text, value in (("inputs: real if loadable", "auto"), ("inputs: real activations", "real"),
                            ("inputs: synthetic", "synthetic")):
            self.calibration.addItem(text, value)
        self.batch, self.tokens = QSpinBox(), QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setPrefix("batch ")
        self.tokens.setRange(1, 8192)
        self.tokens.setValue(128)
        self.tokens.setPrefix("tokens ")
        self.run_button = QPushButton("Run")
        self.scan_button = QPushButton("Scan sensitivity")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Clear results")
        self._make_status(180)
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        row1.addWidget(QLabel("Test-run"))
        row1.addWidget(self.what, 2)
        row1.addWidget(self.precisions)
        row1.addWidget(self.device, 1)
        for w in (self.calibration, self.batch, self.tokens):
            row2.addWidget(w)
        row2.addStretch(1)
        for w in (self.run_button, self.scan_button, self.progress, self.cancel_button, self.clear_button):
            row2.addWidget(w)

        self.results = ResultsModel()
        self.view = make_table(self.results)
        self.sqnr_chart = BarChart("output SQNR (dB)", "#4c78a8")
        self.latency_chart = BarChart("median latency (ms)", "#f58518")
        self.sqnr_chart.setToolTip("10 log10(||y||^2 / ||y_q - y||^2) of the block's output on the test input: higher "
                                   "is better; 'exact' is drawn at the top")
        self.latency_chart.setToolTip("median of the timed forward passes after warm-up (CUDA events on a GPU)")
        self.plots = (self.sqnr_chart, self.latency_chart)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.sqnr_chart)
        charts.addWidget(self.latency_chart)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.view)
        left.addWidget(charts)
        left.setSizes([300, 300])
        self.heat = SensitivityModel()
        self.heat_view = make_table(self.heat)
        self.suggestion_label = QLabel("Scan sensitivity: every linear layer x the chosen precisions -> relative "
                                       "output error on calibration inputs.")
        self.suggestion_label.setWordWrap(True)
        self.suggestion_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("Layer sensitivity: relative output error (darker is worse)"))
        rl.addWidget(self.heat_view, 1)
        rl.addWidget(self.suggestion_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([640, 560])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.run_button.clicked.connect(self.run)
        self.scan_button.clicked.connect(self.scan)
        self.cancel_button.clicked.connect(self.cancel)
        self.clear_button.clicked.connect(self.clear)
        for job in (self.run_job, self.scan_job):
            job.progress.connect(self._progress)
            job.failed.connect(self._failed)
            job.running_changed.connect(lambda _on: self._enable())
        self.run_job.done.connect(self._run_done)
        self.scan_job.done.connect(self._scan_done)
        self.devices_job.done.connect(self._devices)
        self._busy(False)
        self._enable()

    # --- the model ----------------------------------------------------------------------------------------------
    def set_model(self, spec: str, inventory: Any) -> None:
        from quantcore.lab.blocks import block_choices

        self.cancel_jobs()
        self.inventory, self.source = inventory, local_weights(spec)
        self.what.clear()
        if self.source is not None:
            for b in block_choices(inventory):
                self.what.addItem(b.describe(), b.name)
            mlp = self.what.findData("mlp:0")
            self.what.setCurrentIndex(0 if mlp < 0 else mlp)
            self._say("", False)
        else:
            self._say(f"{spec}: test-runs read the weights from local files; open a local folder, .safetensors or "
                      ".gguf (a Hub model's tensors can be fetched in the Weights tab).", False)
        if self.suggestion is not None:
            self.suggestion, self.sensitivity = None, None
            self.heat.set_data(None)
            self.mixture_changed.emit(None)
        self._enable()

    def update_plan(self, plan: Any, selected: tuple[int, ...], unit: str) -> None:
        """The planner's bytes for the suggestion: its row against the base precision's row."""
        if self.suggestion is None:
            return
        rows = {r.precision.id: r for r in plan.rows}
        mixed, base = rows.get(self.suggestion.mixture.id), rows.get(self.suggestion.base)
        if mixed is None:
            return
        if base is not None and base.memory.weights:
            self.size_change = mixed.memory.weights / base.memory.weights - 1
        self.suggestion_label.setText(  # layer names come from the model's files: escaped
            f"<b>Suggestion:</b> {_esc(self.suggestion.sentence(self.size_change))}. The Memory tab plans it as the "
            f"row <b>{_esc(self.suggestion.mixture.id)}</b> ({mixed.memory.weights:,} B of weights); the kept layers "
            "are marked * in the heatmap.")
        self.suggestion_label.setToolTip(plain_tip(f"kept at {self.suggestion.high}:\n"
                                                   + "\n".join(self.suggestion.keep), keep_lines=True))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._devices_listed:
            self._devices_listed = True
            self.devices_job.start(_devices_job)

    def _devices(self, devices: Any) -> None:
        current = self.device.currentData()
        self.device.clear()
        self.device.addItem("auto (first GPU, else CPU)", "auto")
        for d in devices:
            self.device.addItem(d.label(), d.device)
        self.device.setCurrentIndex(max(0, self.device.findData(current)))

    # --- actions ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        from quantcore.lab.testrun import testrun

        precisions = self.precisions.chosen()
        if self.source is None or not precisions:
            self._say("choose at least one precision" if self.source is not None else self.status.text(), True)
            return
        self.run_job.start(testrun, self.source, precisions, self.what.currentData(), self.device.currentData(),
                       self.calibration.currentData(), self.batch.value(), self.tokens.value())

    def scan(self) -> None:
        precisions = self.precisions.chosen()
        if self.source is None or not precisions:
            return
        tokens = self.batch.value() * self.tokens.value()  # calibration tokens of the scan: batch x tokens
        self.scan_job.start(_sensitivity_job, self.source, precisions, self.calibration.currentData(), tokens,
                            self.inventory)

    @property
    def running(self) -> bool:
        return self.run_job.running or self.scan_job.running

    @property
    def idle(self) -> bool:
        """No thread of a run or scan is left (cancelled ones included)."""
        return self.run_job.idle and self.scan_job.idle

    def cancel_jobs(self) -> None:
        self.run_job.cancel()
        self.scan_job.cancel()

    def cancel(self) -> None:
        self.cancel_jobs()
        self._say("cancelled; the results shown are the earlier ones", False)

    def clear(self) -> None:
        self.runs.clear()
        self.results.set_runs(self.runs)
        self.sqnr_chart.set_bars([], [])
        self.latency_chart.set_bars([], [])

    def _run_done(self, run: Any) -> None:
        self.runs.append(run)
        self.results.set_runs(self.runs)
        self.view.resizeColumnsToContents()
        names = ["original"] + [r.precision for r in run.results]
        self.sqnr_chart.set_bars([r.precision for r in run.results], [r.output_sqnr_db for r in run.results])
        self.latency_chart.set_bars(names, [run.baseline_latency_ms] + [r.latency_ms for r in run.results])
        skipped = "; ".join(why for _, why in run.skipped)
        self._say(f"{run.block.describe()} on {run.device.label()}; {run.calibration}"
                  + (f". Not run: {skipped}" if skipped else ""), False)

    def _scan_done(self, out: Any) -> None:
        self.sensitivity, self.suggestion = out
        self.size_change = None
        self.heat.set_data(self.sensitivity, self.suggestion.keep if self.suggestion else ())
        self.heat_view.resizeColumnsToContents()
        if self.suggestion is None:
            self.suggestion_label.setText("No mixed-precision suggestion: scan at least a low-bit and an 8-bit "
                                          "precision (e.g. nf4 and int8).")
        else:
            self.suggestion_label.setText("<b>Suggestion:</b> " + _esc(self.suggestion.sentence()) + " (sizing ...)")
        self._say(f"sensitivity of {len(self.sensitivity.layers)} linear layers; {self.sensitivity.calibration}",
                  False)
        self.mixture_changed.emit(self.suggestion.mixture if self.suggestion else None)

    def lab_dict(self) -> dict[str, Any]:
        """The report's "lab" object for what this tab measured (empty when nothing)."""
        from quantcore.lab.results import lab_dict

        return lab_dict(self.runs, self.sensitivity, suggestion=self.suggestion, size_change=self.size_change)

    # --- status ------------------------------------------------------------------------------------------------
    def _busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setEnabled(on)
        self.run_button.setEnabled(not on and self.source is not None)
        self.scan_button.setEnabled(not on and self.source is not None)
        if not on:
            self.progress.setValue(0)

    def _enable(self) -> None:
        self._busy(self.running)


def _esc(text: object) -> str:
    """Text from model files (layer names) inside a rich-text label: one line, HTML-escaped."""
    return html.escape(one_line(text), quote=False)
