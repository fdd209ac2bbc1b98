"""Where a model goes on a GPU type: one GPU, tensor parallel, layer split / pipeline, or partial offload to host RAM.

The cheapest placement wins: a single GPU; else one GPU with some layers left in system RAM (llama.cpp -ngl,
accelerate device_map with "cpu", vLLM --cpu-offload-gb), when the host can hold them; else the fewest GPUs, by
tensor parallelism (a degree that divides the attention heads; vLLM/SGLang) or by layers (any count: llama.cpp
--split-mode layer, vLLM --pipeline-parallel-size, accelerate device_map); else "too large".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from quantcore.errors import BadInputError
from quantcore.formats import catalog as formats
from quantcore.formats.catalog import Precision
from quantcore.model.inventory import Inventory
from quantcore.planner import memory
from quantcore.planner.memory import MemoryBreakdown
from quantcore.planner.training import memo

GiB = 2**30
MAX_GPUS = 64  # most GPUs any placement may use
# The machine's system RAM and its speed, when the user says nothing: a 64 GiB desktop with dual-channel DDR5-5600
# (2 channels x 8 bytes x 5600 MT/s = 89.6 GB/s peak) and a PCIe 4.0 x16 slot (31.5 GB/s per direction, about
# 25 GB/s in practice for pinned host-to-device copies).
DEFAULT_HOST_RAM_BYTES = 64 * GiB
DEFAULT_HOST_BANDWIDTH = 89.6e9
DEFAULT_PCIE_BANDWIDTH = 25e9
HOST_RESERVED_BYTES = 4 * GiB  # kept for the OS, the engine process and the desktop; not for offloaded layers
# Engines and the multi-GPU layouts they run: llama.cpp splits by layer (its -sm row is not tensor parallelism);
# vLLM and SGLang do tensor parallelism (heads split evenly) and pipeline stages; transformers spreads layers with
# accelerate's device_map. Every one can leave layers in host RAM.
TENSOR_PARALLEL_ENGINES = ("vllm", "sglang")

KINDS = ("single", "tensor_parallel", "pipeline", "offload", "too_large")


@dataclass(frozen=True)
class Host:
    """The machine the GPUs sit in: system RAM for offloaded layers, its bandwidth, the PCIe link to the GPU."""

    ram_bytes: int = DEFAULT_HOST_RAM_BYTES
    bandwidth_bytes_per_s: float = DEFAULT_HOST_BANDWIDTH
    pcie_bytes_per_s: float = DEFAULT_PCIE_BANDWIDTH

    def __post_init__(self) -> None:
        r = self.ram_bytes
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= 2**50:
            raise BadInputError(f"host RAM {r!r} must be a whole number of bytes, 0 to 1 PiB (e.g. --ram 64GiB)")
        rates = (("host memory bandwidth", self.bandwidth_bytes_per_s), ("PCIe bandwidth", self.pcie_bytes_per_s))
        for name, v in rates:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1e6 <= v <= 1e14:
                raise BadInputError(f"{name} {v!r} must be in bytes per second, e.g. 89.6e9 for dual-channel DDR5")

    @property
    def usable_bytes(self) -> int:
        """RAM that may hold offloaded layers: all of it but HOST_RESERVED_BYTES."""
        return max(0, self.ram_bytes - HOST_RESERVED_BYTES)


@dataclass(frozen=True)
class Placement:
    """How one precision sits on one GPU type. per_gpu is the fullest GPU's share (None when too large)."""

    kind: str
    gpus: int | None
    tensor_parallel: int
    pipeline_parallel: int
    gpu_layers: int | None
    total_layers: int | None
    host_bytes: int
    per_gpu: MemoryBreakdown | None

    @property
    def badge(self) -> str:
        """The short label users know: "full GPU", "2 GPUs, tensor parallel", "partial offload 61/80 layers"."""
        if self.kind == "single":
            return "full GPU"
        if self.kind == "tensor_parallel":
            return f"{self.gpus} GPUs, tensor parallel"
        if self.kind == "pipeline":
            return f"{self.gpus} GPUs, layer split"
        if self.kind == "offload":
            return f"partial offload {self.gpu_layers}/{self.total_layers} layers"
        return "too large"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "gpus": self.gpus, "tensor_parallel": self.tensor_parallel,
                "pipeline_parallel": self.pipeline_parallel, "gpu_layers": self.gpu_layers,
                "total_layers": self.total_layers, "host_bytes": self.host_bytes, "badge": self.badge}


TOO_LARGE = Placement("too_large", None, 1, 1, None, None, 0, None)


# ------------------------------------------------------------------------------------------ splitting by layer


@dataclass(frozen=True)
class LayerSplit:
    """A memory breakdown divided into what travels with each layer and what stays put.

    Each GPU of a layer split holds its layers (weights, KV cache, training states), the first GPU also the token
    embedding, the last the output head and final norm, and every GPU its own runtime overhead and compute buffer
    (inference activations). Training activations are kept per layer, so they split with the layers."""

    mem: MemoryBreakdown
    layers: int
    first_weights: int  # token / position embeddings
    last_weights: int  # output head, final norm, anything else outside the blocks
    training: bool
    full: bool  # full fine-tune: gradients and optimizer states follow the weights

    def _part(self, total: int, first: bool, last: bool, n_layers: int, share: bool) -> int:
        """One component of a GPU holding n_layers (+ the first / last pieces when share says it follows weights)."""
        w = max(1, self.mem.weights)
        head = (self.first_weights if first else 0) + (self.last_weights if last else 0)
        fixed = total * (self.first_weights + self.last_weights) // w if share else 0
        own = total * head // w if share else 0
        per_layer = (total - fixed) / self.layers if self.layers else 0
        return math.ceil(per_layer * n_layers) + own

    def share(self, n_layers: int, first: bool, last: bool) -> MemoryBreakdown:
        """The breakdown of a GPU that holds n_layers blocks (+ the embedding if first, + the head if last)."""
        m = self.mem
        wl = (m.weights - self.first_weights - self.last_weights) / self.layers if self.layers else 0
        weights = math.ceil(wl * n_layers) + (self.first_weights if first else 0) + (self.last_weights if last else 0)
        act = self._part(m.activations, False, False, n_layers, False) if self.training else m.activations
        return MemoryBreakdown(
            weights=weights,
            kv_cache=math.ceil(m.kv_cache * n_layers / self.layers) if self.layers else 0,
            activations=act,
            gradients=self._part(m.gradients, first, last, n_layers, self.full),
            optimizer=self._part(m.optimizer, first, last, n_layers, self.full),
            adapters=self._part(m.adapters, first, last, n_layers, False),
            overhead=m.overhead)

    def load(self, n_layers: int, first: bool, last: bool) -> float:
        """Total bytes of a GPU holding n_layers blocks (+ first / last pieces), from the precomputed parts."""
        return (self.fixed + n_layers * self.per_layer + (self.first_extra if first else 0)
                + (self.last_extra if last else 0))

    # per_layer, fixed, first_extra and last_extra are worked out once by layer_split (see _measured)
    per_layer: float = 0.0  # bytes one block brings to whichever GPU holds it
    fixed: int = 0  # bytes every GPU holds whatever its layers (runtime overhead, inference compute buffer)
    first_extra: int = 0  # what the embedding (and its training states) adds to the first GPU
    last_extra: int = 0  # what the head adds to the last GPU


def _measured(split: LayerSplit) -> LayerSplit:
    """The split with its per-layer / fixed / first / last byte counts filled in (the arithmetic of share())."""
    m = split.mem
    e, h = split.first_weights, split.last_weights
    w = max(1, m.weights)
    states = m.gradients + m.optimizer  # follow the weights in a full fine-tune, the adapted layers otherwise
    first = e + (states * e // w if split.full else 0)
    last = h + (states * h // w if split.full else 0)
    layered = (m.weights - e - h) + m.kv_cache + (m.activations if split.training else 0) + m.adapters + (
        states - (states * (e + h) // w if split.full else 0))
    fixed = m.overhead + (0 if split.training else m.activations)
    return replace(split, per_layer=layered / split.layers if split.layers else 0.0, fixed=fixed,
                   first_extra=first, last_extra=last)


def nonlayer_weight_bytes(inv: Inventory, p: Precision) -> tuple[int, int]:
    """(embedding bytes, other bytes outside the blocks: output head, final norm) at precision p."""
    def build() -> tuple[int, int]:
        first = last = 0
        for t in inv.tensors:
            if t.role == "buffer" or t.layer is not None:
                continue
            b = t.stored_bytes if p.family == "stored" else formats.tensor_bytes(t, p, inv.arch)
            if t.role == "embedding":
                first += b
            else:
                last += b
        return first, last
    return memo(inv, ("nonlayer_bytes", p.id), build)


def layer_split(inv: Inventory, p: Precision, mem: MemoryBreakdown, mode: str) -> LayerSplit:
    first, last = nonlayer_weight_bytes(inv, p)
    layers = inv.arch.num_layers if inv.arch else 0
    total = first + last
    if total > mem.weights:  # ZeRO-3 shards or rounding: keep the parts inside the weights line
        first, last = first * mem.weights // max(1, total), last * mem.weights // max(1, total)
    return _measured(LayerSplit(mem, max(0, layers), first, last, mode != "inference", mode == "full"))


def _layers_fitting(split: LayerSplit, cap: float, first: bool, last: bool) -> int:
    """Most blocks a GPU with `cap` bytes holds beside the fixed part and its first/last pieces (-1: not even those)."""
    room = cap - split.load(0, first, last)
    if room < 0:
        return -1
    per = split.per_layer
    return split.layers if per <= 0 else min(split.layers, int(room // per))


def _split_fits(split: LayerSplit, n: int, cap: float) -> bool:
    if n == 1:
        return split.load(split.layers, True, True) <= cap
    g0, gl = _layers_fitting(split, cap, True, False), _layers_fitting(split, cap, False, True)
    gm = _layers_fitting(split, cap, False, False) if n > 2 else 0
    return min(g0, gl, gm) >= 0 and g0 + gl + (n - 2) * gm >= split.layers


def pipeline_gpus(split: LayerSplit, budget: int, limit: int = MAX_GPUS) -> int | None:
    """Fewest GPUs of `budget` bytes that hold the model split by contiguous layers (None beyond `limit`)."""
    if split.layers < 1:
        return 1 if split.load(0, True, True) <= budget else None
    g0, gl = _layers_fitting(split, budget, True, False), _layers_fitting(split, budget, False, True)
    gm = _layers_fitting(split, budget, False, False)
    if min(g0, gl) < 0:
        return None
    rest = split.layers - g0 - gl
    if rest <= 0:
        return 2
    if gm <= 0:
        return None
    n = 2 + -(-rest // gm)
    return n if n <= min(limit, split.layers) else None


def balanced_share(split: LayerSplit, n: int, budget: int) -> tuple[MemoryBreakdown, tuple[int, ...]]:
    """The fullest GPU's breakdown and the layers per GPU when n GPUs share the model as evenly as they can."""
    # the per-GPU cap an even split needs, raised a fraction of a layer at a time until whole layers fit
    step = max(split.per_layer / n, 1.0)
    hi = split.fixed + (split.layers * split.per_layer + split.first_extra + split.last_extra) / n
    while hi < budget and not _split_fits(split, n, hi):
        hi += step
    hi = min(hi, float(budget))
    counts, left = [], split.layers
    for i in range(n):
        first, last = i == 0, i == n - 1
        take = left if last else max(0, min(left, _layers_fitting(split, hi, first, False)))
        counts.append(take)
        left -= take
    fullest = max(range(n), key=lambda i: split.load(counts[i], i == 0, i == n - 1))
    return split.share(counts[fullest], fullest == 0, fullest == n - 1), tuple(counts)


# ------------------------------------------------------------------------------------------ the choice


def offload(split: LayerSplit, budget: int, host: Host) -> Placement | None:
    """One GPU holding as many blocks as fit (llama.cpp -ngl), the rest and the embeddings in host RAM."""
    k = _layers_fitting(split, budget, False, False)
    if k < 1 or split.layers < 1:
        return None
    k = min(k, split.layers)
    head_on_gpu = k == split.layers and split.share(k, False, True).total <= budget
    gpu = split.share(k, False, head_on_gpu)
    m = split.mem
    host_bytes = (m.weights - gpu.weights) + (m.kv_cache - gpu.kv_cache)
    if host_bytes <= 0 or host_bytes > host.usable_bytes:
        return None
    return Placement("offload", 1, 1, 1, k, split.layers, host_bytes, gpu)


def place(inv: Inventory, p: Precision, mem: MemoryBreakdown, engine: str, mode: str, budget: int,
          tp_degrees: tuple[int, ...], host: Host | None, unified_memory: bool,
          split: LayerSplit | None = None) -> tuple[Placement, Placement]:
    """(cheapest placement, fewest-GPU placement that holds everything) of breakdown `mem` on GPUs of `budget` bytes.

    tp_degrees: tensor-parallel degrees the model allows (divisors of its head count). host None: no offload.
    Offload is for inference on a discrete GPU (a unified-memory GPU's "host RAM" is the same memory).
    split: layer_split(inv, p, mem, mode) when the caller already has it (one per breakdown, many GPUs)."""
    if mem.total <= budget:
        single = Placement("single", 1, 1, 1, _layers(inv), _layers(inv), 0, mem)
        return single, single
    if split is None or split.mem is not mem:
        split = layer_split(inv, p, mem, mode)
    multi = TOO_LARGE
    n_pp = pipeline_gpus(split, budget)
    n_tp, tp_share = (None, None)
    if engine in TENSOR_PARALLEL_ENGINES:
        lower = n_pp if n_pp is not None else MAX_GPUS + 1
        n_tp, tp_share = tensor_parallel(inv, mem, budget, tuple(d for d in tp_degrees if d <= lower))
    if n_tp is not None and (n_pp is None or n_tp <= n_pp):
        multi = Placement("tensor_parallel", n_tp, n_tp, 1, _layers(inv), _layers(inv), 0, tp_share)
    elif n_pp is not None:
        share, _ = balanced_share(split, n_pp, budget)
        multi = Placement("pipeline", n_pp, 1, n_pp, _layers(inv), _layers(inv), 0, share)
    if mode == "inference" and host is not None and not unified_memory:
        off = offload(split, budget, host)
        if off is not None:
            return off, multi
    return multi, multi


def tensor_parallel(inv: Inventory, base: MemoryBreakdown, budget: int,
                    degrees: tuple[int, ...]) -> tuple[int | None, MemoryBreakdown | None]:
    """The fewest GPUs (a valid tensor-parallel degree) whose per-GPU share of `base` fits in `budget` bytes."""
    room = budget - base.overhead
    if room <= 0:
        return None, None
    w, kv, a, g, o, ad = base.weights, base.kv_cache, base.activations, base.gradients, base.optimizer, base.adapters
    lower = -(-(w + kv + a + g + o + ad) // room)  # no split can beat an even one
    for n in degrees:
        if n < lower or n < 2:
            continue
        kv_n = memory.kv_cache_shards(inv.arch, n)
        if -(-w // n) + -(-kv // kv_n) + -(-a // n) + -(-g // n) + -(-o // n) + -(-ad // n) <= room:
            return n, base.for_tensor_parallel(n, kv_n)
    return None, None


def _layers(inv: Inventory) -> int | None:
    return inv.arch.num_layers if inv.arch else None
