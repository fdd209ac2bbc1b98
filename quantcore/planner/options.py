"""One precision on one GPU type: its placement, what it costs, how fast it runs (estimates), its limits."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from quantcore.formats import catalog as formats
from quantcore.formats.catalog import Precision
from quantcore.model.inventory import Inventory
from quantcore.planner import estimate, memory, speed
from quantcore.planner.activations import prefill_chunk_tokens
from quantcore.planner.estimate import Workpiece
from quantcore.planner.hardware import GPU
from quantcore.planner.memory import MemoryBreakdown
from quantcore.planner.placement import Host, Placement, nonlayer_weight_bytes
from quantcore.planner.train_speed import TrainingEstimate, training_estimate
from quantcore.planner.training import memo
from quantcore.planner.workload import Workload


@dataclass(eq=False)  # not frozen: hundreds are made per plan and frozen __init__ is slow; treat as read-only
class GpuOption:
    """One precision on one GPU model (read-only). `placement` is the cheapest way to run it; `multi_gpu` the fewest
    GPUs that hold everything (the same as placement unless that is a partial offload)."""

    gpu: GPU
    row: Any  # the PlanRow this option belongs to (its placements are worked out on first use)
    index: int  # which of the row's GPUs

    @property
    def placement(self) -> Placement:
        return self.row.placement_pair(self.index)[0]

    @property
    def multi_gpu(self) -> Placement:
        return self.row.placement_pair(self.index)[1]

    @property
    def inventory(self) -> Inventory:
        return self.row.inventory

    @property
    def precision(self) -> Precision:
        return self.row.precision

    @property
    def workload(self) -> Workload:
        """The row's workload, with the engine this row runs on (never "auto")."""
        return self.row.workload

    @property
    def host(self) -> Host | None:
        return self.row.host

    @property
    def count(self) -> int | None:
        """GPUs the placement uses; None when even 64 of them cannot hold the model."""
        return self.placement.gpus

    @property
    def per_gpu(self) -> MemoryBreakdown | None:
        """Memory on the fullest GPU of the placement."""
        return self.placement.per_gpu

    @property
    def fits(self) -> bool:
        """Fits entirely on a single GPU."""
        return self.placement.kind == "single"

    @property
    def engine(self) -> str:
        return self.workload.engine

    @property
    def badge(self) -> str:
        return self.placement.badge

    @property
    def purchase_usd(self) -> float | None:
        return None if self.count is None or self.gpu.purchase_usd is None else self.count * self.gpu.purchase_usd

    @property
    def hourly_usd(self) -> float | None:
        return None if self.count is None or self.gpu.hourly_usd is None else self.count * self.gpu.hourly_usd

    @cached_property
    def workpiece(self) -> Workpiece | None:
        if self.inventory.arch is None:
            return None
        kv = self.placement_kv_bytes
        return workpiece(self.inventory, self.precision, kv)

    @property
    def placement_kv_bytes(self) -> int:
        arch = self.inventory.arch
        w = self.workload
        return memory.kv_cache_bytes(arch, w.context, w.batch, w.kv_dtype) if arch and w.mode == "inference" else 0

    @property
    def compute(self) -> str:
        """The matmul type the engine's kernels use: llama.cpp multiplies every quantized type with int8 dot
        products (MMQ / MMVQ); bitsandbytes runs at the fp16 rate; otherwise the precision's own compute type."""
        if self.engine == "llamacpp" and self.precision.nominal_bits < 16:
            return "int8"
        if self.precision.family == "bnb":  # LLM.int8()'s fp16 outlier matmuls and NF4/FP4's dequantize-then-fp16
            return "fp16"  # run no faster than fp16 matmuls end to end
        return self.precision.compute

    def _speed_inputs(self) -> bool:
        return (self.count is not None and self.workpiece is not None and self.inventory.arch is not None
                and not self.inventory.arch.encoder_only and self.workload.mode == "inference")

    def multi_gpu_figures(self) -> dict[str, Any]:
        """The fewest-GPU layout's own figures (per-GPU memory, prices, speed estimates): what a report quotes when
        it recommends that layout over a partial offload. Equal to the option's own when the two layouts agree."""
        place = self.multi_gpu
        n = place.gpus
        out: dict[str, Any] = {"per_gpu_total": place.per_gpu.total if place.per_gpu else None,
                               "purchase_usd": None if n is None or self.gpu.purchase_usd is None
                               else n * self.gpu.purchase_usd,
                               "hourly_usd": None if n is None or self.gpu.hourly_usd is None
                               else n * self.gpu.hourly_usd,
                               "decode_tokens_per_s": None, "prefill_tokens_per_s": None,
                               "cost_per_million_tokens": None, "speed_basis": None}
        if n is None or not self._speed_inputs():
            return out
        if place == self.placement:
            decode, prefill, basis = self.decode_tokens_per_s, self.prefill_tokens_per_s, self.speed_basis
        else:
            basis = estimate.basis(self.gpu, place, self.workpiece, self.engine, self.compute, self.host)
            decode = estimate.decode_tokens_per_s(self.gpu, place, self.workpiece, self.engine, self.compute,
                                                  self.workload.batch, self.host)
            chunk = prefill_chunk_tokens(self.engine, self.gpu.memory_bytes)
            prefill = estimate.prefill_tokens_per_s(self.gpu, place, self.workpiece, self.engine, self.compute,
                                                    self.workload.context, self.workload.batch, chunk, self.host)
        out.update(decode_tokens_per_s=decode, prefill_tokens_per_s=prefill, speed_basis=basis)
        if decode and out["hourly_usd"] is not None:
            out["cost_per_million_tokens"] = speed.cost_per_million_tokens(out["hourly_usd"], decode)
        return out

    @cached_property
    def decode_tokens_per_s(self) -> float | None:
        """Generated tokens per second over the batch (an estimate; inference only)."""
        if not self._speed_inputs():
            return None
        return estimate.decode_tokens_per_s(self.gpu, self.placement, self.workpiece, self.engine,
                                            self.compute, self.workload.batch, self.host)

    @cached_property
    def prefill_tokens_per_s(self) -> float | None:
        """Prompt tokens processed per second over the batch, for prompts of the workload's context (an estimate)."""
        if not self._speed_inputs():
            return None
        chunk = prefill_chunk_tokens(self.engine, self.gpu.memory_bytes)
        return estimate.prefill_tokens_per_s(self.gpu, self.placement, self.workpiece, self.engine,
                                             self.compute, self.workload.context, self.workload.batch,
                                             chunk, self.host)

    @cached_property
    def speed_basis(self) -> str | None:
        """One line: how the speeds were estimated and what calibrates them."""
        if not self._speed_inputs():
            return None
        return estimate.basis(self.gpu, self.placement, self.workpiece, self.engine, self.compute, self.host)

    @cached_property
    def training(self) -> TrainingEstimate | None:
        """Training throughput, time, GPU-hours and cost on the placement's GPUs (training modes only)."""
        w = self.workload
        if self.count is None or not w.is_training:
            return None
        compute = "fp32" if self.precision.storage_bits >= 32 and w.mode == "full" else "bf16"
        return training_estimate(self.gpu, self.count, self.inventory.active_parameters, w.mode,
                                 w.effective_recompute, compute, w.dataset_tokens, w.epochs)

    @property
    def cost_per_million_tokens(self) -> float | None:
        tps, hourly = self.decode_tokens_per_s, self.hourly_usd
        if not tps or hourly is None:
            return None
        return speed.cost_per_million_tokens(hourly, tps)

    @cached_property
    def max_context(self) -> int:
        """Largest context per sequence that fits entirely on the placement's GPUs at this batch (0 if none; a
        partial offload counts its one GPU)."""
        return self._largest(memory.max_context)

    @cached_property
    def max_batch(self) -> int:
        """Largest batch at this context that fits entirely on the placement's GPUs (0 if none)."""
        return self._largest(memory.max_batch)

    def _largest(self, search) -> int:  # noqa: ANN001 - memory.max_context or memory.max_batch
        """On the placement's GPUs (a partial offload's one GPU: how far it could go without offloading)."""
        place = self.placement
        if place.gpus is None:
            return 0
        tp = place.tensor_parallel if place.kind == "tensor_parallel" else 1
        if place.kind == "pipeline":  # a layer split shares the model's bytes n ways, near enough for the limits
            budget = self.gpu.usable_bytes * place.gpus - (place.gpus - 1) * (place.per_gpu.overhead if place.per_gpu
                                                                             else 0)
        else:
            budget = self.gpu.usable_bytes
        return search(self.inventory, self.precision.id, replace(self.workload, tensor_parallel=tp), budget,
                      self.gpu.memory_bytes)


def workpiece(inv: Inventory, p: Precision, kv_bytes: int) -> Workpiece:
    """What a token of this model at precision p reads and computes, for the speed estimates."""
    arch = inv.arch
    assert arch is not None
    weights = formats.weight_bytes(inv, p.id)
    first, last = nonlayer_weight_bytes(inv, p)
    tied = arch.tie_embeddings or not any(t.role == "head" for t in inv.tensors)
    read_all = weights - (0 if tied else first)  # an untied embedding table is gathered from, not read
    experts = 0
    if arch.is_moe and inv.expert_parameters:
        layered_params = memo(inv, ("layered_params",), lambda: sum(
            t.numel for t in inv.tensors if t.layer is not None and t.role != "buffer")) or 1
        experts = int((weights - first - last) * min(1.0, inv.expert_parameters / layered_params))
    k, e = arch.experts_per_token, arch.num_experts
    active = read_all - (experts - experts * k // e if experts and e else 0)
    kinds = arch.attention_kinds
    window = arch.sliding_window or 0
    return Workpiece(weight_bytes=active, all_weight_bytes=read_all, expert_bytes=experts, kv_bytes=kv_bytes,
                     head_bytes=last + (first if tied else 0), active_parameters=inv.active_parameters,
                     layers=arch.num_layers, attention_layers=kinds.count("full") + kinds.count("sliding") * (
                         1.0 if not window else 0.0),
                     attention_dim=arch.num_heads * arch.head_dim, experts=e if experts else 0,
                     experts_per_token=k if experts else 0)
