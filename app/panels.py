"""The three input panels: model (bundled list, files, count), workload, and GPUs (catalog + custom)."""
from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.state import AppState
from quantcore.errors import QuantPlannerError
from quantcore.formats.catalog import PRECISIONS, kv_dtype_ids
from quantcore.model.inventory import Inventory
from quantcore.planner.hardware import GPU
from quantcore.sources.bundled import bundled_models
from quantcore.sources.hub import HubModel

MODES = (("inference", "Inference"), ("full", "Full fine-tune"), ("lora", "LoRA"), ("qlora", "QLoRA"))
OPTIMIZERS = (("adamw", "AdamW"), ("adamw8bit", "8-bit AdamW"), ("sgd", "SGD + momentum"), ("adafactor", "Adafactor"))
RECOMPUTE = (("none", "none"), ("selective", "selective"), ("full", "full (checkpointing)"))
ENGINES = (("hf", "transformers"), ("vllm", "vLLM"), ("sglang", "SGLang"), ("llamacpp", "llama.cpp"), ("none", "none"))
COMMON = ("bf16", "fp8", "int8", "nf4", "gptq-4bit-g128", "awq-4bit-g128", "q8_0", "q6_k", "q5_k_m", "q4_k_m",
          "q3_k_m")
TARGETS = (("attn_q,attn_k,attn_v,attn_output", "attention q, k, v, o"), ("all-linear", "all linear layers"))


def filter_list(widget: QListWidget, text: str) -> None:
    """Hide the items that do not contain every word typed (case-insensitive)."""
    words = text.lower().split()
    for i in range(widget.count()):
        item = widget.item(i)
        item.setHidden(not all(w in item.text().lower() for w in words))


def _combo(items: tuple[tuple[str, str], ...]) -> QComboBox:
    box = QComboBox()
    for key, label in items:
        box.addItem(label, key)
    return box


def _select(box: QComboBox, key: object) -> None:
    i = box.findData(key)
    if i >= 0:
        box.setCurrentIndex(i)


class ModelPanel(QGroupBox):
    """Search the Hub, pick a bundled or recent model, open a local file or folder, or type a parameter count;
    shows the facts of the model the plan is built on."""

    open_requested = Signal()
    open_folder_requested = Signal()
    search_requested = Signal(str)

    def __init__(self, state: AppState) -> None:
        super().__init__("Model")
        self.state = state
        self.hub_search = QLineEdit(placeholderText="Search the Hugging Face Hub, e.g. qwen2.5 7b")
        self.hub_search.setClearButtonEnabled(True)
        self.hub_status = QLabel()
        self.hub_status.setWordWrap(True)
        self.completions = QStringListModel()
        completer = QCompleter(self.completions, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.activated.connect(lambda text: self._pick_hub(text.split("  ")[0]))
        self.hub_search.setCompleter(completer)
        self.hub_results = QListWidget()
        self.hub_results.setMaximumHeight(110)
        self.hub_results.hide()
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(350)  # debounce: search once typing pauses
        self.recent = QComboBox()
        self.recent.setPlaceholderText("Recent models")
        self.filter = QLineEdit(placeholderText="Filter bundled models, or type a count like 70B and press Enter")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setMinimumHeight(150)
        for m in bundled_models():
            item = QListWidgetItem(m.id)
            item.setToolTip(f"bundled config.json, taken {m.taken}: plans offline")
            self.list.addItem(item)
        open_file = QPushButton("Open file...")
        open_folder = QPushButton("Open folder...")
        open_file.setToolTip("config.json, .safetensors or .gguf (or drag one onto the window)")
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(open_file)
        buttons.addWidget(open_folder)
        lay = QVBoxLayout(self)
        lay.addWidget(self.hub_search)
        lay.addWidget(self.hub_results)
        lay.addWidget(self.hub_status)
        lay.addWidget(self.recent)
        lay.addWidget(QLabel("Bundled (offline):"))
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        lay.addWidget(self.facts)
        self.hub_search.textEdited.connect(lambda _text: self.search_timer.start())
        self.hub_search.returnPressed.connect(self._hub_enter)
        self.search_timer.timeout.connect(lambda: self.search_requested.emit(self.hub_search.text().strip()))
        self.hub_results.itemActivated.connect(lambda item: self._pick_hub(item.data(Qt.ItemDataRole.UserRole)))
        self.hub_results.itemClicked.connect(lambda item: self._pick_hub(item.data(Qt.ItemDataRole.UserRole)))
        self.recent.activated.connect(self._pick_recent)
        self.filter.textChanged.connect(self._filter)
        self.filter.returnPressed.connect(self._enter)
        self.list.itemActivated.connect(lambda item: state.set_model(item.text(), use_hub=False))
        self.list.itemClicked.connect(lambda item: state.set_model(item.text(), use_hub=False))
        open_file.clicked.connect(self.open_requested)
        open_folder.clicked.connect(self.open_folder_requested)

    def _pick_hub(self, repo_id: str) -> None:
        if repo_id:
            self.state.set_model(repo_id, use_hub=True)

    def _hub_enter(self) -> None:
        """Enter in the search box: a full repo id (org/name) loads it; anything else searches now."""
        text = self.hub_search.text().strip()
        if "/" in text and " " not in text:
            self._pick_hub(text)
        else:
            self.search_timer.stop()
            self.search_requested.emit(text)

    def show_search_results(self, found: tuple[HubModel, ...]) -> None:
        self.hub_results.clear()
        lines = []
        for m in found:
            size = f"{m.parameters / 1e9:,.1f}B, " if m.parameters else ""
            text = f"{m.id}  ({size}{m.downloads:,} downloads{', gated' if m.gated else ''})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            item.setToolTip(f"{m.library or 'unknown library'}; {m.pipeline_tag or ''}; {m.likes:,} likes"
                            + ("; gated: accept the license on the Hub and log in" if m.gated else ""))
            self.hub_results.addItem(item)
            lines.append(text)
        self.completions.setStringList(lines)
        self.hub_results.setVisible(bool(found))
        if found:
            self.hub_status.setText(f"{len(found)} models found on the Hub")

    def show_hub_status(self, text: str) -> None:
        self.hub_status.setText(text)
        self.hub_status.setToolTip(text)

    def set_recent(self, recent: list[tuple[str, bool]]) -> None:
        self.recent.blockSignals(True)
        self.recent.clear()
        for spec, use_hub in recent:
            self.recent.addItem(spec, use_hub)
        self.recent.setCurrentIndex(-1)
        self.recent.blockSignals(False)

    def _pick_recent(self, index: int) -> None:
        if index >= 0:
            self.state.set_model(self.recent.itemText(index), use_hub=bool(self.recent.itemData(index)))

    def _filter(self, text: str) -> None:
        filter_list(self.list, text)

    def _enter(self) -> None:
        text = self.filter.text().strip()
        visible = [self.list.item(i) for i in range(self.list.count()) if not self.list.item(i).isHidden()]
        if len(visible) == 1:
            self.state.set_model(visible[0].text(), use_hub=False)
        else:
            self.state.set_model(text)

    def show_inventory(self, inv: Inventory) -> None:
        self.list.blockSignals(True)
        matches = self.list.findItems(inv.id, Qt.MatchFlag.MatchExactly)
        self.list.setCurrentItem(matches[0] if matches else None)
        if matches:
            self.list.scrollToItem(matches[0])
        self.list.blockSignals(False)
        a = inv.arch
        source = {"safetensors": "exact, from safetensors headers", "gguf": "exact, from the GGUF header",
                  "config": "analytic, from config.json", "count": "a guess from a bare parameter count"}[inv.source]
        rows = [("model", inv.id), ("source", source), ("parameters", f"{inv.parameters:,}")]
        if inv.active_parameters != inv.parameters:
            rows.append(("active / token", f"{inv.active_parameters:,}"))
        if a is not None:
            rows += [("layers", str(a.num_layers)), ("heads / KV heads", f"{a.num_heads} / {a.num_kv_heads}"),
                     ("head_dim", str(a.head_dim)), ("hidden", f"{a.hidden_size:,}"),
                     ("context limit", f"{a.max_context:,}" if a.max_context else "unknown")]
            if a.is_moe:
                rows.append(("experts", f"{a.num_experts} ({a.experts_per_token} per token)"))
            if a.sliding_attention_layers:
                rows.append(("sliding layers", f"{a.sliding_attention_layers} of {a.num_layers} (window {a.sliding_window})"))
            if a.is_mla:
                rows.append(("MLA latent", f"{a.kv_lora_rank} + {a.qk_rope_head_dim} rope"))
        if inv.quantization:
            rows.append(("stored as", inv.quantization))
        html = "".join(f"<tr><td style='padding-right:8px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
        notes = "".join(f"<br><i>{n}</i>" for n in inv.notes)
        self.facts.setText(f"<table>{html}</table>{notes}")


class WorkloadPanel(QGroupBox):
    """Mode, batch, context, KV dtype, training options, sharding and engine preset."""

    error = Signal(str)

    def __init__(self, state: AppState) -> None:
        super().__init__("Workload")
        self.state = state
        self.mode = _combo(MODES)
        self.batch = QSpinBox(minimum=1, maximum=65536)
        self.context = QSpinBox(minimum=1, maximum=1 << 24, singleStep=512)
        self.context.setGroupSeparatorShown(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.kv = QComboBox()
        for k in kv_dtype_ids():
            self.kv.addItem(k, k)
        self.flash = QCheckBox("flash attention")
        self.optimizer = _combo(OPTIMIZERS)
        self.recompute = _combo(RECOMPUTE)
        self.lora_rank = QSpinBox(minimum=1, maximum=4096)
        self.lora_targets = _combo(TARGETS)
        self.zero = _combo(tuple((i, f"ZeRO-{i}" + (" / FSDP" if i == 3 else "")) for i in range(4)))
        self.data_parallel = QSpinBox(minimum=1, maximum=4096)
        self.engine = _combo(ENGINES)
        self.overhead = QDoubleSpinBox(minimum=-1, maximum=1024, decimals=2, singleStep=0.25, specialValueText="preset")
        self.overhead.setSuffix(" GiB")
        form = QFormLayout(self)
        form.addRow("Mode", self.mode)
        form.addRow("Batch", self.batch)
        ctx = QWidget()
        row = QHBoxLayout(ctx)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 2)
        row.addWidget(self.context, 1)
        form.addRow("Context", ctx)
        form.addRow("KV cache", self.kv)
        form.addRow("", self.flash)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Recompute", self.recompute)
        form.addRow("LoRA rank", self.lora_rank)
        form.addRow("LoRA targets", self.lora_targets)
        form.addRow("Sharding", self.zero)
        form.addRow("Data-parallel GPUs", self.data_parallel)
        form.addRow("Engine", self.engine)
        form.addRow("Overhead", self.overhead)
        self.context_limit = 131072
        self.show_workload()
        self.mode.currentIndexChanged.connect(lambda: self._set(mode=self.mode.currentData()))
        self.batch.valueChanged.connect(lambda v: self._set(batch=v))
        self.context.valueChanged.connect(self._context_box)
        self.slider.valueChanged.connect(self._context_slider)
        self.kv.currentIndexChanged.connect(lambda: self._set(kv_dtype=self.kv.currentData()))
        self.flash.toggled.connect(lambda v: self._set(flash_attention=v))
        self.optimizer.currentIndexChanged.connect(lambda: self._set(optimizer=self.optimizer.currentData()))
        self.recompute.currentIndexChanged.connect(lambda: self._set(recompute=self.recompute.currentData()))
        self.lora_rank.valueChanged.connect(lambda v: self._set(lora_rank=v))
        self.lora_targets.currentIndexChanged.connect(
            lambda: self._set(lora_targets=tuple(self.lora_targets.currentData().split(","))))
        self.zero.currentIndexChanged.connect(lambda: self._set(zero_stage=self.zero.currentData()))
        self.data_parallel.valueChanged.connect(lambda v: self._set(data_parallel=v))
        self.engine.currentIndexChanged.connect(lambda: self._set(engine=self.engine.currentData()))
        self.overhead.valueChanged.connect(
            lambda v: self._set(overhead_bytes=None if v < 0 else int(v * 2**30)))

    def _set(self, **changes: object) -> None:
        try:
            self.state.set_workload(**changes)
        except QuantPlannerError as exc:
            self.error.emit(str(exc))
        self._enable()

    def _enable(self) -> None:
        training = self.state.request.workload.mode != "inference"
        lora = self.state.request.workload.mode in ("lora", "qlora")
        for w in (self.optimizer, self.recompute, self.zero, self.data_parallel):
            w.setEnabled(training)
        for w in (self.lora_rank, self.lora_targets):
            w.setEnabled(lora)

    # the slider is logarithmic: 0..1000 -> 128 .. context limit
    def _to_slider(self, ctx: int) -> int:
        import math

        lo, hi = math.log(128), math.log(max(self.context_limit, 256))
        return round(1000 * (math.log(max(ctx, 128)) - lo) / (hi - lo))

    def _context_slider(self, pos: int) -> None:
        import math

        lo, hi = math.log(128), math.log(max(self.context_limit, 256))
        ctx = int(round(math.exp(lo + (hi - lo) * pos / 1000) / 128) * 128) if pos < 1000 else self.context_limit
        if ctx != self.context.value():
            self.context.setValue(max(1, min(ctx, self.context_limit)))

    def _context_box(self, ctx: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_slider(ctx))
        self.slider.blockSignals(False)
        self._set(context=ctx)

    def set_context_limit(self, limit: int) -> None:
        self.context_limit = max(1, limit)
        self.context.setMaximum(self.context_limit)
        self.show_workload()

    def show_workload(self) -> None:
        """Put the state's workload into the controls without echoing changes back."""
        w = self.state.request.workload
        widgets = (self.mode, self.batch, self.context, self.slider, self.kv, self.flash, self.optimizer,
                   self.recompute, self.lora_rank, self.lora_targets, self.zero, self.data_parallel, self.engine,
                   self.overhead)
        for widget in widgets:
            widget.blockSignals(True)
        _select(self.mode, w.mode)
        self.batch.setValue(w.batch)
        self.context.setValue(w.context)
        self.slider.setValue(self._to_slider(w.context))
        _select(self.kv, w.kv_dtype)
        self.flash.setChecked(w.flash_attention)
        _select(self.optimizer, w.optimizer)
        _select(self.recompute, w.recompute)
        self.lora_rank.setValue(w.lora_rank)
        _select(self.lora_targets, ",".join(w.lora_targets))
        _select(self.zero, w.zero_stage)
        self.data_parallel.setValue(w.data_parallel)
        _select(self.engine, w.engine)
        self.overhead.setValue(-1 if w.overhead_bytes is None else w.overhead_bytes / 2**30)
        for widget in widgets:
            widget.blockSignals(False)
        self._enable()


class GpuPanel(QGroupBox):
    """Tick one or more GPUs from the catalog (custom ones included); add your own."""

    add_requested = Signal()
    edit_requested = Signal(str)  # id of a custom GPU to edit

    def __init__(self, state: AppState) -> None:
        super().__init__("GPUs")
        self.state = state
        self.filter = QLineEdit(placeholderText="Filter GPUs")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setMinimumHeight(220)
        add = QPushButton("Add custom GPU...")
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        lay.addWidget(add)
        self.filter.textChanged.connect(self._filter)
        self.list.itemChanged.connect(self._changed)
        self.list.itemDoubleClicked.connect(self._edit)
        add.clicked.connect(self.add_requested)

    def set_catalog(self, gpus: tuple[GPU, ...]) -> None:
        chosen = set(self.state.request.gpus)
        self.list.blockSignals(True)
        self.list.clear()
        for g in gpus:
            mem = f"{g.memory_bytes / 2**30:.0f} GiB"
            item = QListWidgetItem(f"{g.name}  ({mem}{', custom' if g.custom else ''})")
            item.setData(Qt.ItemDataRole.UserRole, g.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if g.id in chosen else Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole + 1, g.custom)
            item.setToolTip(f"{g.bandwidth_bytes_per_s / 1e9:,.0f} GB/s, {g.bf16_flops / 1e12:,.0f} dense bf16 TFLOPS; "
                            f"{g.source} ({g.date})" + ("; double-click to edit" if g.custom else ""))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._filter(self.filter.text())

    def _filter(self, text: str) -> None:
        filter_list(self.list, text)

    def _edit(self, item: QListWidgetItem) -> None:
        if item.data(Qt.ItemDataRole.UserRole + 1):
            self.edit_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _changed(self, item: QListWidgetItem) -> None:
        gid = item.data(Qt.ItemDataRole.UserRole)
        current = list(self.state.request.gpus)
        if item.checkState() == Qt.CheckState.Checked and gid not in current:
            current.append(gid)
        elif item.checkState() != Qt.CheckState.Checked and gid in current:
            current.remove(gid)
        self.state.set_gpus(tuple(current))


class CustomGpuDialog(QDialog):
    """Name, memory, bandwidth, dense fp16 rate and prices of a GPU of your own."""

    def __init__(self, parent: QWidget | None = None, gpu: GPU | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit a custom GPU" if gpu else "Add a custom GPU")
        self.name = QLineEdit(placeholderText="e.g. My lab's A6000")
        self.memory = QDoubleSpinBox(minimum=1, maximum=100000, decimals=1, value=48, suffix=" GiB")
        self.bandwidth = QDoubleSpinBox(minimum=1, maximum=100000, decimals=0, value=768, suffix=" GB/s")
        self.fp16 = QDoubleSpinBox(minimum=0.1, maximum=100000, decimals=1, value=155, suffix=" TFLOPS")
        self.price = QDoubleSpinBox(minimum=0, maximum=10_000_000, decimals=0, value=0, prefix="$",
                                    specialValueText="unknown")
        self.hourly = QDoubleSpinBox(minimum=0, maximum=10_000, decimals=2, value=0, prefix="$",
                                     specialValueText="unknown")
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Memory", self.memory)
        form.addRow("Bandwidth", self.bandwidth)
        form.addRow("Dense fp16", self.fp16)
        form.addRow("Purchase price", self.price)
        form.addRow("Hourly rent", self.hourly)
        if gpu is not None:
            self.name.setText(gpu.name)
            self.memory.setValue(gpu.memory_bytes / 2**30)
            self.bandwidth.setValue(gpu.bandwidth_bytes_per_s / 1e9)
            self.fp16.setValue(gpu.fp16_flops / 1e12)
            self.price.setValue(gpu.purchase_usd or 0)
            self.hourly.setValue(gpu.hourly_usd or 0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, object]:
        return {"name": self.name.text().strip(), "memory_gib": self.memory.value(),
                "bandwidth_gbps": self.bandwidth.value(), "fp16_tflops": self.fp16.value(),
                "purchase_usd": self.price.value() or None, "hourly_usd": self.hourly.value() or None}


def open_model_dialog(parent: QWidget, folder: bool = False) -> str:
    if folder:
        return QFileDialog.getExistingDirectory(parent, "Open a model folder")
    path, _ = QFileDialog.getOpenFileName(parent, "Open a model file", "",
                                          "Model files (config.json *.json *.safetensors *.gguf);;All files (*)")
    return path


class PrecisionPanel(QGroupBox):
    """Tick the precisions to plan (all by default)."""

    def __init__(self, state: AppState) -> None:
        super().__init__("Precisions")
        self.state = state
        self.list = QListWidget()
        self.list.setMinimumHeight(160)
        hidden = set(state.request.hidden_precisions)
        for p in PRECISIONS:
            item = QListWidgetItem(f"{p.id}  ({p.label})")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setToolTip(f"{p.storage_bits:.4g} storage bits per quantized weight; keeps {p.keeps}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if p.id in hidden else Qt.CheckState.Checked)
            self.list.addItem(item)
        every, common = QPushButton("All"), QPushButton("Common")
        common.setToolTip("bf16, fp8, int8, nf4, gptq/awq 4-bit, q8_0, q6_k, q5_k_m, q4_k_m, q3_k_m")
        buttons = QHBoxLayout()
        buttons.addWidget(every)
        buttons.addWidget(common)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        self.list.itemChanged.connect(self._changed)
        every.clicked.connect(lambda: self.show_only(None))
        common.clicked.connect(lambda: self.show_only(COMMON))

    def show_only(self, ids: tuple[str, ...] | None) -> None:
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = ids is None or item.data(Qt.ItemDataRole.UserRole) in ids
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
        self._changed()

    def _changed(self, _item: QListWidgetItem | None = None) -> None:
        hidden = tuple(self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                       if self.list.item(i).checkState() != Qt.CheckState.Checked)
        self.state.set_hidden_precisions(hidden)
