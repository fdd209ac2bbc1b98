"""What the commands share: workload options and their Workload, GPUs by name, loading a model with progress."""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from quantcore.errors import BadInputError, one_line
from quantcore.units import parse_bytes, parse_gpu_memory, parse_tokens


def workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="inference", help="inference | full | lora | qlora")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--context", type=parse_tokens, default=None,
                   help="tokens per sequence: 8192, 8k, 32k, 128k (k = 1024; default: 4096 or the model's limit)")
    p.add_argument("--kv-dtype", default="fp16", help="KV cache dtype: fp16 bf16 fp8 int8 int4 q8_0 q4_0 fp32")
    p.add_argument("--optimizer", default="adamw", help="adamw | adamw8bit | sgd | adafactor")
    p.add_argument("--recompute", default="auto",
                   help="activation recomputation: auto (checkpointing for lora/qlora) | none | selective | full")
    p.add_argument("--recipe", default="bf16-mixed",
                   help="full fine-tuning recipe: bf16-mixed (fp32 master, Megatron/DeepSpeed) | bf16-pure (torch "
                        "AdamW on a bf16 model) | hf-trainer (HF Trainer bf16=True: fp32 weights, autocast)")
    p.add_argument("--dataset-tokens", type=int, default=100_000_000,
                   help="training tokens per epoch, for time and cost (default 100M)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--ubatch", type=int, default=512, help="llama.cpp n_ubatch (its compute buffer scales with it)")
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
                 data_parallel=args.data_parallel, engine=args.engine, recipe=args.recipe,
                 dataset_tokens=args.dataset_tokens, epochs=args.epochs, ubatch=args.ubatch,
                 overhead_bytes=None if args.overhead is None else parse_bytes(args.overhead))
    from quantcore.formats.catalog import kv_bytes_per_element

    kv_bytes_per_element(w.kv_dtype)  # unknown KV dtype -> one-line error now, not mid-plan
    return w


def host_from_args(args: argparse.Namespace) -> Any:
    """The machine's RAM and memory bandwidth for partial offload (None when --ram is 0: no offloading)."""
    from quantcore.model.bounds import check_float
    from quantcore.planner.placement import DEFAULT_HOST_BANDWIDTH, Host

    text = str(args.ram).strip()[:100]
    bare = re.fullmatch(r"\d{1,30}(?:\.\d{1,30})?", text)  # a bare number is GiB; exact and bounded (parse_bytes)
    ram = parse_bytes(text + "GiB" if bare else text)
    if ram == 0:
        return None
    bandwidth = DEFAULT_HOST_BANDWIDTH if args.host_bandwidth is None else \
        check_float(args.host_bandwidth, "--host-bandwidth (GB/s)", lo=0.001, hi=1e6, error=BadInputError) * 1e9
    return Host(ram_bytes=ram, bandwidth_bytes_per_s=bandwidth)


def gpus_by_name(names: list[str], sizes: bool = False) -> tuple[Any, ...]:
    """Catalog GPUs by id or name; with sizes=True a bare memory size ('24GB') is a GPU of that much memory."""
    from quantcore.planner.hardware import find_gpu, load_gpus

    catalog = load_gpus()
    out = []
    for name in names:
        size = parse_gpu_memory(name) if sizes else None
        out.append(memory_only_gpu(size) if size else find_gpu(name, catalog))
    return tuple(out)


def memory_only_gpu(memory_bytes: int) -> Any:
    """A GPU known only by its memory (for `fit --gpu 24GB`): no speed or price."""
    from quantcore.planner.hardware import GPU

    gib = memory_bytes / 2**30
    return GPU(id=f"{gib:g}gb", name=f"a {gib:g} GB GPU", vendor="any", memory_bytes=memory_bytes,
               bandwidth_bytes_per_s=0.0, fp32_flops=0.0, fp16_flops=0.0, bf16_flops=0.0, fp8_flops=0.0, int8_ops=0.0,
               tdp_w=0.0, purchase_usd=None, hourly_usd=None, unified_memory=False,
               source="a bare memory size from the command line", date="")


def load_model_verbose(model: str, revision: str | None) -> Any:
    """load_model with a progress line on stderr when it is a terminal (Hub fetches can take seconds)."""
    from quantcore.sources.source import load_model

    progress = terminal_progress if sys.stderr.isatty() else None
    return load_model(model, (revision or "").strip() or None, progress=progress)


def terminal_progress(message: str, fraction: float) -> None:
    # the message holds repo and file names from the Hub: shown with their control characters escaped
    print(f"\r\033[K{one_line(message, 200)}", end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    """JSON on stdout, strictly: NaN or infinity anywhere is refused (one line), never printed as invalid JSON."""
    print(json_text(data))


def json_text(data: Any) -> str:
    """print_json's text."""
    try:
        return json.dumps(data, indent=1, allow_nan=False)
    except ValueError:
        raise BadInputError("the result holds a number that is not finite (NaN or infinity), which JSON cannot "
                            "carry; check the model's sizes and values") from None
