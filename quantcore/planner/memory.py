"""Bytes per GPU of a model at a precision under a workload: weights, KV cache, activations, training states, overhead."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from quantcore.errors import BadInputError
from quantcore.formats import catalog as formats
from quantcore.model.inventory import Architecture, Inventory
from quantcore.planner import engines
from quantcore.planner.activations import FP32, check_count, inference_activation_bytes, prefill_chunk_tokens
from quantcore.planner.llamacpp_graph import GraphShape, compute_buffer_bytes
from quantcore.planner.recipes import training_lines
from quantcore.planner.training import largest_tensor, lora_shapes
from quantcore.planner.workload import (
    MAX_BATCH,
    MAX_CONTEXT,
    Workload,
    with_size,
)

MiB = 2**20
GiB = 2**30

# --- runtime overhead presets (one explicit line per GPU, never a multiplier) -------------------------------------
# CUDA context of a PyTorch process with lazy module loading (the default since PyTorch 1.13 / CUDA 11.7): "around
# 400MB" (ptrblck in pytorch/pytorch#109888); pytorch/pytorch#86509 measured 287,047,680 B for context + one tensor.
CUDA_CONTEXT_BYTES = 400 * MiB
# transformers / PyTorch eager: gpu_poor's calibrated "cuda + other overhead" (`overHead = 650` MB in src/App.js; its
# README claims results within 500 MB of measurements): the context plus cuBLAS workspaces and caching-allocator slack.
HF_OVERHEAD_BYTES = 650 * MiB
# llama.cpp: gguf-parser-go's default VRAM platform footprint (`--platform-footprint "150,250"`, MiB of RAM,VRAM).
LLAMACPP_OVERHEAD_BYTES = 250 * MiB
# vLLM takes gpu_memory_utilization x VRAM (EngineArgs default 0.9) and never touches the rest.
VLLM_DEFAULT_UTILIZATION = 0.9

# --- training constants -----------------------------------------------------------------------------------------
# KV dtypes stored in ggml blocks of 32 values (QK8_0 = QK4_0 = 32): a cache row rounds up to whole blocks.
_BLOCK_KV_DTYPES = frozenset({"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"})
_GGML_KV_BLOCK = 32

@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes on one GPU, line by line; `total` is their plain sum."""

    weights: int
    kv_cache: int
    activations: int
    gradients: int
    optimizer: int
    adapters: int
    overhead: int

    @property
    def total(self) -> int:
        return (self.weights + self.kv_cache + self.activations + self.gradients + self.optimizer + self.adapters
                + self.overhead)

    def as_dict(self) -> dict[str, int]:
        return {"weights": self.weights, "kv_cache": self.kv_cache, "activations": self.activations,
                "gradients": self.gradients, "optimizer": self.optimizer, "adapters": self.adapters,
                "overhead": self.overhead, "total": self.total}

    def for_tensor_parallel(self, n: int, kv_shards: int | None = None) -> MemoryBreakdown:
        """Per GPU when n GPUs split the model by tensor parallelism; each GPU keeps its own runtime overhead.

        kv_shards: how many ways the KV cache really splits (see kv_cache_shards); default n.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise BadInputError(f"tensor-parallel degree {n!r} must be a whole number of GPUs, 1 or more")
        if n == 1:
            return self
        kv_n = n if kv_shards is None else max(1, min(n, kv_shards))
        return MemoryBreakdown(weights=-(-self.weights // n), kv_cache=-(-self.kv_cache // kv_n),
                               activations=-(-self.activations // n), gradients=-(-self.gradients // n),
                               optimizer=-(-self.optimizer // n), adapters=-(-self.adapters // n),
                               overhead=self.overhead)


def kv_cache_shards(arch: Architecture | None, n: int) -> int:
    """Ways the KV cache splits over n tensor-parallel GPUs: by KV head, so GPUs beyond the KV-head count hold
    replicas (vLLM replicates KV heads when tp > num_kv_heads); an MLA latent is replicated on every GPU."""
    if arch is None:
        return n
    if arch.is_mla:
        return 1
    return max(1, min(n, arch.num_kv_heads))


def depends_on_gpu(workload: Workload) -> bool:
    """Whether memory_breakdown's answer changes with the GPU's memory size (engine chunking / reserved share)."""
    if workload.engine in ("vllm", "sglang", "auto"):  # auto may resolve to vLLM for some precisions
        return True
    return workload.overhead_bytes is None and workload.gpu_memory_utilization is not None


# --- KV cache ---------------------------------------------------------------------------------------------------

def kv_cache_bytes(arch: Architecture, tokens: int, batch: int, kv_dtype: str) -> int:
    """KV cache of `batch` sequences holding `tokens` tokens each.

    Standard/GQA: K and V rows of num_kv_heads x head_dim per token per full-attention layer (llm-analysis,
    hf-mem, gguf-parser-go); sliding-window layers hold min(tokens, window) tokens; layers marked "none" hold none.
    MLA (DeepSeek-V2/V3): one latent row of kv_lora_rank + qk_rope_head_dim per token per layer (gguf-parser-go).
    Encoder-only models keep no cache. Block-quantized dtypes (q8_0, q4_0) round each row up to whole blocks.
    """
    check_count("tokens", tokens)
    check_count("batch", batch)
    if arch.encoder_only or tokens == 0 or batch == 0:
        return 0
    if arch.is_mla:
        per_token = _row_bytes(arch.kv_lora_rank + arch.qk_rope_head_dim, kv_dtype)
    else:
        per_token = 2 * _row_bytes(arch.num_kv_heads * arch.head_dim, kv_dtype)
    kinds = arch.attention_kinds
    full = kinds.count("full")
    sliding = kinds.count("sliding")
    window = min(tokens, arch.sliding_window) if arch.sliding_window else tokens
    return per_token * batch * (full * tokens + sliding * window)


def _row_bytes(elements: int, kv_dtype: str) -> int:
    """Bytes of one cache row of `elements` values (ggml_row_size for block types)."""
    per = formats.kv_bytes_per_element(kv_dtype)
    if kv_dtype.lower() in _BLOCK_KV_DTYPES:
        return -(-elements // _GGML_KV_BLOCK) * round(per * _GGML_KV_BLOCK)
    return math.ceil(elements * per)


# --- runtime overhead -------------------------------------------------------------------------------------------

def overhead_bytes(workload: Workload, gpu_memory_bytes: int | None = None, activations: int = 0) -> int:
    """The overhead line for one GPU: workload.overhead_bytes when the user set it, else the engine's preset.

    none: 0 (a lower bound, as llm-analysis). hf: 650 MiB (gpu_poor). llamacpp: 250 MiB (gguf-parser-go).
    vllm: vLLM takes gpu_memory_utilization x VRAM and fills whatever its weights, activations and graphs leave
      with KV blocks. That spare KV pool is not a need, so it is not counted; what is counted is the share it never
      touches, (1 - utilization) x VRAM, plus 400 MiB for the CUDA context / graphs. Then "total <= VRAM" is exactly
      vLLM's own test "weights + activations + KV <= utilization x VRAM - context". Without a GPU only the 400 MiB.
    sglang: SGLang keeps weights + KV within mem_fraction_static x VRAM and reserves the rest for activations and
      CUDA graphs (server_args.py: 2.8 + tp/10 GiB below 35 GiB, 9.5 + tp/2 below 90, 12 + tp/2 below 160,
      else 32 GiB). The line is the context plus whatever of that reserve the activations do not fill.
    Any other engine given an explicit gpu_memory_utilization also leaves (1 - utilization) x VRAM unused.
    """
    if workload.overhead_bytes is not None:
        return workload.overhead_bytes
    engine, util = workload.engine, workload.gpu_memory_utilization
    base = {"none": 0, "hf": HF_OVERHEAD_BYTES, "llamacpp": LLAMACPP_OVERHEAD_BYTES,
            "vllm": CUDA_CONTEXT_BYTES, "sglang": CUDA_CONTEXT_BYTES}[engine]
    if gpu_memory_bytes is None:
        return base
    if engine == "vllm":
        return base + _unused_share(gpu_memory_bytes, util or VLLM_DEFAULT_UTILIZATION)
    if engine == "sglang":
        reserve = (_unused_share(gpu_memory_bytes, util) if util is not None
                   else sglang_reserved_bytes(gpu_memory_bytes, workload.tensor_parallel))
        return base + max(0, reserve - activations)
    if util is not None:
        return base + _unused_share(gpu_memory_bytes, util)
    return base


def sglang_reserved_bytes(gpu_memory_bytes: int, tensor_parallel: int = 1) -> int:
    """SGLang's default reserve for activations and CUDA graphs, i.e. (1 - mem_fraction_static) x VRAM."""
    gib = gpu_memory_bytes / GiB
    if gib < 35:
        reserve = 2.8 + tensor_parallel / 10
    elif gib < 90:
        reserve = 9.5 + tensor_parallel / 2
    elif gib < 160:
        reserve = 12 + tensor_parallel / 2
    else:
        reserve = 32
    return min(gpu_memory_bytes, int(reserve * GiB))


def _unused_share(gpu_memory_bytes: int, utilization: float) -> int:
    return math.ceil(gpu_memory_bytes * (1 - utilization))


# --- the breakdown ----------------------------------------------------------------------------------------------

def memory_breakdown(inv: Inventory, pid: str, workload: Workload,
                     gpu_memory_bytes: int | None = None) -> MemoryBreakdown:
    """Memory of this model at precision `pid` under `workload`, per GPU of its data-parallel/ZeRO group.

    Tensor parallelism is applied afterwards with .for_tensor_parallel(n). gpu_memory_bytes (the GPU's VRAM) is
    only needed by engines whose overhead depends on it (vLLM, SGLang, an explicit utilization).
    inference: weights at pid + KV cache + the prefill activation peak (transformers-style engines) or llama.cpp's
      compute buffer (engine "llamacpp": its graph replayed through ggml's allocator, llamacpp_graph.py).
    full / lora / qlora: the recipe's weights, gradients and optimizer states, fp32 LoRA adapters, and the
      activation line that makes the total the step's peak (recipes.py, train_activations.py; measured in
      benchmarks/accuracy). qlora needs a precision with training == "qlora".
    ZeRO over data_parallel d: stage 1 shards the optimizer states, 2 also the gradients, 3 also the weights and
      adapters, and stage 3 adds the gathered 16-bit copy of the largest tensor and its gradient (DeepSpeed's
      4 x largest_layer_params).
    """
    arch = inv.arch
    if arch is None:
        raise BadInputError(f"{inv.id}: its architecture is unknown, so the KV cache and activations cannot be "
                            "sized; open its config.json or give a parameter count such as 7B")
    p = formats.get_precision(pid)
    w = engines.resolve(workload, p.id, inv.source, inv.quantization)  # engine "auto": the one this precision runs on
    act_bytes = FP32 if p.storage_bits >= 32 else 2
    weights = formats.weight_bytes(inv, pid)
    if w.mode == "inference":
        kv = kv_cache_bytes(arch, w.context, w.batch, w.kv_dtype)
        if w.engine == "llamacpp":
            act = llamacpp_compute_bytes(arch, w.batch, w.context, w.ubatch, w.flash_attention)
        else:
            act = inference_activation_bytes(arch, w.batch, w.context, w.flash_attention,
                                             prefill_chunk_tokens(w.engine, gpu_memory_bytes), act_bytes)
        return MemoryBreakdown(weights=weights, kv_cache=kv, activations=act, gradients=0, optimizer=0, adapters=0,
                               overhead=overhead_bytes(w, gpu_memory_bytes, act))
    _check_training_precision(p.id, p.training, w.mode)
    if w.mode != "full" and not lora_shapes(inv, w.lora_targets, w.lora_rank):
        raise BadInputError(f"{inv.id}: no tensor matches the LoRA targets {', '.join(w.lora_targets)}; "
                            f"its matrix kinds are: {', '.join(_matrix_kinds(inv))} (or use all-linear)")
    lines = training_lines(inv, pid, w, w.effective_recompute)
    weights, gradients, optimizer, adapters = lines.weights, lines.gradients, lines.optimizer, lines.adapters
    act = lines.activations
    dp, stage = w.data_parallel, w.zero_stage
    if stage >= 1:
        optimizer = -(-optimizer // dp)
    if stage >= 2:
        gradients = -(-gradients // dp)
    if stage >= 3:
        largest = largest_tensor(inv)
        per_param = weights / inv.parameters if inv.parameters else 0
        weights = -(-weights // dp) + math.ceil(largest * per_param)
        adapters = -(-adapters // dp)
        if w.mode == "full":
            gradients += largest * act_bytes
    return MemoryBreakdown(weights=weights, kv_cache=0, activations=act, gradients=gradients, optimizer=optimizer,
                           adapters=adapters, overhead=overhead_bytes(w, gpu_memory_bytes, act))


def llamacpp_shape(arch: Architecture) -> GraphShape:
    """What llama.cpp's compute graph needs of an architecture."""
    moe = arch.is_moe and arch.experts_per_token > 0
    return GraphShape(n_embd=arch.hidden_size, n_head=arch.num_heads, n_head_kv=arch.num_kv_heads,
                      head_dim=arch.head_dim, n_ff=arch.intermediate_size or 4 * arch.hidden_size,
                      n_vocab=arch.vocab_size, n_layer=max(1, arch.num_layers), gated=arch.gated_mlp,
                      n_expert=arch.num_experts if moe else 0, n_expert_used=arch.experts_per_token if moe else 0,
                      n_ff_exp=(arch.moe_intermediate_size or arch.intermediate_size) if moe else 0,
                      n_ff_shexp=arch.num_shared_experts * (arch.moe_intermediate_size or 0) if moe else 0)


def llamacpp_compute_bytes(arch: Architecture, batch: int, context: int, ubatch: int, flash_attention: bool) -> int:
    """llama.cpp's compute buffer: the worst-case graph of one ubatch (min(n_ubatch, tokens) tokens, every one an
    output, attending to the whole per-sequence cache) replayed through ggml's allocator (llamacpp_graph.py)."""
    check_count("batch", batch)
    check_count("context", context)
    if batch == 0 or context == 0 or arch.encoder_only:
        return 0
    return compute_buffer_bytes(llamacpp_shape(arch), min(ubatch, batch * context), context, flash_attention)


def _check_training_precision(pid: str, training: str, mode: str) -> None:
    if mode == "lora":
        return
    need = "full" if mode == "full" else "qlora"
    if training != need:
        valid = [p.id for p in formats.PRECISIONS if p.training == need]
        raise BadInputError(f"precision {pid} cannot be trained in mode '{mode}'; use one of: {', '.join(valid)}")


def _matrix_kinds(inv: Inventory) -> list[str]:
    return sorted({t.kind for t in inv.tensors if len(t.shape) >= 2 and t.role != "buffer"})


# --- largest context / batch that fits --------------------------------------------------------------------------

def max_context(inv: Inventory, pid: str, workload: Workload, budget_bytes: int,
                gpu_memory_bytes: int | None = None, limit: int | None = None) -> int:
    """Largest context per sequence whose per-GPU total (after workload.tensor_parallel) fits in budget_bytes; 0 if
    none. limit defaults to the model's own maximum context when known."""
    arch = inv.arch
    if limit is None:
        limit = arch.max_context if arch is not None and arch.max_context else MAX_CONTEXT
    limit = min(limit, MAX_CONTEXT)
    return _largest(lambda c: _fits(inv, pid, with_size(workload, context=c), budget_bytes, gpu_memory_bytes), limit)


def max_batch(inv: Inventory, pid: str, workload: Workload, budget_bytes: int,
              gpu_memory_bytes: int | None = None, limit: int = MAX_BATCH) -> int:
    """Largest batch at the workload's context whose per-GPU total fits in budget_bytes; 0 if none."""
    return _largest(lambda b: _fits(inv, pid, with_size(workload, batch=b), budget_bytes, gpu_memory_bytes),
                    min(limit, MAX_BATCH))


def _fits(inv: Inventory, pid: str, w: Workload, budget: int, gpu_memory_bytes: int | None) -> bool:
    m = memory_breakdown(inv, pid, w, gpu_memory_bytes)
    return m.for_tensor_parallel(w.tensor_parallel, kv_cache_shards(inv.arch, w.tensor_parallel)).total <= budget


def _largest(fits: Callable[[int], bool], limit: int) -> int:
    """Largest n in [1, limit] with fits(n), for a predicate true up to some n and false after (0 if none)."""
    if limit < 1 or not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo




# --- what the plan states about these formulas ------------------------------------------------------------------

GGUF_FROM_CONFIG_NOTE = (
    "GGUF rows planned from a config follow today's llama.cpp mixture rules (they match current files within 0.3%); "
    "files made before 2024 used other rules (a 2023 Q2_K of Llama-2-7B is ~10% bigger, a Dec-2023 Mixtral Q4_K_M "
    "~7% smaller): open the .gguf itself for its exact bytes")


def assumption_lines(inv: Inventory, w: Workload) -> list[str]:
    """The constants behind the activation and training lines, as the plan's assumptions state them."""
    from quantcore.planner.workload import RECIPE_LABELS

    if w.mode == "inference":
        if w.engine == "llamacpp":
            return [f"llama.cpp compute buffer: its worst-case graph of one ubatch (n_ubatch {w.ubatch}, every token "
                    "an output: logits n_ubatch x vocab x 4 B) replayed through ggml's allocator, F32 intermediates; "
                    f"flash attention {'on (llama.cpp default auto resolves to on for CPU and CUDA)' if w.flash_attention else 'off: F32 KQ scores per head + F32 mask, 4 B per score'}; "
                    "the host-side logits output buffer is not counted"]
        return ["activations: transformers prefill peak measured tensor by tensor (4 hidden-sized tensors alive + "
                "the largest of the MLP intermediates, attention, last-position logits) at 2 B (4 B for fp32 rows)"]
    recompute = w.effective_recompute
    lines = [f"recomputation '{recompute}'" + (" (auto: gradient checkpointing for LoRA/QLoRA, as peft's "
                                                 "prepare_model_for_kbit_training sets it)" if w.recompute == "auto" else "")]
    if w.mode == "full":
        lines.append(f"full fine-tuning recipe {w.recipe}: {RECIPE_LABELS[w.recipe]}; B/param weights + gradients + "
                     "AdamW: bf16-mixed 2 + 4 + 12, bf16-pure 2 + 2 + 4 (+ foreach sqrt(v) copy of 2 during the "
                     "step), hf-trainer 4 + 4 + 8 (+ autocast bf16 weight copies 2 kept for backward); fp32 rows "
                     "4 + 4 + 8 (fp32 training only when asked for)")
    else:
        lines.append("LoRA adapters in fp32 as peft keeps them (4 B + 4 B gradients + 8 B AdamW moments per adapter "
                     "parameter, no master copy); peft keeps an fp32 copy of each adapted input for backward"
                     + ("; QLoRA casts every unquantized parameter to fp32 (prepare_model_for_kbit_training)"
                        if w.mode == "qlora" else ""))
    lines.append("training activations: the tensors transformers saves for backward per architecture (gated MLP, "
                 "RMSNorm fp32 inputs, rotary q/k, fp32 log-softmax of the loss 4 B x tokens x vocab); the step's "
                 "peak is the largest of the loss backward (+ 8 B x tokens x vocab), a recomputed layer, and the "
                 "end of backward / optimizer step (measured, benchmarks/accuracy)")
    return lines
