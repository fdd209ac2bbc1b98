"""The main window: wires the panels, the controller, the tables and the plots together; computes nothing."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import plot_menu, plot_style
from app import settings as store
from app import theme as themes
from app.about import AboutDialog
from app.controller import Controller
from app.menus import build_menus
from app.export import ExportReportDialog, export_data
from app.hub_mode import HubMode
from app.messages import gui_text
from app.panels.gpus import CustomGpuDialog, GpuPanel, custom_gpu
from app.panels.model import ModelPanel, open_model_dialog
from app.panels.precisions import PrecisionPanel
from app.panels.workload import WorkloadPanel
from app.state import AppState
from app.tabs.best import BestTab
from app.tabs.cost import CostTab
from app.tabs.fit import FitTab
from app.tabs.lab import LabTab
from app.tabs.memory import MemoryTab
from app.tabs.weights import WeightsTab
from quantcore.errors import QuantPlannerError, one_line
from quantcore.planner.advice import recommendation
from quantcore.planner.hardware import GPU, save_user_gpu
from quantcore.planner.plan import Plan
from quantcore.report.write import write_report
from quantcore.sources.bundled import find_bundled

BANNER_STYLE = "QLabel { background: #c62828; color: white; padding: 6px; border-radius: 4px; }"


class MainWindow(QMainWindow):
    def __init__(self, qsettings: QSettings | None = None) -> None:
        super().__init__()
        self.qsettings = qsettings or store.settings()
        self.setWindowTitle("QuantPlanner")
        self.setAcceptDrops(True)
        self.state = AppState(store.load_request(self.qsettings))
        self.hub_mode = HubMode(self.qsettings)  # online unless HF_HUB_OFFLINE or View > Work offline
        self.controller = Controller(self.state)
        self.theme = store.theme(self.qsettings)

        # inputs
        self.model_panel = ModelPanel(self.state)
        self.workload_panel = WorkloadPanel(self.state)
        self.gpu_panel = GpuPanel(self.state)
        self.gpu_panel.set_catalog(self.controller.gpus)
        self.precision_panel = PrecisionPanel(self.state)
        inputs = self.inputs = QWidget()
        col = QVBoxLayout(inputs)
        for panel in (self.model_panel, self.workload_panel, self.gpu_panel, self.precision_panel):
            col.addWidget(panel)
        col.addStretch(1)
        for box in inputs.findChildren(QComboBox):  # a long entry (a recent file path) never widens the column
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)
        # the scroll area sizes the column to its width and the height the wrapped labels need at that width
        scroll = self.inputs_scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inputs)
        scroll.setMinimumWidth(340)

        # outputs
        self.banner = QLabel()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and ids: never markup
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.memory_tab, self.fit_tab, self.cost_tab = MemoryTab(), FitTab(), CostTab()
        self.best_tab = BestTab()
        self.weights_tab, self.lab_tab = WeightsTab(), LabTab()
        self.tab_pages = (self.memory_tab, self.fit_tab, self.cost_tab, self.best_tab, self.weights_tab, self.lab_tab)
        self._stale: set[int] = set()  # tabs whose widgets still show an older plan
        self.tabs = QTabWidget()
        for page in self.tab_pages:
            self.tabs.addTab(page, page.title)
        right = QWidget()
        out = QVBoxLayout(right)
        out.setContentsMargins(4, 4, 4, 4)
        out.addWidget(self.banner)
        out.addWidget(self.advice)
        out.addWidget(self.tabs, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([360, 1000])
        self.setCentralWidget(split)

        self.busy_label = QLabel()
        self.busy_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.timing_label = QLabel()
        self.statusBar().addWidget(self.busy_label, 1)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.statusBar().addPermanentWidget(self.timing_label)
        build_menus(self)
        self._wire()
        for page in self.tab_pages:
            for plot in page.plots:
                plot_menu.install(plot, type(plot).__name__, on_error=self.show_error)
        self._style_plots()
        geometry = self.qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        self.model_panel.show_hub_status(self.hub_mode.text())
        self.hub_mode.probe()  # online: is the Hub there? if not, fall back to working offline by itself
        self.model_panel.set_recent(store.recent(self.qsettings))
        self.state.use_hub = find_bundled(self.state.request.model) is None
        self.controller.load(self.state.request.model)

    # --- wiring -----------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        c = self.controller
        c.plan_ready.connect(self.show_plan)
        c.inventory_ready.connect(self.show_inventory)
        c.error.connect(self.show_error)
        c.busy.connect(self.show_busy)
        self.cancel_button.clicked.connect(c.cancel_load)
        self.tabs.currentChanged.connect(self._render_tab)
        self.workload_panel.error.connect(self.show_error)
        self.model_panel.open_requested.connect(self.open_file)
        self.model_panel.open_folder_requested.connect(self.open_folder)
        self.gpu_panel.add_requested.connect(self.add_gpu)
        self.gpu_panel.edit_requested.connect(self.edit_gpu)
        self.model_panel.search_requested.connect(self.search)
        c.search_results.connect(self.model_panel.show_search_results)
        c.search_failed.connect(lambda msg: self.model_panel.show_hub_status(
            "Hub search: " + gui_text(msg, self.hub_mode.reason)))
        c.progress.connect(self.show_progress)
        self.hub_mode.changed.connect(self.model_panel.show_hub_status)
        # an error is about the action that failed: the next action clears it
        for signal in (self.state.changed, self.state.model_changed, self.tabs.currentChanged,
                       self.model_panel.search_requested):
            signal.connect(self.clear_error)
        for lab_page in (self.weights_tab, self.lab_tab):
            lab_page.error.connect(self.show_error)
        self.lab_tab.mixture_changed.connect(self.controller.set_mixture)

    # --- rendering --------------------------------------------------------------------------------------------
    def show_inventory(self, inv: object) -> None:
        self.model_panel.show_inventory(inv)  # type: ignore[arg-type]
        for lab_page in (self.weights_tab, self.lab_tab):
            lab_page.set_model(self.state.request.model, inv)
        store.add_recent(self.qsettings, self.state.request.model, self.state.use_hub)
        self.model_panel.set_recent(store.recent(self.qsettings))
        arch = getattr(inv, "arch", None)
        known = bool(arch and arch.max_context)
        self.workload_panel.set_context_limit(arch.max_context if known else 1 << 20, known)  # type: ignore[union-attr]
        self._clear_status_error()

    def show_plan(self, plan: Plan) -> None:
        """Render a new plan: the visible tab now, the others when they are next shown."""
        self.banner.hide()
        self._clear_status_error()
        selected = self.controller.selected
        gpus = plan.rows[0].gpu_list if plan.rows else ()
        if selected:
            self.advice.setText("<b>Recommendation:</b> " + html.escape(recommendation(plan, selected[0])))
        else:
            self.advice.setText("Tick a GPU on the left to see what fits.")
        self.timing_label.setText(f"plan: {len(plan.rows)} precisions x {len(gpus)} GPUs in "
                                  f"{self.controller.last_recompute_ms:.1f} ms")
        self._stale = set(range(len(self.tab_pages)))
        self._render_tab(self.tabs.currentIndex())

    def _render_tab(self, index: int) -> None:
        plan = self.controller.plan
        if plan is None or index not in self._stale:
            return
        self._stale.discard(index)
        self.tab_pages[index].update_plan(plan, self.controller.selected, self.state.request.unit)

    def show_error(self, message: str) -> None:
        """The engine's one-line message, worded for the window (what to click, never a command to run); one line,
        and the banner is a plain-text label (file names and ids are never markup)."""
        message = one_line(gui_text(message, self.hub_mode.reason))
        self.banner.setText(message)
        self.banner.show()
        self.statusBar().showMessage("Error: " + message, 10000)

    def clear_error(self, *_args: object) -> None:
        """Hide the banner and the status bar's error line (the user has moved on)."""
        self.banner.hide()
        self._clear_status_error()

    def _clear_status_error(self) -> None:
        if self.statusBar().currentMessage().startswith("Error: "):
            self.statusBar().clearMessage()

    def search(self, query: str) -> None:
        self.hub_mode.search(query, self.controller.search)

    def show_busy(self, text: str) -> None:
        self.busy_label.setText(one_line(text, 300))
        self.cancel_button.setVisible(bool(text))
        if not text:
            self.progress_bar.hide()

    def show_progress(self, text: str, fraction: float) -> None:
        self.busy_label.setText(one_line(text, 300))
        self.progress_bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress_bar.show()

    # --- actions ----------------------------------------------------------------------------------------------
    def open_file(self) -> None:
        path = open_model_dialog(self)
        if path:
            self.state.set_model(path)

    def open_folder(self) -> None:
        path = open_model_dialog(self, folder=True)
        if path:
            self.state.set_model(path)

    def _export_data(self, path: str | None = None) -> tuple[dict, Callable[[str], str]] | None:
        """The report's plan dict for the chosen GPUs and ticked precisions (None before a plan exists)."""
        if self.controller.plan is None or self.controller.inventory is None:
            return None
        request = self.state.request
        gpus = tuple(self.controller.gpus[i] for i in self.controller.selected)
        data, command_for = export_data(self.controller.inventory, request.workload, gpus, request.unit,
                                        request.hidden_precisions, self.controller.gpus, path)
        lab = self.lab_results()
        if lab:
            data["lab"] = lab
        return data, command_for

    def lab_results(self) -> dict:
        """What the Lab and Weights tabs measured this session, as a report's "lab" object."""
        from quantcore.lab.results import error_entry, histogram_entry

        lab = self.lab_tab.lab_dict()
        errors, hist = self.weights_tab.last_errors, self.weights_tab.last_histogram
        if errors:
            lab["errors"] = [error_entry(errors[0], e.precision, e.metrics.as_dict()) for e in errors[1]]
        if hist:
            h = hist["selection"].histogram
            name = h.tensors[0] if len(h.tensors) == 1 else f"{len(h.tensors)} tensors"
            lab["histograms"] = [histogram_entry(name, (self.weights_tab.precision.chosen() or [None])[0], h.edges,
                                                 h.counts, hist["levels"])]
        return lab

    def export_report(self) -> ExportReportDialog | None:
        """File > Export report: the dialog (format, paper, file, preview); writes in a worker."""
        try:
            made = self._export_data()
        except QuantPlannerError as exc:
            self.show_error(str(exc))
            return None
        if made is None:
            return None
        data, command_for = made
        dialog = ExportReportDialog(data, self, str(self.qsettings.value("export_folder", "") or ""),
                                    command_for=command_for)
        dialog.accepted.connect(lambda: self._exported(dialog.written))
        dialog.open()
        return dialog

    def _exported(self, written: list[Path]) -> None:
        if written:
            self.qsettings.setValue("export_folder", str(written[0].parent))
            self.statusBar().showMessage(f"Exported {written[0]}", 5000)

    def export(self, path: str) -> Path | None:
        """Write the report at path directly (format by extension), without the dialog."""
        try:
            made = self._export_data(path)
            if made is None:
                return None
            written = write_report(Path(path), made[0], self.state.request.unit)
        except QuantPlannerError as exc:
            self.show_error(str(exc))
            return None
        self._exported(written)
        return written[0]

    def copy_selection(self) -> None:
        """Copy the selected cells of the visible table as tab-separated text."""
        view = self.focusWidget()
        if not isinstance(view, QTableView):
            view = self.tab_pages[self.tabs.currentIndex()].view
        indexes = sorted(view.selectionModel().selectedIndexes(), key=lambda i: (i.row(), i.column()))
        if not indexes:
            return
        rows: dict[int, list[str]] = {}
        for i in indexes:
            rows.setdefault(i.row(), []).append(str(i.data() or ""))
        QGuiApplication.clipboard().setText("\n".join("\t".join(r) for r in rows.values()))

    def add_gpu(self) -> None:
        dialog = CustomGpuDialog(self)
        if not dialog.exec():
            return
        self.save_custom_gpu(**dialog.values())

    def edit_gpu(self, gid: str) -> None:
        gpu = next((g for g in self.controller.gpus if g.id == gid), None)
        if gpu is None:
            return
        dialog = CustomGpuDialog(self, gpu)
        if dialog.exec():
            self.save_custom_gpu(**dialog.values(), gid=gid)

    def save_custom_gpu(self, name: str, memory_gib: float, bandwidth_gbps: float, fp16_tflops: float,
                        purchase_usd: float | None = None, hourly_usd: float | None = None,
                        gid: str | None = None) -> GPU | None:
        """Save a GPU of the user's own (a new one, or gid's entry replaced) and choose it."""
        gpu = custom_gpu(name, memory_gib, bandwidth_gbps, fp16_tflops, purchase_usd, hourly_usd, gid)
        try:
            save_user_gpu(gpu)
        except QuantPlannerError as exc:
            self.show_error(str(exc))
            return None
        self.controller.reload_gpus()
        self.state.set_gpus(tuple(dict.fromkeys((*self.state.request.gpus, gpu.id))))
        self.gpu_panel.set_catalog(self.controller.gpus)
        return gpu

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.qsettings.setValue("theme", name)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            themes.apply(app, name)
        self._style_plots()

    def _style_plots(self) -> None:
        mode = themes.resolve(self.theme)
        for plot in (plot for page in self.tab_pages for plot in page.plots):
            plot_style.style_plot(plot, mode)

    def about(self) -> AboutDialog:
        dialog = AboutDialog(self.qsettings, self)
        dialog.open()
        return dialog

    def ask_token(self) -> None:
        from app.token_dialog import ask_and_save_token

        self.statusBar().showMessage(ask_and_save_token(self), 8000)

    # --- drag and drop, closing -------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.state.set_model(urls[0])
            event.acceptProposedAction()

    def save_settings(self) -> None:
        store.save_request(self.qsettings, self.state.request)
        store.save_window(self.qsettings, self.saveGeometry(), self.saveState())
        self.qsettings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.cancel_load()
        for lab_page in (self.weights_tab, self.lab_tab):
            lab_page.cancel_jobs()
        self.save_settings()
        self.hub_mode.restore()
        super().closeEvent(event)


def wait_for_plan(window: MainWindow, timeout_ms: int = 20000) -> bool:
    """Spin the event loop until the window has a plan (used by the self-test)."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while window.controller.plan is None and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    return window.controller.plan is not None
