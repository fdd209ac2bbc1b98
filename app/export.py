"""File > Export report: choose a format (PDF, HTML, Markdown, CSV, JSON) and paper, see a preview, write it in a
worker. The preview is the report's own document drawn by a QTextBrowser, charts rasterized from their SVG."""
from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QSize, Qt, QUrl
from PySide6.QtGui import QImage, QPainter, QTextDocument
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.workers import Worker
from quantcore.errors import one_line
from quantcore.model.inventory import Inventory
from quantcore.planner.hardware import GPU
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.report.command import plan_command
from quantcore.report.content import build_document
from quantcore.report.data import report_dict
from quantcore.report.document import Bullets, Chart, Code, Document, Facts, Heading, Para, Span, Table
from quantcore.report.svg import to_svg
from quantcore.report.tabular import render_csv, render_json
from quantcore.report.write import write_report

FORMATS = (("PDF document (.pdf)", ".pdf"), ("Web page, one file (.html)", ".html"),
           ("Markdown + SVG charts (.md)", ".md"), ("CSV, one row per precision x GPU (.csv)", ".csv"),
           ("Plan JSON, re-renderable (.json)", ".json"))
PREVIEW_CHART_SCALE = 1.6  # points to preview pixels
PREVIEW_LINES = 200


def export_data(inventory: Inventory, workload: Workload, gpus: tuple[GPU, ...], unit: str,
                hidden: tuple[str, ...] = (), catalog: tuple[GPU, ...] | None = None,
                report: str | None = None) -> tuple[dict[str, Any], Callable[[str], str]]:
    """The plan dict a report is made of, for what the window shows (its chosen GPUs and ticked precisions), and
    the command that regenerates it given the report's path."""
    plan = make_plan(inventory, workload, None, gpus, hidden=hidden)
    precisions = [r.precision.id for r in plan.rows] if hidden else None

    def command_for(path: str | None) -> str:
        return plan_command(inventory.id, plan_dict_workload(workload), [g.id for g in gpus], precisions=precisions,
                            report=path, unit=unit)

    data = report_dict(plan, command=command_for(report), precisions_requested=precisions, unit=unit,
                       catalog=catalog)
    return data, command_for


def plan_dict_workload(w: Workload) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(w).items()}


def default_name(model_id: str, suffix: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_") + "-plan" + suffix


class ExportReportDialog(QDialog):
    """Format, paper and file on top, the preview below; Export writes in a worker and closes when done."""

    def __init__(self, data: dict[str, Any], parent: QWidget | None = None, folder: str = "",
                 command_for: Callable[[str], str] | None = None) -> None:
        """command_for(path): the CLI command that regenerates the report written at path (stored in it). The
        report is written by a daemon-thread Worker (app.workers): a write stuck on a hung share never keeps the
        process alive."""
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.data = data
        self.command_for = command_for
        self.written: list[Path] = []
        self._worker: Worker | None = None
        self.doc: Document = build_document(data)
        self.format = QComboBox()
        for text, suffix in FORMATS:
            self.format.addItem(text, suffix)
        self.paper = QComboBox()
        self.paper.addItem("A4", "a4")
        self.paper.addItem("US Letter", "letter")
        self.path = QLineEdit(str(Path(folder or Path.home()) / default_name(str(data["model"]["id"]), ".pdf")))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self.browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Paper", self.paper)
        form.addRow("File", where)
        self.preview = QTextBrowser()
        self.preview.setOpenLinks(False)
        self.preview.setMinimumSize(QSize(640, 420))
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names: never markup
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel { color: #c62828; }")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Preview"))
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.resize(900, 760)
        self._format_changed()

    # --- choices ----------------------------------------------------------------------------------------------
    def suffix(self) -> str:
        return str(self.format.currentData())

    def set_format(self, suffix: str) -> None:
        i = self.format.findData(suffix)
        if i >= 0:
            self.format.setCurrentIndex(i)

    def _format_changed(self) -> None:
        suffix = self.suffix()
        self.paper.setEnabled(suffix == ".pdf")
        text = self.path.text().strip()
        if text:
            try:
                self.path.setText(str(Path(text).with_suffix(suffix)))
            except ValueError:  # a path with no file name ('/'): leave it for the user to fix
                pass
        self.show_preview()

    def browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export report", self.path.text(),
                                              f"{self.format.currentText()} (*{self.suffix()})")
        if name:
            self.path.setText(name if name.lower().endswith(self.suffix()) else name + self.suffix())

    # --- preview ----------------------------------------------------------------------------------------------
    def show_preview(self) -> None:
        suffix = self.suffix()
        if suffix in (".csv", ".json"):
            text = render_csv(self.data) if suffix == ".csv" else render_json(self.data)
            lines = text.splitlines()
            more = f"\n... {len(lines) - PREVIEW_LINES:,} more lines" if len(lines) > PREVIEW_LINES else ""
            self.preview.setPlainText("\n".join(lines[:PREVIEW_LINES]) + more)
            return
        document = self.preview.document()
        for fig in self.doc.charts():
            document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"chart:{fig.name}"),
                                 chart_image(to_svg(fig), fig.width * PREVIEW_CHART_SCALE,
                                             fig.height * PREVIEW_CHART_SCALE))
        self.preview.setHtml(preview_html(self.doc))

    # --- writing ----------------------------------------------------------------------------------------------
    def export(self) -> None:
        """Write the report in a worker (a PDF takes a fraction of a second; never the GUI thread's problem)."""
        if not self.path.text().strip():
            self._fail("Choose a file to write.")
            return
        target = Path(self.path.text().strip())
        try:
            target = target.expanduser()
        except RuntimeError:  # ~user of an unknown user: written as typed (and refused if that cannot be)
            pass
        self.export_button.setEnabled(False)
        self.error.hide()
        data = self.data
        if self.command_for is not None and isinstance(data.get("report"), dict):
            data = {**data, "report": {**data["report"], "command": self.command_for(str(target))}}
        worker = Worker(write_report, target, data, None, str(self.paper.currentData()), what="writing the report")
        worker.signals.result.connect(self._done)
        worker.signals.error.connect(self._fail)
        self._worker = worker
        worker.start()

    def _done(self, written: list[Path]) -> None:
        self.written = list(written)
        self.export_button.setEnabled(True)
        self.accept()

    def _fail(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.error.setText(one_line(message))
        self.error.show()


def chart_image(svg: str, width: float, height: float) -> QImage:
    """The SVG drawn into a white image of the given pixel size."""
    image = QImage(int(width), int(height), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def _spans(items: tuple[Span, ...]) -> str:
    return "".join(f"<b>{escape(t)}</b>" if s == "b" else f"<code>{escape(t)}</code>" if s == "code" else escape(t)
                   for s, t in items)


def preview_html(doc: Document) -> str:
    """The document in the HTML subset QTextBrowser draws (tables, colours, images), every string escaped."""
    head = "#243b53"
    out = [f'<p style="color:#2f6fab; font-weight:bold; font-size:small">QUANTPLANNER PLANNING REPORT</p>'
           f'<h1 style="margin:0">{escape(doc.model_id)}</h1><p style="color:#5f6b7a">{escape(doc.subtitle)}</p><hr>']
    for blk in doc.blocks:
        if isinstance(blk, Heading):
            tag = "h2" if blk.level == 1 else "h3"
            out.append(f'<{tag} style="color:{head}">{escape(blk.text)}</{tag}>')
        elif isinstance(blk, Para):
            style = ' style="background-color:#f0f6fc"' if blk.kind == "lead" else \
                ' style="color:#5f6b7a"' if blk.kind == "note" else ""
            out.append(f"<p{style}>{_spans(blk.spans)}</p>")
        elif isinstance(blk, Facts):
            rows = "".join(f'<tr><td style="color:#5f6b7a"><b>{escape(k)}</b></td><td>'
                           f"{('<code>' + escape(v) + '</code>') if k in blk.mono else escape(v)}</td></tr>"
                           for k, v in blk.rows)
            out.append(f'<table cellspacing="0" cellpadding="3">{rows}</table>')
        elif isinstance(blk, Table):
            align = {"l": "left", "r": "right", "c": "center"}
            hdr = "".join(f'<th align="{align[blk.alignment(i)]}" style="background-color:{head}; color:white">'
                          f"{escape(h)}</th>" for i, h in enumerate(blk.headers))
            body = []
            for k, r in enumerate(blk.rows):
                cells = []
                for i, c in enumerate(r):
                    shade = blk.shade[k][i] if blk.shade and blk.shade[k][i] else ("#f5f7fa" if k % 2 else "")
                    bg = f' style="background-color:{shade}"' if shade else ""
                    text = f"<b>{escape(c)}</b>" if k in blk.bold_rows else escape(c)
                    cells.append(f'<td align="{align[blk.alignment(i)]}"{bg}>{text}</td>')
                body.append("<tr>" + "".join(cells) + "</tr>")
            out.append(f'<table width="100%" cellspacing="0" cellpadding="3"><tr>{hdr}</tr>{"".join(body)}</table>')
            if blk.caption:
                out.append(f'<p style="color:#5f6b7a; font-size:small">{escape(blk.caption)}</p>')
        elif isinstance(blk, Chart):
            w = int(blk.figure.width * PREVIEW_CHART_SCALE)
            out.append(f'<p><img src="chart:{escape(blk.figure.name)}" width="{w}"></p>')
            if blk.caption:
                out.append(f'<p style="color:#5f6b7a; font-size:small">{escape(blk.caption)}</p>')
        elif isinstance(blk, Code):
            out.append(f"<p><b>{escape(blk.title)}</b></p>" if blk.title else "")
            out.append(f'<pre style="background-color:#f6f8fa">{escape(blk.text)}</pre>')
        elif isinstance(blk, Bullets):
            out.append("<ul>" + "".join(f"<li>{_spans(i)}</li>" for i in blk.items) + "</ul>")
    return "".join(out)
