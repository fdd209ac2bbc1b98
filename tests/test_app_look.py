"""What the window looks like, measured on its real widgets (pytest-qt, offscreen, shown at 1280x800): readable
plot colours in both themes, a left column that never overflows, cells never elided, GPU labels and legends that
never cover each other or the data, units picked from the magnitude."""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem, QTableView, QWidget  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.plot_style import contrast  # noqa: E402


@pytest.fixture
def shown(qtbot, tmp_path: Path) -> MainWindow:
    """The main window on screen at 1280x800, in the light theme, with its first plan drawn."""
    qs = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    qs.setValue("theme", "light")
    w = MainWindow(qs)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    settle()
    return w


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def _change(qtbot, window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.plan_ready, timeout=10000):
        action()
    settle()


def _load(qtbot, window: MainWindow, spec: str) -> None:
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=20000):
        window.state.set_model(spec, use_hub=False)
    qtbot.waitUntil(lambda: window.controller.plan.inventory is window.controller.inventory, timeout=5000)
    settle()


def _plots(window: MainWindow, legends: bool = False) -> list:
    """Every plot of every tab (with legends=True: those that have a legend; the lab's one-series bars have none)."""
    return [plot for page in window.tab_pages for plot in page.plots
            if not legends or getattr(plot, "legend", None) is not None]


def _tick(qtbot, window: MainWindow, gid: str) -> None:
    panel = window.gpu_panel
    item = next(panel.list.item(i) for i in range(panel.list.count())
                if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == gid)
    _change(qtbot, window, lambda: item.setCheckState(Qt.CheckState.Checked))


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_plot_axes_ticks_titles_and_legends_readable(qtbot, shown: MainWindow, theme: str) -> None:
    if theme == "light":  # switching back from dark must restore readable colours too
        shown.theme_actions["dark"].trigger()
    shown.theme_actions[theme].trigger()
    shown.tabs.setCurrentIndex(2)  # the cost plot is drawn too
    settle()
    for plot in _plots(shown):
        background = plot.backgroundBrush().color().name()
        assert (background == "#ffffff") == (theme == "light")
        item = plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            for colour in (axis.pen().color().name(), axis.textPen().color().name(), axis.labelStyle["color"]):
                assert contrast(colour, background) >= 7, (type(plot).__name__, name, colour, background)
            assert f"color: {axis.labelStyle['color']}" in axis.labelString()
        for _sample, label in (plot.legend.items if getattr(plot, "legend", None) is not None else ()):
            colour = pg.mkColor(label.opts["color"]).name()
            assert contrast(colour, background) >= 7
            assert colour[1:] in label.item.toHtml().lower()  # the colour the text is drawn in


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_left_panel_never_overflows_at_1280x800(qtbot, shown: MainWindow, theme: str, minilm_dir: Path,
                                                tmp_path: Path) -> None:
    """A long local path (facts, recent models) and a theme switch and back: nothing is wider than the column."""
    deep = tmp_path / ("a-very-long-folder-name-for-the-checkpoints-of-my-finetuned-model_" * 2 + "final")
    shutil.copytree(minilm_dir, deep)
    shown.theme_actions["dark" if theme == "light" else "light"].trigger()
    _load(qtbot, shown, str(deep))
    shown.theme_actions[theme].trigger()
    settle()
    scroll = shown.inputs_scroll
    assert scroll.horizontalScrollBar().maximum() == 0
    assert shown.inputs.width() <= scroll.viewport().width()
    for child in shown.inputs.findChildren(QWidget):
        if child.isVisible():
            right = child.mapTo(shown.inputs, child.rect().topRight()).x()
            assert right <= scroll.viewport().width(), (type(child).__name__, right)


def _elided(view: QTableView) -> list[tuple[int, int, str]]:
    """Cells (and headers) whose text is wider than their column."""
    model, delegate = view.model(), view.itemDelegate()
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    out = []
    for col in range(model.columnCount()):
        width = view.columnWidth(col)
        if view.horizontalHeader().sectionSizeHint(col) > width:
            out.append((-1, col, str(model.headerData(col, Qt.Orientation.Horizontal))))
        for row in range(model.rowCount()):
            index = model.index(row, col)
            if delegate.sizeHint(option, index).width() > width:
                out.append((row, col, str(index.data())))
    return out


def test_cells_never_elided_and_columns_refit_after_a_model_change(qtbot, shown: MainWindow) -> None:
    _tick(qtbot, shown, "h100-sxm")
    _load(qtbot, shown, "meta-llama/Llama-3.1-405B")
    for i in range(shown.tabs.count()):  # every table fitted once, then the numbers grow
        shown.tabs.setCurrentIndex(i)
    _change(qtbot, shown, lambda: shown.workload_panel.batch.setValue(64))
    _change(qtbot, shown, lambda: shown.unit_actions["GB"].trigger())
    for i in range(shown.tabs.count()):
        shown.tabs.setCurrentIndex(i)
        settle()
        for view in shown.tabs.widget(i).findChildren(QTableView):
            assert _elided(view) == [], shown.tabs.tabText(i)
    shown.tabs.setCurrentIndex(0)
    view = shown.memory_tab.view
    wide = sum(view.columnWidth(c) for c in range(view.model().columnCount()))
    _load(qtbot, shown, "Qwen/Qwen2.5-0.5B")  # small numbers: the columns are fitted again, narrower
    assert _elided(view) == []
    assert sum(view.columnWidth(c) for c in range(view.model().columnCount())) < wide


def _visible_labels(plot) -> list:  # type: ignore[no-untyped-def]
    return [ln.label for ln in plot.lines if ln.isVisible() and ln.label.toPlainText().strip()]


def test_gpu_labels_never_overlap_and_equal_memory_shares_one(qtbot, shown: MainWindow) -> None:
    for gid in ("rtx-3090", "l4", "a100-40gb-sxm", "l40s"):  # three 24 GB cards, and two close to each other
        _tick(qtbot, shown, gid)
    bars, curves = shown.memory_tab.bars, shown.memory_tab.curves
    for plot in (bars, curves):
        labels = _visible_labels(plot)
        texts = " ".join(label.toPlainText() for label in labels)
        for name in ("RTX 4090", "RTX 3090", "L4", "A100 40GB SXM", "L40S"):
            assert name in texts
        assert any("RTX 4090" in t and "RTX 3090" in t and "L4" in t for t in texts.split("  "))  # one label
        rects = [label.sceneBoundingRect() for label in labels] + [curves.now.label.sceneBoundingRect()] * (
            plot is curves)
        for a, b in itertools.combinations(rects, 2):
            assert not a.intersects(b), (type(plot).__name__, a, b)
        view = plot.getPlotItem().vb.sceneBoundingRect()
        for label in labels:
            assert view.contains(label.sceneBoundingRect().center())


def test_legends_sit_outside_the_plot_area(qtbot, shown: MainWindow) -> None:
    _tick(qtbot, shown, "t4")
    shown.tabs.setCurrentIndex(2)
    settle()
    for plot in _plots(shown, legends=True):
        legend = plot.legend
        assert legend.items, type(plot).__name__
        box, area = legend.sceneBoundingRect(), plot.getPlotItem().vb.sceneBoundingRect()
        assert not box.intersects(area), (type(plot).__name__, box, area)
        assert plot.sceneRect().contains(box) or plot.getPlotItem().sceneBoundingRect().contains(box)


def test_small_model_units_from_magnitude(qtbot, shown: MainWindow, minilm_dir: Path) -> None:
    _load(qtbot, shown, str(minilm_dir))  # 22.7M parameters: megabytes, not 0.0x GiB
    # transformers for every row: engine auto plans fp8/MX rows on vLLM, which reserves 90% of the card (GiB)
    _change(qtbot, shown, lambda: shown.state.set_workload(engine="hf"))
    model = shown.memory_tab.model
    cells = [model.index(r, c).data() for r in range(model.rowCount()) for c in range(2, model.columnCount())]
    assert any(str(c).endswith(" MiB") for c in cells)
    assert not [c for c in cells if str(c).startswith("0.00")]
    for plot in (shown.memory_tab.bars, shown.memory_tab.curves):
        for name in ("left", "bottom"):
            assert "(x" not in plot.getAxis(name).labelString()
    assert "memory (MiB)" in shown.memory_tab.curves.getAxis("left").labelString()


def test_bar_labels_never_drawn_over_each_other(qtbot, shown: MainWindow) -> None:
    """Each precision keeps its label while the rows are at least a capital letter apart; closer rows label every
    second (third...) one, the fewest dropped that keeps them apart."""
    from PySide6.QtGui import QFontMetrics

    shown.tabs.setCurrentIndex(2)
    settle()
    line = QFontMetrics(QApplication.font()).ascent()
    strides = []
    for height in (800, 560):  # a short window makes the rows too close for every label
        shown.resize(1280, height)
        settle()
        for plot in (shown.memory_tab.bars, shown.cost_tab.bars):
            values = [v for v, _text in plot.getAxis("left")._tickLevels[0]]
            low, high = plot.getPlotItem().vb.viewRange()[1]
            pitch = plot.getPlotItem().vb.height() / (high - low)
            stride = round(values[1] - values[0])
            assert all(round(b - a) == stride for a, b in zip(values, values[1:]))
            assert stride * pitch >= line  # apart
            assert stride == 1 or (stride - 1) * pitch < line  # no more dropped than needed
            assert len(plot.full_ticks) == 23 and values[0] == 0
            strides.append(stride)
    assert strides[-1] > 1  # the short window did drop some

def test_dark_theme_keeps_disabled_boxes_dark(qtbot, shown: MainWindow) -> None:
    from PySide6.QtGui import QPalette

    shown.theme_actions["dark"].trigger()
    settle()
    assert not shown.workload_panel.optimizer.isEnabled()  # inference: the training options are disabled
    palette = shown.workload_panel.optimizer.palette()
    group = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Button, QPalette.ColorRole.Window):
        assert palette.color(group, role).lightness() < 80, role
    assert contrast(palette.color(group, QPalette.ColorRole.Text).name(),
                    palette.color(group, QPalette.ColorRole.Base).name()) >= 3
