"""Right-click on a chart: Save image as PNG or SVG, and Copy image (to paste into a document or chat)."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from quantcore.errors import BadInputError


def save_plot(plot: pg.PlotWidget, path: str | Path) -> Path:
    """Write the chart as .png (at the screen's pixel density) or .svg, atomically (temp name, then rename)."""
    from pyqtgraph.exporters import ImageExporter

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise BadInputError(f"{target.name}: save a chart as .png or .svg")
    if not target.parent.is_dir():
        raise BadInputError(f"{target}: folder {target.parent} does not exist")
    tmp = target.with_name(f".{target.stem}.tmp{suffix}")
    item = plot.getPlotItem()
    try:
        if suffix == ".svg":
            _write_svg(plot, tmp)
        else:
            exporter = ImageExporter(item)
            ratio = plot.devicePixelRatioF() if hasattr(plot, "devicePixelRatioF") else 1.0
            exporter.parameters()["width"] = max(1, int(item.sceneBoundingRect().width() * max(ratio, 1.0)))
            exporter.export(str(tmp))
        if not tmp.exists():
            raise BadInputError(f"{target}: the chart could not be written")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return target


def _write_svg(plot: pg.PlotWidget, path: Path) -> None:
    """pyqtgraph's SVG exporter (vectors, text, the plot area clipped), made to accept the 'Z' (close path)
    commands Qt 6.11's SVG generator writes, which its coordinate fix-up cannot parse."""
    from pyqtgraph.exporters import SVGExporter

    module = sys.modules[SVGExporter.__module__]
    original = module.correctCoordinates
    if not getattr(original, "closes_paths", False):
        def correct(node, defs, item, options):  # type: ignore[no-untyped-def]
            closed = []
            for element in node.getElementsByTagName("path"):
                d = element.getAttribute("d")
                if "Z" in d:
                    closed.append(element)
                    element.setAttribute("d", re.sub(r"\s*Z\s*", " ", d))
            out = original(node, defs, item, options)
            for element in closed:
                element.setAttribute("d", element.getAttribute("d").rstrip() + " Z")
            return out

        correct.closes_paths = True  # type: ignore[attr-defined]
        module.correctCoordinates = correct
    SVGExporter(plot.getPlotItem()).export(str(path))


def copy_plot(plot: pg.PlotWidget) -> None:
    """The chart as it is on screen, to the clipboard."""
    QGuiApplication.clipboard().setImage(plot.grab().toImage())


def menu_for(plot: pg.PlotWidget, name: str, parent: QWidget | None = None, on_error=None) -> QMenu:  # type: ignore[no-untyped-def]
    """The chart's context menu: Save image as PNG..., Save image as SVG..., Copy image."""
    menu = QMenu(parent or plot)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "chart"

    def ask_and_save(suffix: str) -> None:
        kind = suffix[1:].upper()
        path, _ = QFileDialog.getSaveFileName(parent or plot, f"Save chart as {kind}", stem + suffix,
                                              f"{kind} image (*{suffix})")
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            save_plot(plot, path)
        except BadInputError as exc:
            if on_error is not None:
                on_error(str(exc))

    menu.addAction("Save image as PNG...", lambda: ask_and_save(".png"))
    menu.addAction("Save image as SVG...", lambda: ask_and_save(".svg"))
    menu.addSeparator()
    menu.addAction("Copy image", lambda: copy_plot(plot))
    return menu


def install(plot: pg.PlotWidget, name: str, on_error=None) -> None:  # type: ignore[no-untyped-def]
    """Right-click anywhere on the chart opens its menu (pyqtgraph's own view menu stays off)."""
    plot.setMenuEnabled(False)
    plot.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    plot.customContextMenuRequested.connect(
        lambda pos: menu_for(plot, name, on_error=on_error).exec(plot.mapToGlobal(QPoint(pos))))
