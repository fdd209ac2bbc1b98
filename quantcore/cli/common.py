"""What the commands share: workload options and their Workload, GPUs by name, loading a model with progress."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from quantcore.units import parse_bytes


def workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="inference", help="inference | full | lora | qlora")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--context", type=int, default=None, help="tokens per sequence (default: 4096 or the model's limit)")
    p.add_argument("--kv-dtype", default="fp16", help="KV cache dtype: fp16 bf16 fp8 int8 int4 q8_0 q4_0 fp32")
    p.add_argument("--optimizer", default="adamw", help="adamw | adamw8bit | sgd | adafactor")
    p.add_argument("--recompute", default="none", help="activation recomputation: none | selective | full")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--lora-targets", default="attn_q,attn_k,attn_v,attn_output",
                   help="comma-separated tensor kinds, or all-linear")
    p.add_argument("--zero", type=int, default=0, help="ZeRO stage 0-3 (3 = FSDP full sharding)")
    p.add_argument("--data-parallel", type=int, default=1, help="GPUs the ZeRO/FSDP states are sharded over")
    p.add_argument("--engine", default="auto",
                   help="engine whose accounting and speed each row uses: auto (llama.cpp for GGUF, vLLM for "
                        "GPTQ/AWQ/FP8/MXFP4/NVFP4, transformers for the rest) | hf | vllm | llamacpp | sglang | none")
    p.add_argument("--overhead", default=None, help="explicit runtime overhead per GPU, e.g. 1GiB")
    p.add_argument("--no-flash-attention", action="store_true")
    p.add_argument("--ram", default="64GiB", help="system RAM for layers offloaded from the GPU, e.g. 64GiB or 64 "
                                                   "(GiB); default 64GiB; 0 plans without offloading")
    p.add_argument("--host-bandwidth", type=float, default=None,
                   help="system memory bandwidth in GB/s (default 89.6: dual-channel DDR5-5600)")


def workload_from_args(args: argparse.Namespace, inv: Any) -> Any:
    from quantcore.planner.workload import Workload

    context = args.context
    if context is None:
        limit = inv.arch.max_context if inv.arch and inv.arch.max_context else 4096
        context = min(4096, limit)
    targets = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    w = Workload(mode=args.mode, batch=args.batch, context=context, kv_dtype=args.kv_dtype,
                 flash_attention=not args.no_flash_attention, optimizer=args.optimizer, recompute=args.recompute,
                 lora_rank=args.lora_rank, lora_targets=targets, zero_stage=args.zero,
                 data_parallel=args.data_parallel, engine=args.engine,
                 overhead_bytes=None if args.overhead is None else parse_bytes(args.overhead))
    from quantcore.formats.catalog import kv_bytes_per_element

    kv_bytes_per_element(w.kv_dtype)  # unknown KV dtype -> one-line error now, not mid-plan
    return w


def host_from_args(args: argparse.Namespace) -> Any:
    """The machine's RAM and memory bandwidth for partial offload (None when --ram is 0: no offloading)."""
    from quantcore.planner.placement import DEFAULT_HOST_BANDWIDTH, Host

    text = str(args.ram).strip()
    ram = int(float(text) * 2**30) if text.replace(".", "", 1).isdigit() else parse_bytes(text)  # bare number: GiB
    if ram == 0:
        return None
    bandwidth = DEFAULT_HOST_BANDWIDTH if args.host_bandwidth is None else args.host_bandwidth * 1e9
    return Host(ram_bytes=ram, bandwidth_bytes_per_s=bandwidth)


def gpus_by_name(names: list[str]) -> tuple[Any, ...]:
    from quantcore.planner.hardware import find_gpu, load_gpus

    catalog = load_gpus()
    return tuple(find_gpu(n, catalog) for n in names)


def load_model_verbose(model: str, revision: str | None) -> Any:
    """load_model with a progress line on stderr when it is a terminal (Hub fetches can take seconds)."""
    from quantcore.sources.source import load_model

    progress = terminal_progress if sys.stderr.isatty() else None
    return load_model(model, (revision or "").strip() or None, progress=progress)


def terminal_progress(message: str, fraction: float) -> None:
    print(f"\r\033[K{message}", end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)
