"""Combine inventory x precisions x workload x GPUs into a Plan: pure, fast, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from quantcore.errors import BadInputError
from quantcore.formats import catalog as formats
from quantcore.formats.catalog import Precision
from quantcore.formats.mixture import Mixture
from quantcore.formats.mixture import register as register_mixture
from quantcore.model.inventory import Inventory
from quantcore.planner import memory, speed
from quantcore.planner.hardware import GPU
from quantcore.planner.memory import MemoryBreakdown
from quantcore.planner.workload import Workload, with_size

MAX_GPUS = 64  # tensor-parallel degrees tried: divisors of the head count up to this


@dataclass(eq=False)  # not frozen: hundreds are made per plan and frozen __init__ is slow; treat as read-only
class GpuOption:
    """One precision on one GPU model: how many are needed, what they cost, how fast they run (read-only)."""

    gpu: GPU
    count: int | None  # GPUs needed (tensor parallel); None when even MAX_GPUS do not hold it
    per_gpu: MemoryBreakdown | None  # memory on each of the `count` GPUs
    inventory: Inventory
    precision: Precision
    workload: Workload

    @property
    def fits(self) -> bool:
        """Fits on a single GPU."""
        return self.count == 1

    @property
    def purchase_usd(self) -> float | None:
        return None if self.count is None or self.gpu.purchase_usd is None else self.count * self.gpu.purchase_usd

    @property
    def hourly_usd(self) -> float | None:
        return None if self.count is None or self.gpu.hourly_usd is None else self.count * self.gpu.hourly_usd

    @cached_property
    def decode_tokens_per_s(self) -> float | None:
        if self.count is None or self.per_gpu is None or self.inventory.arch is None or self.inventory.arch.encoder_only:
            return None
        return speed.decode_tokens_per_s(
            self.gpu, self.count, bytes_per_step=decode_bytes_per_step(self.inventory, self.precision, self.workload),
            flops_per_token=2.0 * self.inventory.active_parameters, batch=self.workload.batch,
            compute=self.precision.compute, num_layers=self.inventory.arch.num_layers)

    @cached_property
    def prefill_tokens_per_s(self) -> float | None:
        if self.count is None:
            return None
        return speed.prefill_tokens_per_s(self.gpu, self.count, self.inventory.active_parameters,
                                          self.workload.context, self.precision.compute)

    @property
    def cost_per_million_tokens(self) -> float | None:
        tps, hourly = self.decode_tokens_per_s, self.hourly_usd
        if not tps or hourly is None:
            return None
        return speed.cost_per_million_tokens(hourly, tps)

    @cached_property
    def max_context(self) -> int:
        """Largest context per sequence that fits on `count` GPUs at this batch (0 if none)."""
        if self.count is None:
            return 0
        return memory.max_context(self.inventory, self.precision.id, replace(self.workload, tensor_parallel=self.count),
                                  self.gpu.usable_bytes, self.gpu.memory_bytes)

    @cached_property
    def max_batch(self) -> int:
        """Largest batch at this context that fits on `count` GPUs (0 if none)."""
        if self.count is None:
            return 0
        return memory.max_batch(self.inventory, self.precision.id, replace(self.workload, tensor_parallel=self.count),
                                self.gpu.usable_bytes, self.gpu.memory_bytes)


@dataclass(frozen=True)
class PlanRow:
    """One precision: its memory breakdown, and per GPU of the plan how many are needed and what each holds.

    counts/per_gpu are computed eagerly for every GPU; `gpus` wraps them in GpuOption views (cost, speed, limits)
    the first time a renderer asks.
    """

    precision: Precision
    bits_per_weight: float
    memory: MemoryBreakdown
    inventory: Inventory
    workload: Workload
    gpu_list: tuple[GPU, ...]
    counts: tuple[int | None, ...]
    per_gpu: tuple[MemoryBreakdown | None, ...]

    @cached_property
    def gpus(self) -> tuple[GpuOption, ...]:
        return tuple(GpuOption(g, c, m, self.inventory, self.precision, self.workload)
                     for g, c, m in zip(self.gpu_list, self.counts, self.per_gpu))


@dataclass(frozen=True)
class Plan:
    inventory: Inventory
    workload: Workload
    rows: tuple[PlanRow, ...]
    skipped: tuple[str, ...]  # precision ids that make no sense for this workload's mode
    assumptions: tuple[str, ...]


def decode_bytes_per_step(inv: Inventory, p: Precision, w: Workload) -> int:
    """Bytes one decode step reads: the active weights once plus the whole KV cache of the batch."""
    weights = formats.weight_bytes(inv, p.id)
    if inv.parameters and inv.active_parameters < inv.parameters:
        weights = weights * inv.active_parameters // inv.parameters
    kv = memory.kv_cache_bytes(inv.arch, w.context, w.batch, w.kv_dtype) if inv.arch else 0
    return weights + kv


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
    room = budget - base.overhead
    if room <= 0:
        return None, None
    w, kv, a, g, o, ad = base.weights, base.kv_cache, base.activations, base.gradients, base.optimizer, base.adapters
    lower = -(-(w + kv + a + g + o + ad) // room)  # no split can beat an even one
    arch = inv.arch
    for n in degrees:
        if n < lower:
            continue
        kv_n = memory.kv_cache_shards(arch, n)
        if -(-w // n) + -(-kv // kv_n) + -(-a // n) + -(-g // n) + -(-o // n) + -(-ad // n) <= room:
            return n, shard(base, inv, n)
    return None, None


def applicable(p: Precision, mode: str) -> bool:
    """Whether a precision makes sense as the weight format of this training/inference mode."""
    if mode == "full":
        return p.training == "full"
    if mode == "qlora":
        return p.training == "qlora"
    return True  # inference, and LoRA on top of any frozen base (PEFT adapts GPTQ/AWQ/GGUF-dequantized bases too)


def make_plan(inv: Inventory, workload: Workload, precision_ids: tuple[str, ...] | None = None,
              gpus: tuple[GPU, ...] = (), hidden: tuple[str, ...] = (), mixtures: tuple[Mixture, ...] = ()) -> Plan:
    """The whole plan: every requested precision x every GPU. Pure; cheap enough to run on every keystroke.

    precision_ids: plan exactly these (an error if one cannot serve the mode); default all that can.
    hidden: leave these out of the default set (the GUI's unticked precisions).
    mixtures: per-tensor assignments (the lab's mixed-precision suggestion), each one more row after the others.
    """
    chosen = precision_ids or tuple(p for p in formats.precision_ids() if p not in hidden)
    precisions = [formats.get_precision(p) for p in chosen] + [register_mixture(m) for m in mixtures]
    if precision_ids:
        wrong = [p.id for p in precisions if not applicable(p, workload.mode)]
        if wrong:
            valid = [p.id for p in formats.PRECISIONS if applicable(p, workload.mode)]
            raise BadInputError(f"mode '{workload.mode}' cannot use {', '.join(wrong)} as its weight format; "
                                f"use one of: {', '.join(valid)}")
    rows, skipped = [], []
    degrees = parallel_degrees(inv)
    gpu_dependent = memory.depends_on_gpu(workload)
    # GPUs with the same memory size and usable budget need the same count: work each distinct one out once.
    keys = [(g.memory_bytes if gpu_dependent else 0, g.usable_bytes) for g in gpus]
    distinct = sorted(set(keys))
    slot = [distinct.index(k) for k in keys]
    for p in precisions:
        if not applicable(p, workload.mode):
            skipped.append(p.id)
            continue
        mem = memory.memory_breakdown(inv, p.id, workload, gpus[0].memory_bytes if gpus else None)
        total = mem.total
        answers: list[tuple[int | None, MemoryBreakdown | None]] = []
        for gpu_memory, budget in distinct:
            base = memory.memory_breakdown(inv, p.id, workload, gpu_memory) if gpu_dependent else mem
            if base is mem and total <= budget:
                answers.append((1, mem))
            else:
                answers.append(gpus_needed(inv, base, budget, degrees))
        counts = tuple(answers[k][0] for k in slot)
        shares = tuple(answers[k][1] for k in slot)
        rows.append(PlanRow(precision=p, bits_per_weight=formats.bits_per_weight(inv, p.id), memory=mem,
                            inventory=inv, workload=workload, gpu_list=gpus, counts=counts, per_gpu=shares))
    return Plan(inventory=inv, workload=workload, rows=tuple(rows), skipped=tuple(skipped),
                assumptions=assumptions(inv, workload, tuple(skipped)))


def assumptions(inv: Inventory, w: Workload, skipped: tuple[str, ...]) -> tuple[str, ...]:
    out = list(inv.notes)
    out.append("bytes are exact integers; GiB = 2**30 bytes, GB = 10**9 bytes")
    out.append(f"context {w.context:,} tokens per sequence (prompt + generated), batch {w.batch}, KV cache in {w.kv_dtype}")
    out.append(f"runtime overhead from the '{w.engine}' preset" + (
        f" overridden to {w.overhead_bytes:,} bytes" if w.overhead_bytes is not None else ""))
    out.append("multi-GPU counts are tensor-parallel degrees that divide the attention heads; communication "
               "buffers are not counted; each decode step on several GPUs waits for 2 all-reduces per layer of "
               f"{speed.ALLREDUCE_LATENCY_S * 1e6:g} us")
    out.append(f"speed: roofline estimate (decode bound by memory bandwidth x {speed.BANDWIDTH_EFFICIENCY:g}, "
               f"prefill by compute x {speed.FLOPS_EFFICIENCY:g}); cost per million generated tokens at the decode rate")
    if skipped:
        out.append(f"mode '{w.mode}' skips precisions that cannot hold its weights: {', '.join(skipped)}")
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
