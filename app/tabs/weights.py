"""The Weights tab: the open model's tensors as a tree (filter, group by layer or role), the histogram of the
selection with a precision's levels and outlier statistics, and the error view of chosen precisions on one tensor.
Weights are read from local files; a Hub repo's tensor or shard is fetched only on an explicit action that says
how many bytes it will fetch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.tabs.labkit import Job, JobStatus, PrecisionPicker, local_weights
from app.tabs.weights_jobs import errors_job, fetch_job, histogram_job, locate_job
from app.tabs.weights_view import ErrorView, HistogramView
from quantcore.errors import one_line
from quantcore.units import format_bytes

NAME = Qt.ItemDataRole.UserRole + 1  # a leaf's tensor name


class WeightsTab(QWidget, JobStatus):
    title = "Weights"
    empty_until_run = True  # its tables fill when the user asks (the self-test expects no rows)
    error = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.inventory: Any = None
        self.spec = ""
        self.source: Path | None = None  # local weights
        self.hub_repo: str | None = None
        self.fetched: dict[str, Any] = {}  # tensors fetched from the Hub (MemoryRef), by name
        self.located: dict[str, Any] = {}  # RemoteTensor by name
        self.last_histogram: dict[str, Any] | None = None
        self.last_errors: tuple[str, list[Any]] | None = None
        self._tree_stale = False
        self.hist_job, self.err_job = Job("the weight histogram"), Job("the error view")
        self.locate_job, self.hub_job = Job("finding a tensor on the Hub"), Job("fetching from the Hub")

        self.filter = QLineEdit(placeholderText="filter tensors (name part)")
        self.group = QComboBox()
        self.group.addItems(["group by layer", "group by role", "flat list"])
        self.tree_model = QStandardItemModel()
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.tree_model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideLeft)  # the end of a name tells tensors of a layer apart
        self.fetch_tensor = QPushButton("Fetch this tensor")
        self.fetch_shard = QPushButton("Download its shard")
        self.hub_label = QLabel()
        self.hub_label.setTextFormat(Qt.TextFormat.PlainText)  # tensor and repo names from the Hub: never markup
        self.hub_label.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.filter, 1)
        row.addWidget(self.group)
        ll.addLayout(row)
        ll.addWidget(self.tree, 1)
        ll.addWidget(self.hub_label)
        hub_row = QHBoxLayout()
        hub_row.addWidget(self.fetch_tensor)
        hub_row.addWidget(self.fetch_shard)
        ll.addLayout(hub_row)

        self.precision = PrecisionPicker(("nf4",), single=True)
        self.log = QCheckBox("log counts")
        self.zoom = QCheckBox("p0.1-p99.9")
        self.zoom.setChecked(True)
        self.zoom.setToolTip("Draw the central range only (a heavy tail would squeeze the bulk into a few bins); "
                             "the statistics stay those of every value")
        self.one_block = QCheckBox("one block:")
        self.block = QSpinBox()
        self.block.setRange(0, 2**31 - 1)
        self.error_precisions = PrecisionPicker(("fp8", "int8", "nf4", "int4-g128", "mxfp4", "binary"))
        self.compute = QPushButton("Compute errors")
        self.cancel = QPushButton("Cancel")
        self._make_status(160)
        self.block.setMaximumWidth(80)
        controls = QHBoxLayout()
        for w in (self.precision, self.log, self.zoom, self.one_block, self.block):
            controls.addWidget(w)
        controls.addStretch(1)
        for w in (self.progress, self.cancel):
            controls.addWidget(w)
        self.hist_view, self.error_view = HistogramView(), ErrorView()
        self.error_view.controls.addWidget(self.error_precisions)
        self.error_view.controls.addWidget(self.compute)
        self.plots = (self.hist_view.plot, *self.error_view.plots)
        self.view = self.error_view.view  # Edit > Copy cells copies from it when no table has the focus
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(controls)
        rl.addWidget(self.status)
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.hist_view)
        views.addWidget(self.error_view)
        views.setSizes([330, 420])
        rl.addWidget(views, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([330, 900])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._wire()
        self._busy(False)
        self._show_hub(None)

    def _wire(self) -> None:
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.group.currentIndexChanged.connect(lambda _i: self._fill_tree())
        self.tree.selectionModel().selectionChanged.connect(lambda *_: self.refresh_histogram())
        for w in (self.precision,):
            w.changed.connect(self.refresh_histogram)
        self.log.toggled.connect(lambda _on: self._redraw())
        self.zoom.toggled.connect(lambda _on: self._redraw())
        self.one_block.toggled.connect(lambda _on: self.refresh_histogram())
        self.block.valueChanged.connect(lambda _v: self.one_block.isChecked() and self.refresh_histogram())
        self.compute.clicked.connect(self.compute_errors)
        self.cancel.clicked.connect(self.cancel_jobs)
        self.fetch_tensor.clicked.connect(lambda: self._hub_fetch(shard=False))
        self.fetch_shard.clicked.connect(lambda: self._hub_fetch(shard=True))
        for job in self.jobs:
            job.progress.connect(self._progress)
            job.failed.connect(self._failed)
            job.running_changed.connect(lambda _on: self._busy(self.running))
        self.hist_job.done.connect(self._histogram_done)
        self.err_job.done.connect(self._errors_done)
        self.locate_job.done.connect(self._located)
        self.hub_job.done.connect(self._fetched)

    @property
    def jobs(self) -> tuple[Job, ...]:
        return (self.hist_job, self.err_job, self.locate_job, self.hub_job)

    @property
    def running(self) -> bool:
        return any(j.running for j in self.jobs)

    # --- the model --------------------------------------------------------------------------------------------
    def set_model(self, spec: str, inventory: Any) -> None:
        """A newly loaded model: its tensors (the tree is filled when the tab is next shown)."""
        from quantcore.sources.source import parse_repo_spec

        self.cancel_jobs()
        self.spec, self.inventory = spec, inventory
        self.source = local_weights(spec)
        repo = parse_repo_spec(spec) if self.source is None else None
        self.hub_repo = repo[0] if repo and repo[1] is None and inventory.source == "safetensors" else None
        self.fetched, self.located = {}, {}
        self._tree_stale = True
        if self.isVisible():
            self._fill_tree()

    def update_plan(self, plan: Any, selected: tuple[int, ...], unit: str) -> None:
        """The plan does not change the weights; nothing to redraw."""

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._tree_stale:
            self._fill_tree()

    def _fill_tree(self) -> None:
        self._tree_stale = False
        m = self.tree_model
        m.clear()
        m.setHorizontalHeaderLabels(["tensor", "shape", "dtype", "bytes", "role"])
        if self.inventory is None:
            return
        tensors = [t for t in self.inventory.tensors if t.role != "buffer"]
        root = m.invisibleRootItem()
        everything = self._group_item(f"whole model ({len(tensors)} tensors)", tensors)
        root.appendRow(everything)
        mode = self.group.currentIndex()
        groups: dict[str, list[Any]] = {}
        for t in tensors:
            key = (f"layer {t.layer}" if t.layer is not None else "outside the layers") if mode == 0 else t.role
            groups.setdefault(key, []).append(t)
        if mode == 2:
            for t in tensors:
                root.appendRow(self._leaf(t))
        else:
            order = sorted(groups, key=lambda k: (k.startswith("outside"), int(k.split()[1]) if k.startswith("layer ")
                                                  else 0, k))
            for key in order:
                item = self._group_item(f"{key} ({len(groups[key])})", groups[key])
                for t in groups[key]:
                    item[0].appendRow(self._leaf(t))
                root.appendRow(item)
        self.tree.expandToDepth(-1)
        for col in range(1, 5):
            self.tree.resizeColumnToContents(col)
        self.tree.setColumnWidth(0, 240)
        if self.source is None and self.hub_repo is None:
            self._say(f"{self.spec}: no weights here (planned from {self.inventory.source}); open a local folder, "
                      ".safetensors or .gguf, or a Hub repo with safetensors, to see its weights.", error=False)

    def _group_item(self, text: str, tensors: list[Any]) -> list[QStandardItem]:
        item = QStandardItem(text)
        item.setEditable(False)
        item.setData([t.name for t in tensors], NAME)
        nbytes = QStandardItem(format_bytes(sum(t.stored_bytes for t in tensors), "MiB"))
        return [item, QStandardItem(""), QStandardItem(""), nbytes, QStandardItem("")]

    def _leaf(self, t: Any) -> list[QStandardItem]:
        cells = [t.name, " x ".join(map(str, t.shape)), t.dtype, f"{t.stored_bytes:,}", t.role]
        items = [QStandardItem(c) for c in cells]
        for it in items:
            it.setEditable(False)
        items[0].setData([t.name], NAME)
        items[3].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return items

    def selected_names(self) -> list[str]:
        """The tensors under the selected row, as filtered (a tensor, a layer, a role, or the whole model)."""
        rows = self.tree.selectionModel().selectedRows(0)
        if not rows:
            return []
        index = rows[0]
        names = index.data(NAME) or []
        if self.filter.text() and self.proxy.rowCount(index):  # a group as filtered: its visible tensors
            names = [n for r in range(self.proxy.rowCount(index)) for n in self.proxy.index(r, 0, index).data(NAME)]
        return list(names)

    def select_tensor(self, name: str) -> None:
        """Select the tree row of one tensor (or a group by its label's start)."""
        matches = self.proxy.match(self.proxy.index(0, 0), Qt.ItemDataRole.DisplayRole, name, 1,
                                   Qt.MatchFlag.MatchRecursive | Qt.MatchFlag.MatchStartsWith)
        if matches:
            self.tree.setCurrentIndex(matches[0])

    # --- jobs ---------------------------------------------------------------------------------------------------
    def refresh_histogram(self) -> None:
        names = self.selected_names()
        self._show_hub(names[0] if len(names) == 1 and self.hub_repo else None)
        if not names:
            return
        if self.source is None:
            names = [n for n in names if n in self.fetched]
            if not names:
                if self.hub_repo is None:
                    self._say("no weights here to draw", error=False)
                return
        pid = (self.precision.chosen() or [None])[0]
        block = self.block.value() if self.one_block.isChecked() else None
        self._say(f"reading {len(names)} tensor(s) ...", error=False)
        self.hist_job.start(histogram_job, self.source, names, dict(self.fetched), pid, block)

    def compute_errors(self) -> None:
        names = [n for n in self.selected_names() if self.source is not None or n in self.fetched]
        infos = {t.name: t for t in self.inventory.tensors} if self.inventory else {}
        matrices = [n for n in names if n in infos and len(infos[n].shape) >= 2]
        if not matrices:
            self._say("select a weight matrix (2-D) to see its quantization errors", error=True)
            return
        precisions = self.error_precisions.chosen()
        if not precisions:
            self._say("choose at least one precision for the error view", error=True)
            return
        self.err_job.start(errors_job, self.source, matrices[0], dict(self.fetched), precisions, infos[matrices[0]],
                           self.inventory.arch)

    def cancel_jobs(self) -> None:
        for job in self.jobs:
            job.cancel()
        self.status.setText("cancelled" if self.status.text() else "")

    def _histogram_done(self, out: dict[str, Any]) -> None:
        self.last_histogram = out
        self._redraw()
        self._say("", error=False)

    def _redraw(self) -> None:
        out = self.last_histogram
        if out is None:
            return
        sel = out["selection"]
        h = sel.central if self.zoom.isChecked() and sel.central is not None else sel.histogram
        self.hist_view.show_histogram(h, out["levels"], out["note"], sel.summary(), out["block_values"],
                                      self.log.isChecked())

    def _errors_done(self, out: tuple[str, list[Any], list[tuple[str, str]]]) -> None:
        name, errors, failed = out
        self.last_errors = (name, errors)
        self.error_view.show_errors(name, errors, failed)
        self._say("", error=False)

    def _busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel.setEnabled(on)
        if not on:
            self.progress.setValue(0)

    # --- the Hub ------------------------------------------------------------------------------------------------
    def _show_hub(self, name: str | None) -> None:
        hub = self.hub_repo is not None and name is not None and name not in self.fetched
        for w in (self.fetch_tensor, self.fetch_shard, self.hub_label):
            w.setVisible(hub)
        if not hub:
            return
        info = next((t for t in self.inventory.tensors if t.name == name), None)
        size = info.stored_bytes if info is not None else 0
        self.fetch_tensor.setText(f"Fetch this tensor ({size:,} bytes)")
        rt = self.located.get(name)
        self.fetch_shard.setEnabled(rt is not None)
        self.fetch_shard.setText(f"Download {rt.filename} ({rt.shard_size or 0:,} bytes)" if rt else
                                 "Download its shard (finding it ...)")
        self.hub_label.setText(f"{one_line(name, 300)} is on the Hub ({self.hub_repo}): nothing is downloaded until "
                               "you ask.")
        if rt is None:
            self.locate_job.start(locate_job, self.hub_repo, name)

    def _located(self, rt: Any) -> None:
        self.located[rt.name] = rt
        names = self.selected_names()
        self._show_hub(names[0] if len(names) == 1 else None)

    def _hub_fetch(self, shard: bool) -> None:
        names = self.selected_names()
        if len(names) != 1 or self.hub_repo is None:
            return
        self.hub_job.start(fetch_job, self.hub_repo, names[0], shard)

    def _fetched(self, refs: dict[str, Any]) -> None:
        self.fetched.update(refs)
        self.refresh_histogram()
