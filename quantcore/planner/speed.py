"""Roofline speed and cost estimates: decode bound by memory bandwidth, prefill by compute (pure functions)."""
from __future__ import annotations

from dataclasses import dataclass

from quantcore.errors import BadInputError
from quantcore.planner.hardware import GPU

# Share of the datasheet peaks that real kernels reach. Explicit, editable defaults, not hidden multipliers
# (research/planners.md §3 "Throughput"): llm-analysis suggests 0.9 HBM efficiency as aggressive and 0.7 FLOPS
# efficiency for inference (0.5 for training); gpu_poor assumes 85% of peak FLOPS. Measured batch-1 decode in
# common engines sits below the aggressive HBM figure, and prefill kernels below the FLOPS one, so the defaults
# are a middle estimate: pass 1.0 for the ideal roofline or your own measured shares.
BANDWIDTH_EFFICIENCY = 0.8
FLOPS_EFFICIENCY = 0.6
# Tensor-parallel scaling. With n GPUs, bandwidth and FLOPS add up: each GPU reads 1/n of the weights and KV.
# No communication cost is modelled by default (1.0); gpu_poor's multi-GPU penalty of x1.25 time is 0.8 here.
PARALLEL_EFFICIENCY = 1.0
# ...but a tensor-parallel decode step waits for two all-reduces per layer (after attention and after the MLP,
# Megatron-LM's layout). At batch-1 message sizes NCCL's all-reduce is latency bound: nccl-tests report roughly
# 10-20 us on 8 NVLink/NVSwitch GPUs and more over PCIe. 15 us each is the default; 0 gives the pure roofline.
ALLREDUCE_LATENCY_S = 15e-6


@dataclass(frozen=True)
class StepTime:
    """Time of one forward step and the two roofline limits it is the larger of."""

    memory_seconds: float
    compute_seconds: float
    sync_seconds: float = 0.0  # tensor-parallel all-reduces, added on top of the roofline limit

    @property
    def seconds(self) -> float:
        return max(self.memory_seconds, self.compute_seconds) + self.sync_seconds

    @property
    def bound(self) -> str:
        """"memory" or "compute": which limit sets the step time."""
        return "memory" if self.memory_seconds >= self.compute_seconds else "compute"


def _share(name: str, value: float) -> float:
    if not 0 < value <= 1:
        raise BadInputError(f"{name} must be in (0, 1], not {value}")
    return value


def _gpus(n_gpus: int, parallel_efficiency: float) -> float:
    """Effective number of GPUs: n, scaled by the parallel efficiency when n > 1."""
    if not isinstance(n_gpus, int) or n_gpus < 1:
        raise BadInputError(f"number of GPUs must be a whole number >= 1, not {n_gpus}")
    return 1.0 if n_gpus == 1 else n_gpus * _share("parallel efficiency", parallel_efficiency)


def decode_step(gpu: GPU, n_gpus: int, bytes_per_step: int, flops_per_token: float, batch: int, compute: str,
                bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY, flops_efficiency: float = FLOPS_EFFICIENCY,
                parallel_efficiency: float = PARALLEL_EFFICIENCY, num_layers: int = 0,
                allreduce_latency_s: float = ALLREDUCE_LATENCY_S) -> StepTime:
    """One decode step of `batch` sequences: it reads bytes_per_step once (active weights + the batch's KV
    cache) and does batch x flops_per_token operations (2 x active params, plus 4 x layers x context x
    attention width if you want attention counted)."""
    if batch < 1:
        raise BadInputError(f"batch must be >= 1, not {batch}")
    if bytes_per_step < 0 or flops_per_token < 0 or bytes_per_step + flops_per_token == 0:
        raise BadInputError("a decode step needs positive bytes to read or FLOPs to do")
    n = _gpus(n_gpus, parallel_efficiency)
    bandwidth = gpu.bandwidth_bytes_per_s * _share("bandwidth efficiency", bandwidth_efficiency) * n
    flops = gpu.flops_for(compute) * _share("FLOPS efficiency", flops_efficiency) * n
    sync = 2 * num_layers * allreduce_latency_s if n_gpus > 1 else 0.0
    return StepTime(memory_seconds=bytes_per_step / bandwidth, compute_seconds=batch * flops_per_token / flops,
                    sync_seconds=sync)


def decode_tokens_per_s(gpu: GPU, n_gpus: int, bytes_per_step: int, flops_per_token: float, batch: int,
                        compute: str, bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY,
                        flops_efficiency: float = FLOPS_EFFICIENCY,
                        parallel_efficiency: float = PARALLEL_EFFICIENCY, num_layers: int = 0) -> float:
    """Generated tokens per second, summed over the batch (each step yields one token per sequence).
    num_layers > 0 adds the tensor-parallel all-reduce wait when n_gpus > 1."""
    step = decode_step(gpu, n_gpus, bytes_per_step, flops_per_token, batch, compute,
                       bandwidth_efficiency, flops_efficiency, parallel_efficiency, num_layers)
    return batch / step.seconds


def prefill_flops(active_params: int, tokens: int, batch: int = 1, num_layers: int = 0,
                  attention_dim: int = 0) -> float:
    """FLOPs to process a prompt of `tokens` tokens for each of `batch` sequences: 2 x active params per token,
    plus causal attention (QK^T and AV over the tokens before each one) when num_layers and attention_dim
    (heads x head_dim) are given: 2 x layers x attention_dim x tokens x (tokens + 1)."""
    if tokens < 1 or batch < 1 or active_params <= 0 or num_layers < 0 or attention_dim < 0:
        raise BadInputError("prefill needs tokens >= 1, batch >= 1 and a positive parameter count")
    attention = 2.0 * num_layers * attention_dim * tokens * (tokens + 1)
    return batch * (2.0 * active_params * tokens + attention)


def prefill_seconds(gpu: GPU, n_gpus: int, active_params: int, tokens: int, compute: str,
                    flops_efficiency: float = FLOPS_EFFICIENCY, batch: int = 1, num_layers: int = 0,
                    attention_dim: int = 0, parallel_efficiency: float = PARALLEL_EFFICIENCY) -> float:
    """Time to first token: the prompt is compute bound (weights are read once for all its tokens)."""
    flops = gpu.flops_for(compute) * _share("FLOPS efficiency", flops_efficiency) * _gpus(n_gpus, parallel_efficiency)
    return prefill_flops(active_params, tokens, batch, num_layers, attention_dim) / flops


def prefill_tokens_per_s(gpu: GPU, n_gpus: int, active_params: int, tokens: int, compute: str,
                         flops_efficiency: float = FLOPS_EFFICIENCY, batch: int = 1, num_layers: int = 0,
                         attention_dim: int = 0, parallel_efficiency: float = PARALLEL_EFFICIENCY) -> float:
    """Prompt tokens processed per second, summed over the batch."""
    seconds = prefill_seconds(gpu, n_gpus, active_params, tokens, compute, flops_efficiency, batch, num_layers,
                              attention_dim, parallel_efficiency)
    return batch * tokens / seconds


def cost_per_million_tokens(hourly_usd_total: float, tokens_per_s: float) -> float:
    """US dollars per 10**6 tokens when all the GPUs together cost hourly_usd_total per hour."""
    if tokens_per_s <= 0 or hourly_usd_total < 0:
        raise BadInputError("cost per token needs a positive token rate and a non-negative hourly price")
    return hourly_usd_total / (tokens_per_s * 3600.0) * 1e6


def gpu_hours(n_gpus: int, tokens: float, tokens_per_s: float) -> float:
    """GPU-hours to produce `tokens` tokens at tokens_per_s on n_gpus GPUs."""
    if tokens_per_s <= 0 or tokens < 0 or n_gpus < 1:
        raise BadInputError("GPU-hours need a positive token rate, tokens >= 0 and at least one GPU")
    return n_gpus * tokens / tokens_per_s / 3600.0


def cost_for_tokens(hourly_usd_total: float, tokens: float, tokens_per_s: float) -> float:
    """US dollars to produce `tokens` tokens at tokens_per_s on GPUs costing hourly_usd_total per hour."""
    return cost_per_million_tokens(hourly_usd_total, tokens_per_s) * tokens / 1e6


def energy_kwh(gpu: GPU, n_gpus: int, seconds: float) -> float:
    """Upper bound of the energy the GPUs draw in `seconds` at their board power (tdp_w)."""
    if seconds < 0 or n_gpus < 1:
        raise BadInputError("energy needs seconds >= 0 and at least one GPU")
    return gpu.tdp_w * n_gpus * seconds / 3.6e6
