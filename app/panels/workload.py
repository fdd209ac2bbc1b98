"""The workload panel: mode, batch, context, KV dtype, training options, sharding and engine preset."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox

from app.panels.common import combo, select
from app.panels.context import ContextInput
from app.state import AppState
from quantcore.errors import QuantPlannerError
from quantcore.formats.catalog import kv_dtype_ids
from quantcore.planner.workload import RECIPE_LABELS
from quantcore.planner.workload import RECIPES as RECIPES_IDS

MODES = (("inference", "Inference"), ("full", "Full fine-tune"), ("lora", "LoRA"), ("qlora", "QLoRA"))
OPTIMIZERS = (("adamw", "AdamW"), ("adamw8bit", "8-bit AdamW"), ("sgd", "SGD + momentum"), ("adafactor", "Adafactor"))
RECOMPUTE = (("auto", "auto (checkpointing for LoRA/QLoRA)"), ("none", "none"), ("selective", "selective"),
             ("full", "full (checkpointing)"))
RECIPES = tuple((r, RECIPE_LABELS[r]) for r in RECIPES_IDS)
ENGINES = (("hf", "transformers"), ("vllm", "vLLM"), ("sglang", "SGLang"), ("llamacpp", "llama.cpp"), ("none", "none"))
TARGETS = (("attn_q,attn_k,attn_v,attn_output", "attention q, k, v, o"), ("all-linear", "all linear layers"))


class WorkloadPanel(QGroupBox):
    """Mode, batch, context, KV dtype, training options, sharding and engine preset."""

    error = Signal(str)

    def __init__(self, state: AppState) -> None:
        super().__init__("Workload")
        self.state = state
        self.mode = combo(MODES)
        self.batch = QSpinBox(minimum=1, maximum=65536)
        self.context_input = ContextInput()  # slider + box + a badge above the model's limit
        self.context, self.slider = self.context_input.box, self.context_input.slider
        self.kv = QComboBox()
        for k in kv_dtype_ids():
            self.kv.addItem(k, k)
        self.flash = QCheckBox("flash attention")
        self.optimizer = combo(OPTIMIZERS)
        self.recompute = combo(RECOMPUTE)
        self.recipe = combo(RECIPES)
        self.recipe.setToolTip("Full fine-tuning recipe: bytes per parameter of weights + gradients + AdamW states\n"
                               "bf16 mixed: 2 + 4 + 12; pure bf16: 2 + 2 + 4; HF Trainer bf16=True: 4 + 4 + 8")
        self.dataset_tokens = QDoubleSpinBox(minimum=0.001, maximum=1e6, decimals=3, singleStep=10)
        self.dataset_tokens.setSuffix(" M tokens")
        self.epochs = QSpinBox(minimum=1, maximum=10_000)
        self.lora_rank = QSpinBox(minimum=1, maximum=4096)
        self.lora_targets = combo(TARGETS)
        self.zero = combo(tuple((i, f"ZeRO-{i}" + (" / FSDP" if i == 3 else "")) for i in range(4)))
        self.data_parallel = QSpinBox(minimum=1, maximum=4096)
        self.engine = combo(ENGINES)
        self.overhead = QDoubleSpinBox(minimum=-1, maximum=1024, decimals=2, singleStep=0.25, specialValueText="preset")
        self.overhead.setSuffix(" GiB")
        form = QFormLayout(self)
        form.addRow("Mode", self.mode)
        form.addRow("Batch", self.batch)
        form.addRow("Context", self.context_input)
        form.addRow("KV cache", self.kv)
        form.addRow("", self.flash)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Recompute", self.recompute)
        form.addRow("Recipe", self.recipe)
        form.addRow("Dataset", self.dataset_tokens)
        form.addRow("Epochs", self.epochs)
        form.addRow("LoRA rank", self.lora_rank)
        form.addRow("LoRA targets", self.lora_targets)
        form.addRow("Sharding", self.zero)
        form.addRow("Data-parallel GPUs", self.data_parallel)
        form.addRow("Engine", self.engine)
        form.addRow("Overhead", self.overhead)
        self.show_workload()
        self.mode.currentIndexChanged.connect(lambda: self._set(mode=self.mode.currentData()))
        self.batch.valueChanged.connect(lambda v: self._set(batch=v))
        self.context_input.edited.connect(lambda v: self._set(context=v))
        self.kv.currentIndexChanged.connect(lambda: self._set(kv_dtype=self.kv.currentData()))
        self.flash.toggled.connect(lambda v: self._set(flash_attention=v))
        self.optimizer.currentIndexChanged.connect(lambda: self._set(optimizer=self.optimizer.currentData()))
        self.recompute.currentIndexChanged.connect(lambda: self._set(recompute=self.recompute.currentData()))
        self.recipe.currentIndexChanged.connect(lambda: self._set(recipe=self.recipe.currentData()))
        self.dataset_tokens.valueChanged.connect(lambda v: self._set(dataset_tokens=int(round(v * 1e6))))
        self.epochs.valueChanged.connect(lambda v: self._set(epochs=v))
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
        for w in (self.optimizer, self.recompute, self.zero, self.data_parallel, self.dataset_tokens, self.epochs):
            w.setEnabled(training)
        self.recipe.setEnabled(self.state.request.workload.mode == "full")
        for w in (self.lora_rank, self.lora_targets):
            w.setEnabled(lora)

    def set_context_limit(self, limit: int, known: bool = True) -> None:
        """A new model: the slider spans its limit; the context asked for earlier comes back when it allows it."""
        ctx = self.context_input.set_limit(limit, known, self.state.request.workload.context)
        if ctx != self.state.request.workload.context:
            self._set(context=ctx)
        self.show_workload()

    def show_workload(self) -> None:
        """Put the state's workload into the controls without echoing changes back."""
        w = self.state.request.workload
        widgets = (self.mode, self.batch, self.kv, self.flash, self.optimizer,
                   self.recompute, self.lora_rank, self.lora_targets, self.zero, self.data_parallel, self.engine,
                   self.overhead, self.recipe, self.dataset_tokens, self.epochs)
        for widget in widgets:
            widget.blockSignals(True)
        select(self.mode, w.mode)
        self.batch.setValue(w.batch)
        self.context_input.show_value(w.context)
        select(self.kv, w.kv_dtype)
        self.flash.setChecked(w.flash_attention)
        select(self.optimizer, w.optimizer)
        select(self.recompute, w.recompute)
        select(self.recipe, w.recipe)
        self.dataset_tokens.setValue(w.dataset_tokens / 1e6)
        self.epochs.setValue(w.epochs)
        self.lora_rank.setValue(w.lora_rank)
        select(self.lora_targets, ",".join(w.lora_targets))
        select(self.zero, w.zero_stage)
        self.data_parallel.setValue(w.data_parallel)
        select(self.engine, w.engine)
        self.overhead.setValue(-1 if w.overhead_bytes is None else w.overhead_bytes / 2**30)
        for widget in widgets:
            widget.blockSignals(False)
        self._enable()
