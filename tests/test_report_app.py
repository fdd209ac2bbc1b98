"""File > Export report in the app: the dialog previews the report, writes the chosen format in a worker, and shows
a one-line error in the dialog when the file cannot be written."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QUrl  # noqa: E402
from PySide6.QtGui import QTextDocument  # noqa: E402

from app.export import ExportReportDialog  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from quantcore.cli import _build_parser  # noqa: E402
from quantcore.cli.common import workload_from_args  # noqa: E402


def _dialog(window: MainWindow, qtbot) -> ExportReportDialog:  # type: ignore[no-untyped-def]
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Export report" in a.text())
    action.trigger()
    dialog = window.findChild(ExportReportDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    return dialog


def test_dialog_previews_and_writes_each_format(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(window, qtbot)
    model = window.controller.inventory.id
    preview = dialog.preview.toPlainText()
    assert model in preview and "Summary" in preview and "vllm serve" in preview
    chart = dialog.preview.document().resource(QTextDocument.ResourceType.ImageResource, QUrl("chart:memory-bars"))
    assert chart is not None and not chart.isNull()  # the SVG chart drawn for the preview
    dialog.set_format(".csv")
    assert dialog.preview.toPlainText().startswith("precision,bits_per_weight,")
    assert not dialog.paper.isEnabled()
    dialog.set_format(".html")
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    dialog.path.setText(str(target))
    with qtbot.waitSignal(dialog.accepted, timeout=20000):
        dialog.export_button.click()
    assert dialog.written == [target]
    text = target.read_text()
    assert model in text and "<svg" in text
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=5000)


def test_dialog_records_a_command_that_plans_the_same(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.state.set_workload(context=8192, batch=2)
    qtbot.waitUntil(lambda: window.controller.plan is not None and window.controller.plan.workload.batch == 2,
                    timeout=10000)
    dialog = _dialog(window, qtbot)
    dialog.set_format(".json")
    target = tmp_path / "plan.json"
    dialog.path.setText(str(target))
    with qtbot.waitSignal(dialog.accepted, timeout=20000):
        dialog.export_button.click()
    data = json.loads(target.read_text())
    argv = shlex.split(data["report"]["command"])
    args = _build_parser().parse_args(argv[1:])
    assert workload_from_args(args, window.controller.inventory) == window.state.request.workload
    assert str(args.report) == str(target) and args.gpu == list(window.state.request.gpus)


def test_dialog_shows_a_write_error_and_stays_open(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(window, qtbot)
    dialog.set_format(".pdf")
    dialog.path.setText("/proc/quantplanner-report.pdf")
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=20000)
    assert "cannot write report" in dialog.error.text() and "\n" not in dialog.error.text()
    assert dialog.isVisible() and dialog.export_button.isEnabled()
    assert not Path("/proc/quantplanner-report.pdf").exists()
