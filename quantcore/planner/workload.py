"""What the model is asked to do (inference or training, batch, context, parallelism), validated on creation."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from quantcore.errors import BadInputError

MODES = ("inference", "full", "lora", "qlora")
TRAINING_MODES = ("full", "lora", "qlora")
OPTIMIZERS = ("adamw", "adamw8bit", "sgd", "adafactor")
RECOMPUTE = ("auto", "none", "selective", "full")  # auto: full (checkpointing) for LoRA/QLoRA, none otherwise
# Full fine-tuning recipes, named as users of each stack know them (what each keeps per parameter, see training.py).
RECIPES = ("bf16-mixed", "bf16-pure", "hf-trainer")
RECIPE_LABELS = {
    "bf16-mixed": "bf16 mixed (fp32 master, Megatron/DeepSpeed)",
    "bf16-pure": "pure bf16 (torch AdamW on a bf16 model)",
    "hf-trainer": "HF Trainer bf16=True (fp32 weights, autocast)",
}
ENGINES = ("auto", "none", "hf", "vllm", "llamacpp", "sglang")

ALL_LINEAR = "all-linear"
# Tensor kinds (llama.cpp vocabulary, see quantcore.model.inventory) a LoRA adapter may be attached to.
LORA_KINDS = (
    "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output",
    "attn_q_a", "attn_q_b", "attn_kv_a_mqa", "attn_kv_b",
    "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_up",
    "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_up_exps", "ffn_shexp",
    "token_embd", "output",
)
# PEFT's usual target_modules spellings, accepted and stored as the llama.cpp kind.
HF_TARGET_NAMES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "qkv_proj": "attn_qkv", "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
    "gate_up_proj": "ffn_gate_up", "lm_head": "output", "embed_tokens": "token_embd",
}

MAX_BATCH = 65_536
MAX_CONTEXT = 16_777_216
MAX_LORA_RANK = 4096
MAX_PARALLEL = 4096
MAX_DATASET_TOKENS = 10**15


@dataclass(frozen=True)
class Workload:
    """One inference or training job; every byte figure in memory.py is computed for this."""

    mode: str = "inference"  # inference | full | lora | qlora
    batch: int = 1
    context: int = 4096  # tokens held per sequence: prompt + generated
    kv_dtype: str = "fp16"
    flash_attention: bool = True  # also stands for PyTorch SDPA's memory-efficient kernels
    optimizer: str = "adamw"  # adamw | adamw8bit | sgd | adafactor
    recompute: str = "auto"  # activation recomputation: auto | none | selective | full (gradient checkpointing)
    recipe: str = "bf16-mixed"  # full fine-tuning recipe: bf16-mixed | bf16-pure | hf-trainer (see RECIPE_LABELS)
    dataset_tokens: int = 100_000_000  # training tokens per epoch (training time and cost)
    epochs: int = 1
    ubatch: int = 512  # llama.cpp n_ubatch: tokens per physical batch (its compute buffer holds their logits)
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("attn_q", "attn_k", "attn_v", "attn_output")
    zero_stage: int = 0  # DeepSpeed ZeRO 0-3 (FSDP full sharding = 3)
    data_parallel: int = 1  # GPUs the ZeRO/FSDP states are sharded over
    tensor_parallel: int = 1
    engine: str = "auto"  # auto (per precision, see planner.engines) | none | hf | vllm | llamacpp | sglang
    overhead_bytes: int | None = None  # explicit override of the overhead line (bytes per GPU)
    gpu_memory_utilization: float | None = None  # share of VRAM the engine may take; None = engine default

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, str):  # "attn_q,attn_v" or "all-linear"
            parts = (t.strip() for t in self.lora_targets.split(","))
            object.__setattr__(self, "lora_targets", tuple(t for t in parts if t))
        elif isinstance(self.lora_targets, list):
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        if isinstance(self.lora_targets, tuple) and any(t in HF_TARGET_NAMES for t in self.lora_targets):
            object.__setattr__(self, "lora_targets", tuple(HF_TARGET_NAMES.get(t, t) for t in self.lora_targets))
        self.validate()

    @property
    def is_training(self) -> bool:
        return self.mode in TRAINING_MODES

    @property
    def effective_recompute(self) -> str:
        """"auto" resolved as practitioners run it: LoRA/QLoRA with gradient checkpointing (peft's
        prepare_model_for_kbit_training turns it on), full fine-tunes and inference without."""
        if self.recompute != "auto":
            return self.recompute
        return "full" if self.mode in ("lora", "qlora") else "none"

    def validate(self) -> None:
        """Raise BadInputError (one line, saying what is allowed) for the first field that makes no sense."""
        _choice("mode", self.mode, MODES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("recompute", self.recompute, RECOMPUTE)
        _choice("recipe", self.recipe, RECIPES)
        _choice("engine", self.engine, ENGINES)
        _int_in("batch", self.batch, 1, MAX_BATCH)
        _int_in("context", self.context, 1, MAX_CONTEXT)
        _int_in("zero_stage", self.zero_stage, 0, 3)
        _int_in("lora_rank", self.lora_rank, 1, MAX_LORA_RANK)
        _int_in("data_parallel", self.data_parallel, 1, MAX_PARALLEL)
        _int_in("tensor_parallel", self.tensor_parallel, 1, MAX_PARALLEL)
        _int_in("dataset_tokens", self.dataset_tokens, 0, MAX_DATASET_TOKENS)
        _int_in("epochs", self.epochs, 1, 10_000)
        _int_in("ubatch", self.ubatch, 1, MAX_CONTEXT)
        if not isinstance(self.flash_attention, bool):
            raise BadInputError(f"flash_attention must be true or false, not {self.flash_attention!r}")
        _targets(self.lora_targets, needed=self.mode in ("lora", "qlora"))
        u = self.gpu_memory_utilization
        if u is not None and (isinstance(u, bool) or not isinstance(u, (int, float)) or not 0 < u <= 1):
            raise BadInputError(f"gpu_memory_utilization {u!r} must be a share of VRAM in (0, 1], e.g. 0.9")
        o = self.overhead_bytes
        if o is not None and (isinstance(o, bool) or not isinstance(o, int) or o < 0):
            raise BadInputError(f"overhead_bytes {o!r} must be a whole number of bytes, 0 or more")
        if not isinstance(self.kv_dtype, str) or not self.kv_dtype:
            raise BadInputError(f"kv_dtype {self.kv_dtype!r} must be a KV cache dtype id such as fp16, fp8 or q8_0")
        from quantcore.formats.catalog import kv_bytes_per_element

        kv_bytes_per_element(self.kv_dtype)  # the catalog names the valid KV dtypes when this one is unknown


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInputError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")


def _int_in(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"{name} must be a whole number, not {value!r}")
    if not lo <= value <= hi:
        raise BadInputError(f"{name} {value:,} is out of range; use {lo:,} to {hi:,}")


def _targets(targets: object, needed: bool) -> None:
    if not isinstance(targets, tuple) or not all(isinstance(t, str) for t in targets):
        raise BadInputError(f"lora_targets must be a list of tensor kinds, not {targets!r}")
    if needed and not targets:
        raise BadInputError("lora_targets is empty; name tensor kinds such as attn_q,attn_v or use all-linear")
    for t in targets:
        if t != ALL_LINEAR and t not in LORA_KINDS:
            raise BadInputError(f"unknown LoRA target {t!r}; use all-linear or kinds: {', '.join(LORA_KINDS)}")


def with_size(w: Workload, *, context: int | None = None, batch: int | None = None) -> Workload:
    """A copy with another context and/or batch, checking only those two fields (the rest is already valid).

    Curves and largest-context searches make thousands of these; full validation would dominate their cost.
    """
    out = copy.copy(w)
    if context is not None:
        _int_in("context", context, 1, MAX_CONTEXT)
        object.__setattr__(out, "context", context)
    if batch is not None:
        _int_in("batch", batch, 1, MAX_BATCH)
        object.__setattr__(out, "batch", batch)
    return out
