"""Combine inventory x precisions x workload x GPUs into a Plan: pure, fast, no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from quantcore.errors import BadInputError
from quantcore.formats import catalog as formats
from quantcore.formats.catalog import AS_STORED, Precision
from quantcore.formats.stored import as_stored_precision
from quantcore.formats.mixture import Mixture
from quantcore.formats.mixture import register as register_mixture
from quantcore.model.inventory import Inventory
from quantcore.planner import engines, memory
from quantcore.planner.hardware import GPU
from quantcore.planner.memory import MemoryBreakdown
from quantcore.planner.options import GpuOption
from quantcore.planner.placement import HOST_RESERVED_BYTES, Host, Placement, layer_split, place, tensor_parallel
from quantcore.planner.placement import MAX_GPUS as MAX_PLACEMENT_GPUS
from quantcore.planner.train_speed import TRAINING_MFU
from quantcore.planner.workload import Workload, with_size

HOST_RESERVED_GIB = HOST_RESERVED_BYTES // 2**30
__all__ = ["GpuOption", "Plan", "PlanRow", "make_plan"]

MAX_GPUS = MAX_PLACEMENT_GPUS  # most GPUs a placement may use (tensor-parallel degrees: divisors of the heads)


@dataclass(frozen=True)
class PlanRow:
    """One precision: its memory breakdown, and per GPU of the plan its placement (cheapest first).

    Placements are worked out the first time a renderer asks for a GPU (then kept): a plan over the whole catalog
    costs only the GPUs someone looks at. `gpus` wraps them in GpuOption views (cost, speed, limits).
    `workload` is the plan's with this row's engine ("auto" resolved)."""

    precision: Precision
    bits_per_weight: float
    memory: MemoryBreakdown
    inventory: Inventory
    workload: Workload
    gpu_list: tuple[GPU, ...]
    as_stored: bool = False
    host: Host | None = None
    degrees: tuple[int, ...] = (1,)  # tensor-parallel degrees the model allows

    @property
    def engine(self) -> str:
        return self.workload.engine

    @cached_property
    def _answers(self) -> dict[tuple[int, int, bool], tuple[Placement, Placement]]:
        return {}

    @cached_property
    def _gpu_dependent(self) -> bool:
        return memory.depends_on_gpu(self.workload)

    def placement_pair(self, i: int) -> tuple[Placement, Placement]:
        """(cheapest placement, fewest GPUs holding everything) on GPU number i; GPUs alike share the answer."""
        g = self.gpu_list[i]
        key = (g.memory_bytes if self._gpu_dependent else 0, g.usable_bytes, g.unified_memory)
        got = self._answers.get(key)
        if got is None:
            inv, p, w = self.inventory, self.precision, self.workload
            if self._gpu_dependent:
                base = memory.memory_breakdown(inv, p.id, w, g.memory_bytes)
                split = None
            else:
                base, split = self.memory, self._split
            got = self._answers[key] = place(inv, p, base, w.engine, w.mode, key[1], self.degrees, self.host,
                                             g.unified_memory, split)
        return got

    @cached_property
    def _split(self):  # noqa: ANN202 - the LayerSplit of self.memory, made once for all GPUs
        return layer_split(self.inventory, self.precision, self.memory, self.workload.mode)

    @cached_property
    def placements(self) -> tuple[Placement, ...]:
        return tuple(self.placement_pair(i)[0] for i in range(len(self.gpu_list)))

    @cached_property
    def multi_gpu(self) -> tuple[Placement, ...]:
        return tuple(self.placement_pair(i)[1] for i in range(len(self.gpu_list)))

    @property
    def counts(self) -> tuple[int | None, ...]:
        """GPUs each option's placement uses (None: too large)."""
        return tuple(p.gpus for p in self.placements)

    @property
    def per_gpu(self) -> tuple[MemoryBreakdown | None, ...]:
        return tuple(p.per_gpu for p in self.placements)

    @cached_property
    def gpus(self) -> tuple[GpuOption, ...]:
        return tuple(GpuOption(g, self, i) for i, g in enumerate(self.gpu_list))


@dataclass(frozen=True)
class Plan:
    inventory: Inventory
    workload: Workload
    rows: tuple[PlanRow, ...]
    skipped: tuple[str, ...]  # precision ids that make no sense for this workload's mode
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    host: Host | None = None

    @property
    def context_above_limit(self) -> bool:
        """The requested context is longer than the model was trained for (the GUI shows a badge)."""
        return context_above_limit(self.inventory, self.workload)

    def row(self, pid: str) -> PlanRow | None:
        return next((r for r in self.rows if r.precision.id == pid), None)


def shard(total: MemoryBreakdown, inv: Inventory, n: int) -> MemoryBreakdown:
    """Per-GPU share of a breakdown split n ways by tensor parallelism (KV split by KV head, MLA replicated)."""
    return total.for_tensor_parallel(n, memory.kv_cache_shards(inv.arch, n)) if n > 1 else total


def parallel_degrees(inv: Inventory) -> tuple[int, ...]:
    """GPU counts that tensor parallelism allows: the attention head count must split evenly."""
    heads = inv.arch.num_heads if inv.arch else 1
    return tuple(n for n in range(1, MAX_GPUS + 1) if heads % n == 0) or (1,)


def gpus_needed(inv: Inventory, base: MemoryBreakdown, budget: int,
                degrees: tuple[int, ...]) -> tuple[int | None, MemoryBreakdown | None]:
    """The fewest GPUs (a valid tensor-parallel degree) whose per-GPU share of `base` fits in `budget` bytes."""
    if base.total <= budget:
        return 1, base
    return tensor_parallel(inv, base, budget, degrees)


def applicable(p: Precision, mode: str) -> bool:
    """Whether a precision makes sense as the weight format of this training/inference mode."""
    if mode == "full":
        return p.training == "full"
    if mode == "qlora":
        return p.training == "qlora"
    return True  # inference, and LoRA on top of any frozen base (PEFT adapts GPTQ/AWQ/GGUF-dequantized bases too)


def make_plan(inv: Inventory, workload: Workload, precision_ids: tuple[str, ...] | None = None,
              gpus: tuple[GPU, ...] = (), hidden: tuple[str, ...] = (), host: Host | None = Host(),
              mixtures: tuple[Mixture, ...] = ()) -> Plan:
    """The whole plan: every requested precision x every GPU. Pure; cheap enough to run on every keystroke.

    precision_ids: plan exactly these (an error if one cannot serve the mode); default all that can, with the file
      "as stored" first when its bytes are the file's own (GGUF, safetensors). "stored" names that row explicitly.
    hidden: leave these out of the default set (the GUI's unticked precisions).
    host: the machine's RAM and bandwidth for partial offload; None plans without offloading.
    mixtures: per-tensor assignments (the lab's mixed-precision suggestion), each one more row after the others.
    """
    stored = as_stored_precision(inv)
    chosen = precision_ids or tuple(p for p in formats.precision_ids() if p not in hidden)
    if stored is not None and precision_ids is None:
        chosen = (AS_STORED, *chosen)
    if AS_STORED in chosen and stored is None:
        raise BadInputError(f"{inv.id}: 'stored' needs a model file (.gguf or .safetensors) whose bytes are known")
    precisions = [stored if pid == AS_STORED else formats.get_precision(pid) for pid in chosen]
    precisions += [register_mixture(m) for m in mixtures]
    if precision_ids:
        wrong = [p.id for p in precisions if not applicable(p, workload.mode)]
        if wrong:
            valid = [p.id for p in formats.PRECISIONS if applicable(p, workload.mode)]
            raise BadInputError(f"mode '{workload.mode}' cannot use {', '.join(wrong)} as its weight format; "
                                f"use one of: {', '.join(valid)}")
    rows, skipped = [], []
    degrees = parallel_degrees(inv)
    for p in precisions:
        # fp32 training only on request: nobody fine-tunes in plain fp32 by default
        if not applicable(p, workload.mode) or (workload.mode == "full" and not precision_ids
                                                and p.storage_bits >= 32):
            skipped.append(p.id)
            continue
        w = engines.resolve(workload, p.id, inv.source, inv.quantization)
        rows.append(_row(inv, p, w, gpus, degrees, host))
    notes = assumptions(inv, workload, tuple(skipped), host)
    if inv.source != "gguf" and any(r.precision.family == "gguf" for r in rows):
        notes += (memory.GGUF_FROM_CONFIG_NOTE,)
    return Plan(inventory=inv, workload=workload, rows=tuple(rows), skipped=tuple(skipped), assumptions=notes,
                warnings=plan_warnings(inv, workload), host=host)


def _row(inv: Inventory, p: Precision, w: Workload, gpus: tuple[GPU, ...], degrees: tuple[int, ...],
         host: Host | None) -> PlanRow:
    """One precision's row: its memory (on the first GPU, for engines whose overhead depends on the GPU)."""
    mem = memory.memory_breakdown(inv, p.id, w, gpus[0].memory_bytes if gpus else None)
    return PlanRow(precision=p, bits_per_weight=formats.bits_per_weight(inv, p.id), memory=mem, inventory=inv,
                   workload=w, gpu_list=gpus, as_stored=p.id == AS_STORED, host=host, degrees=degrees)


def context_above_limit(inv: Inventory, w: Workload) -> bool:
    arch = inv.arch
    return bool(arch is not None and arch.max_context and w.context > arch.max_context and not arch.encoder_only)


def plan_warnings(inv: Inventory, w: Workload) -> tuple[str, ...]:
    """What a user must know before trusting the plan: a context beyond the model's limit, a guessed shape."""
    out = []
    if context_above_limit(inv, w):
        out.append(f"context {w.context:,} tokens is above the model's limit of {inv.arch.max_context:,} "
                   "(max_position_embeddings / context_length): the memory is planned as asked, but the model was "
                   "not trained for it; quality past the limit needs RoPE scaling (YaRN) and is not guaranteed")
    if inv.source == "count":
        out.append("the model is a guess shaped from a bare parameter count; open its config.json or weights for "
                   "exact numbers")
    return tuple(out)


def assumptions(inv: Inventory, w: Workload, skipped: tuple[str, ...], host: Host | None = None) -> tuple[str, ...]:
    out = list(inv.notes)
    out.append("bytes are exact integers; GiB = 2**30 bytes, GB = 10**9 bytes")
    out.append(f"context {w.context:,} tokens per sequence (prompt + generated), batch {w.batch}, "
               f"KV cache in {w.kv_dtype}")
    if w.engine == engines.AUTO:
        out.append("engine auto: each row uses the engine its precision usually runs on (llama.cpp for GGUF, vLLM "
                   "for GPTQ/AWQ/FP8/MXFP4/NVFP4, transformers for bitsandbytes, torchao and 16/32-bit); its "
                   "runtime overhead preset, prompt chunking and multi-GPU layouts follow that engine")
    else:
        out.append(f"runtime overhead from the '{w.engine}' preset" + (
            f" overridden to {w.overhead_bytes:,} bytes" if w.overhead_bytes is not None else ""))
    out.append("placement: the cheapest of one GPU, a partial offload to host RAM (inference), and the fewest GPUs "
               "by tensor parallelism (vLLM/SGLang; degrees that divide the heads) or layer split (any count: "
               "llama.cpp --split-mode layer, vLLM --pipeline-parallel-size, accelerate device_map); "
               "communication buffers are not counted")
    if host is not None:
        out.append(f"host: {host.ram_bytes / 2**30:,.0f} GiB RAM ({HOST_RESERVED_GIB} GiB kept for the system), "
                   f"{host.bandwidth_bytes_per_s / 1e9:,.1f} GB/s memory bandwidth, PCIe "
                   f"{host.pcie_bytes_per_s / 1e9:,.0f} GB/s")
    if not w.is_training:
        out.append("speeds are estimates: decode bound by memory bandwidth, prefill by the matmul rate the engine's "
                   "kernels use, each calibrated per engine on published measurements (see each option's "
                   "speed_basis); cost per million generated tokens at the decode rate")
    if skipped:
        out.append(f"mode '{w.mode}' skips precisions that cannot hold its weights: {', '.join(skipped)}")
    out.extend(memory.assumption_lines(inv, w))
    if w.is_training:
        out.append(f"training speed: {6 if w.mode == 'full' else 4}N FLOPs per token (+2N with gradient "
                   f"checkpointing), N = active parameters, at {TRAINING_MFU:.0%} of the GPUs' bf16 peak (MFU); "
                   f"time and cost for {w.dataset_tokens:,} tokens x {w.epochs} epoch(s)")
    return tuple(out)


def context_points(limit: int, n: int = 32) -> tuple[int, ...]:
    """Context lengths to sample a memory-vs-context curve at: 0 .. limit, evenly spaced, ending at limit."""
    limit = max(1, limit)
    return tuple(sorted({max(1, round(limit * i / (n - 1))) for i in range(n)}))


def memory_curve(inv: Inventory, pid: str, workload: Workload, contexts: tuple[int, ...],
                 gpu_memory_bytes: int | None = None) -> tuple[int, ...]:
    """Total bytes (one GPU's worth of work) at each context length, the rest of the workload unchanged."""
    return tuple(memory.memory_breakdown(inv, pid, with_size(workload, context=c), gpu_memory_bytes).total
                 for c in contexts)
