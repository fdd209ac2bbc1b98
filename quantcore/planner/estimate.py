"""Speed estimates per engine, GPU backend and placement, calibrated on published measurements; each says its basis.

Decode: a step reads the active weights (not the token-embedding table, which is only gathered from) and the batch's
KV cache once: bytes / (bandwidth x efficiency), plus a fixed launch / synchronisation cost per layer, or the
matmul time when a large batch makes it compute bound. Prefill: the prompt's FLOPs at the matmul rate the engine's
kernels use x efficiency, never faster than reading the weights once per chunk of the prompt; a mixture of experts
touches all its experts in every chunk, and small per-expert batches run its GEMMs below the dense efficiency.

Calibration (tests/test_speed_calibration.py holds the published figures; every estimate stays within 30%):
  llama.cpp CUDA: llama-bench tables posted with llama.cpp pull requests (JohannesGaessler and others): RTX 4090
    llama 8B Q4_0 pp512 10,359 t/s (#7676), RTX 6000 Ada llama 8B Q4_0 tg128 168.9 t/s and pp8096 8,008 t/s,
    llama 3B Q4_K_M tg128 315.5 / pp8096 16,149, gpt-oss 20B MXFP4 tg128 253.8 / pp8096 8,404 (#19053).
    Decode reaches ~80% of the memory bandwidth; prompt processing (int8 MMQ kernels) ~21% of the int8 tensor peak.
  llama.cpp Metal: M2 Ultra llama 3B F16 / Q4_0 pp512 3,238 / 2,986 and tg128 72.3 / 155.9 t/s (ggerganov, #10238):
    ~70% of bandwidth with ~80 us per layer of command-buffer overhead; prefill ~70% of the fp16 GPU peak.
  vLLM / SGLang / transformers: no batch-1 measurement from those projects was found to calibrate against; they use
    the same bandwidth share, CUDA-graph launch costs for vLLM/SGLang (10 us per layer) and PyTorch-eager ones for
    transformers (0.3 ms per layer: ~20 kernels of ~15 us CPU launch each), and 45% of the matmul peak for prefill.
GeForce cards: the catalog's fp16/bf16/fp8 tensor peaks are the fp16-accumulate figures of NVIDIA's whitepapers;
PyTorch's cuBLAS matmuls (transformers, vLLM, SGLang) accumulate in fp32, which GeForce runs at half that rate
(RTX 4090: 165.2 -> 82.6 TFLOPS). llama.cpp's quantized kernels use int8 dot products (full rate) and its F16
matmuls fp16 accumulation, so they keep the catalog peak.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from quantcore.planner.hardware import GPU
from quantcore.planner.placement import Host, Placement

ALLREDUCE_LATENCY_S = 15e-6  # per all-reduce at batch-1 sizes (nccl-tests: ~10-20 us on NVLink); 2 per layer
STAGE_HOP_S = 20e-6  # passing activations to the next pipeline stage / layer-split GPU
HOST_BANDWIDTH_EFFICIENCY = 0.7  # share of the DRAM peak a CPU matmul-vector loop streams (STREAM-like)
# A mixture-of-experts GEMM needs about this many tokens per expert to run at the dense efficiency: gpt-oss-20b's
# prompt processing on an RTX 6000 Ada (64 tokens per expert per 512-token ubatch) ran at 0.44x the dense llama 8B's
# share of peak (llama.cpp #19053); the factor is min(1, tokens per expert / this).
MOE_SATURATION_TOKENS = 146


@dataclass(frozen=True)
class EngineSpeed:
    bandwidth_efficiency: float  # share of the GPU's memory bandwidth a decode step streams at
    layer_overhead_s: float  # fixed cost per layer per forward pass (kernel launches, synchronisation)
    prefill_efficiency: float  # share of the matmul rate (see matmul_rate) prompt processing reaches
    basis: str


_TORCH_GRAPHS = EngineSpeed(0.80, 10e-6, 0.45, "vLLM-style CUDA graphs; not calibrated on a published batch-1 run")
_TORCH_EAGER = EngineSpeed(0.80, 300e-6, 0.45, "PyTorch eager launches; not calibrated on a published batch-1 run")
CALIBRATION: dict[tuple[str, str], EngineSpeed] = {
    ("llamacpp", "cuda"): EngineSpeed(0.80, 10e-6, 0.21, "calibrated on llama-bench (llama.cpp #7676, #19053)"),
    ("llamacpp", "metal"): EngineSpeed(0.70, 80e-6, 0.70, "calibrated on llama-bench, M2 Ultra (llama.cpp #10238)"),
    ("vllm", "cuda"): _TORCH_GRAPHS, ("vllm", "metal"): _TORCH_GRAPHS,
    ("sglang", "cuda"): _TORCH_GRAPHS, ("sglang", "metal"): _TORCH_GRAPHS,
    ("hf", "cuda"): _TORCH_EAGER, ("hf", "metal"): _TORCH_EAGER,
    ("none", "cuda"): _TORCH_EAGER, ("none", "metal"): _TORCH_EAGER,
}
ENGINE_NAMES = {"hf": "transformers", "vllm": "vLLM", "llamacpp": "llama.cpp", "sglang": "SGLang", "none": "PyTorch"}


@dataclass(frozen=True)
class Workpiece:
    """What one token costs, independent of the GPU."""

    weight_bytes: int  # weights a decode step reads (active experts only, no embedding gather table)
    all_weight_bytes: int  # every weight (what a prompt chunk may touch)
    expert_bytes: int  # routed experts' share of all_weight_bytes
    kv_bytes: int  # the batch's KV cache at the workload's context
    head_bytes: int  # output head + final norm (left on the host by a partial offload unless every layer fits)
    active_parameters: int
    layers: int
    attention_layers: float  # layers whose attention spans the whole context (sliding ones counted by their share)
    attention_dim: int  # heads x head_dim
    experts: int = 0
    experts_per_token: int = 0


def backend(gpu: GPU) -> str:
    """"metal" for Apple GPUs, else "cuda" (ROCm GPUs use the CUDA calibration: none published here)."""
    return "metal" if gpu.vendor.lower() == "apple" else "cuda"


def calibration(engine: str, gpu: GPU) -> EngineSpeed:
    return CALIBRATION.get((engine, backend(gpu)), _TORCH_EAGER)


def fp32_accumulate_halved(gpu: GPU, compute: str, engine: str) -> bool:
    """Whether this GPU runs the engine's matmuls at half the catalog peak (GeForce, fp32 accumulation)."""
    return "geforce" in gpu.name.lower() and engine != "llamacpp" and compute in ("fp16", "bf16", "fp8")


def matmul_rate(gpu: GPU, compute: str, engine: str) -> float:
    """Peak matmul operations per second for `compute` as the engine's kernels run them on this GPU."""
    rate = gpu.flops_for(compute)
    return rate / 2 if fp32_accumulate_halved(gpu, compute, engine) else rate


def _rate_name(gpu: GPU, compute: str, engine: str) -> str:
    """"661 int8 TOPS", "83 fp16 TFLOPS, fp32 accumulate": the rate matmul_rate used, named as the catalog names it
    (a GPU without the unit runs the type through its fp16 rate, see GPU.flops_for)."""
    own = {"fp32": gpu.fp32_flops, "fp16": gpu.fp16_flops, "bf16": gpu.bf16_flops, "fp8": gpu.fp8_flops,
           "int8": gpu.int8_ops}.get(compute)
    used = compute if own else ("fp16" if gpu.fp16_flops else "fp32")
    unit = "TOPS" if used == "int8" else "TFLOPS"
    acc = ", fp32 accumulate" if fp32_accumulate_halved(gpu, compute, engine) else ""
    return f"{matmul_rate(gpu, compute, engine) / 1e12:,.0f} {used} {unit}{acc}"


# ------------------------------------------------------------------------------------------------ decode


def decode_seconds(gpu: GPU, place: Placement, piece: Workpiece, engine: str, compute: str, batch: int,
                   host: Host | None) -> float:
    """Seconds of one decode step of `batch` sequences on this placement."""
    cal = calibration(engine, gpu)
    n = place.gpus or 1
    bw = gpu.bandwidth_bytes_per_s * cal.bandwidth_efficiency
    read = piece.weight_bytes + piece.kv_bytes
    layers = piece.layers * cal.layer_overhead_s
    flops = batch * 2.0 * piece.active_parameters
    rate = matmul_rate(gpu, compute, engine) * cal.prefill_efficiency
    if place.kind == "tensor_parallel":
        return max(read / (n * bw), flops / (n * rate)) + layers + 2 * piece.layers * ALLREDUCE_LATENCY_S
    if place.kind == "offload":
        on_gpu, on_host = offload_reads(place, piece)
        h = host or Host()
        host_rate = (h.bandwidth_bytes_per_s * HOST_BANDWIDTH_EFFICIENCY if engine == "llamacpp"
                     else min(h.pcie_bytes_per_s, h.bandwidth_bytes_per_s))
        return max(on_gpu / bw, flops / rate) + on_host / host_rate + layers
    hops = (n - 1) * STAGE_HOP_S if place.kind == "pipeline" else 0.0
    return max(read / bw, flops / rate) + layers + hops


def offload_reads(place: Placement, piece: Workpiece) -> tuple[float, float]:
    """(bytes read from GPU memory, bytes read from host memory) per decode step of a partial offload."""
    total = place.total_layers or piece.layers or 1
    k = min(place.gpu_layers or 0, total)
    head = piece.head_bytes if k < total else 0
    layered = max(0, piece.weight_bytes - piece.head_bytes) + piece.kv_bytes
    on_gpu = layered * k / total + (piece.head_bytes if k >= total else 0)
    return on_gpu, layered * (total - k) / total + head


def decode_tokens_per_s(gpu: GPU, place: Placement, piece: Workpiece, engine: str, compute: str, batch: int,
                        host: Host | None = None) -> float:
    return batch / decode_seconds(gpu, place, piece, engine, compute, batch, host)


# ------------------------------------------------------------------------------------------------ prefill


def _moe_factor(piece: Workpiece, chunk: int) -> float:
    if not piece.experts or not piece.experts_per_token:
        return 1.0
    per_expert = chunk * piece.experts_per_token / piece.experts
    return min(1.0, per_expert / MOE_SATURATION_TOKENS)


def _touched_bytes(piece: Workpiece, chunk: int) -> float:
    """Weight bytes one prompt chunk reads: everything but the embedding gather, and the experts its tokens reach."""
    dense = piece.all_weight_bytes - piece.expert_bytes
    if not piece.experts or not piece.experts_per_token:
        return piece.all_weight_bytes
    reached = 1.0 - (1.0 - piece.experts_per_token / piece.experts) ** chunk
    return dense + piece.expert_bytes * reached


def prefill_seconds(gpu: GPU, place: Placement, piece: Workpiece, engine: str, compute: str, tokens: int,
                    batch: int, chunk: int | None, host: Host | None = None) -> float:
    """Seconds to process `batch` prompts of `tokens` tokens, in chunks of `chunk` tokens (None: all at once)."""
    cal = calibration(engine, gpu)
    n = place.gpus or 1
    total_tokens = tokens * batch
    c = max(1, min(total_tokens, chunk or total_tokens))
    chunks = math.ceil(total_tokens / c)
    attention = 2.0 * piece.attention_layers * piece.attention_dim * tokens * (tokens + 1) * batch
    flops = 2.0 * piece.active_parameters * total_tokens + attention
    rate = matmul_rate(gpu, compute, engine) * cal.prefill_efficiency * _moe_factor(piece, c)
    bw = gpu.bandwidth_bytes_per_s * cal.bandwidth_efficiency
    touched = _touched_bytes(piece, c)
    per_chunk_fixed = piece.layers * cal.layer_overhead_s
    if place.kind == "tensor_parallel":
        return (max(flops / (n * rate), chunks * touched / (n * bw))
                + chunks * (per_chunk_fixed + 2 * piece.layers * ALLREDUCE_LATENCY_S))
    if place.kind == "offload":
        total = place.total_layers or piece.layers or 1
        share_host = (total - min(place.gpu_layers or 0, total)) / total
        h = host or Host()
        streamed = chunks * touched * share_host / min(h.pcie_bytes_per_s, h.bandwidth_bytes_per_s)
        return max(flops / rate, chunks * touched * (1 - share_host) / bw) + streamed + chunks * per_chunk_fixed
    hops = chunks * (n - 1) * STAGE_HOP_S if place.kind == "pipeline" else 0.0
    return max(flops / rate, chunks * touched / bw) + chunks * per_chunk_fixed + hops


def prefill_tokens_per_s(gpu: GPU, place: Placement, piece: Workpiece, engine: str, compute: str, tokens: int,
                         batch: int, chunk: int | None, host: Host | None = None) -> float:
    return tokens * batch / prefill_seconds(gpu, place, piece, engine, compute, tokens, batch, chunk, host)


# ------------------------------------------------------------------------------------------------ basis


def basis(gpu: GPU, place: Placement, piece: Workpiece, engine: str, compute: str, host: Host | None) -> str:
    """One line: how this option's decode and prefill speeds were estimated, and what calibrates them."""
    cal = calibration(engine, gpu)
    name = ENGINE_NAMES.get(engine, engine)
    where = f"{name} on {'Metal' if backend(gpu) == 'metal' else 'CUDA'}"
    gb = (piece.weight_bytes + piece.kv_bytes) / 1e9
    text = (f"estimate ({where}): decode reads {gb:,.2f} GB per step at {gpu.bandwidth_bytes_per_s / 1e9:,.0f} GB/s "
            f"x {cal.bandwidth_efficiency:g} + {piece.layers} layers x {cal.layer_overhead_s * 1e6:,.0f} us")
    if place.kind == "tensor_parallel":
        text += f", split {place.gpus} ways + 2 all-reduces per layer"
    elif place.kind == "offload":
        h = host or Host()
        if engine == "llamacpp":
            text += (f"; {place.total_layers - place.gpu_layers} layers run on the CPU from host RAM at "
                     f"{h.bandwidth_bytes_per_s / 1e9:,.1f} GB/s x {HOST_BANDWIDTH_EFFICIENCY:g}")
        else:
            text += f"; offloaded weights stream over PCIe at {h.pcie_bytes_per_s / 1e9:,.0f} GB/s every step"
    text += f"; prefill at {_rate_name(gpu, compute, engine)} x {cal.prefill_efficiency:g}"
    if piece.experts:
        text += " (MoE: all experts read per chunk, GEMMs slower at few tokens per expert)"
    return text + f"; {cal.basis}"
