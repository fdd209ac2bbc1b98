"""The `quantplanner plan ...` command line that regenerates a report, built from what the app or CLI planned."""
from __future__ import annotations

import shlex
from typing import Any, Sequence

DEFAULT_LORA_TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output"]
# Workload fields other than the core ones: (CLI flag, value when the flag is left out). Fields added by later
# planner work (recipe, dataset size, host RAM) are spelled as their CLI options are.
OPTIONAL_FLAGS: dict[str, tuple[str, Any]] = {
    "optimizer": ("--optimizer", "adamw"),
    "recompute": ("--recompute", "auto"),
    "lora_rank": ("--lora-rank", 16),
    "zero_stage": ("--zero", 0),
    "data_parallel": ("--data-parallel", 1),
    "recipe": ("--recipe", None),
    "dataset_tokens": ("--dataset-tokens", None),
    "epochs": ("--epochs", None),
    "ubatch": ("--ubatch", 512),
}
TRAINING_ONLY = {"optimizer", "recompute", "lora_rank", "zero_stage", "data_parallel", "recipe", "dataset_tokens",
                 "epochs"}


def plan_command(model: str, workload: dict[str, Any], gpus: Sequence[str], *, revision: str | None = None,
                 precisions: Sequence[str] | None = None, report: str | None = None, unit: str = "GiB",
                 paper: str | None = None) -> str:
    """A shell-quoted `quantplanner plan` command whose plan equals this one (core options always spelled out)."""
    args = ["quantplanner", "plan", model]
    if revision:
        args += ["--revision", revision]
    w = workload
    args += ["--mode", str(w.get("mode", "inference")), "--batch", str(w.get("batch", 1)),
             "--context", str(w.get("context", 4096)), "--kv-dtype", str(w.get("kv_dtype", "fp16")),
             "--engine", str(w.get("engine", "hf"))]
    training = w.get("mode", "inference") != "inference"
    for field, (flag, default) in OPTIONAL_FLAGS.items():
        value = w.get(field)
        if value is None or value == default or (field in TRAINING_ONLY and not training):
            continue
        args += [flag, str(value)]
    if w.get("mode") in ("lora", "qlora") and list(w.get("lora_targets") or []) != DEFAULT_LORA_TARGETS:
        args += ["--lora-targets", ",".join(w.get("lora_targets") or [])]
    if w.get("overhead_bytes") is not None:
        args += ["--overhead", str(int(w["overhead_bytes"]))]
    ram = w.get("host_ram_bytes")
    if "host_ram_bytes" in w and not ram:
        args += ["--ram", "0"]  # planned without offloading
    elif ram and int(ram) != 64 * 2**30:
        args += ["--ram", f"{int(ram) // 2**30}GiB" if int(ram) % 2**30 == 0 else f"{int(ram)}B"]
    bandwidth = w.get("host_bandwidth_bytes_per_s")
    if bandwidth and abs(float(bandwidth) - 89.6e9) > 1:
        args += ["--host-bandwidth", f"{float(bandwidth) / 1e9:g}"]
    if w.get("flash_attention") is False:
        args.append("--no-flash-attention")
    if precisions:
        args += ["--precision", ",".join(precisions)]
    for g in gpus:
        args += ["--gpu", g]
    if unit != "GiB":
        args += ["--unit", unit]
    if report:
        args += ["--report", report]
        if paper and paper != "a4" and report.lower().endswith(".pdf"):
            args += ["--paper", paper]
    return shlex.join(args)
