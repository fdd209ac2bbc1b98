"""Training throughput, time, GPU-hours and cost for a dataset of N tokens x epochs (pure functions).

FLOPs per trained token (Kaplan et al. 2020; Chinchilla's C = 6ND): forward 2N, backward 4N (2N for the
activation gradients, 2N for the weight gradients) = 6N; with full activation recomputation (gradient
checkpointing) the forward runs twice: 8N (Korthikanti et al. 2022). LoRA / QLoRA freeze the base, so no weight
gradients are computed for it: 4N, 6N with recomputation (the adapters' own FLOPs are negligible). N counts the
active parameters (MoE: the experts a token is routed to). Achieved throughput is the GPUs' dense matmul peak
(bf16, or fp32 for fp32 training) times a model-FLOPs utilisation.
"""
from __future__ import annotations

from dataclasses import dataclass

from quantcore.planner.hardware import GPU

# Model FLOPs utilisation of fine-tuning runs: Megatron-LM / DeepSpeed report 40-55% on large clusters, HF
# Trainer and small-batch fine-tunes typically 30-45%; 40% is the stated middle estimate.
TRAINING_MFU = 0.4


@dataclass(frozen=True)
class TrainingEstimate:
    tokens_per_s: float
    hours: float
    gpu_hours: float
    cost_usd: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"tokens_per_s": self.tokens_per_s, "hours": self.hours, "gpu_hours": self.gpu_hours,
                "cost_usd": self.cost_usd}


def flops_per_token(active_params: int, mode: str, recompute: str) -> float:
    """Training FLOPs per token: 6N full (8N with full recomputation), 4N LoRA/QLoRA (6N with recomputation)."""
    base = 6 if mode == "full" else 4
    return float((base + (2 if recompute == "full" else 0)) * active_params)


def training_estimate(gpu: GPU, n_gpus: int, active_params: int, mode: str, recompute: str, compute: str,
                      dataset_tokens: int, epochs: int, mfu: float = TRAINING_MFU) -> TrainingEstimate:
    """Tokens/s over n_gpus, and the hours, GPU-hours and cost of dataset_tokens x epochs."""
    rate = n_gpus * gpu.flops_for(compute) * mfu / flops_per_token(active_params, mode, recompute)
    tokens = dataset_tokens * epochs
    hours = tokens / rate / 3600.0 if rate > 0 else float("inf")
    cost = None if gpu.hourly_usd is None else hours * n_gpus * gpu.hourly_usd
    return TrainingEstimate(tokens_per_s=rate, hours=hours, gpu_hours=hours * n_gpus, cost_usd=cost)
