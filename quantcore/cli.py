"""The `quantplanner` command line: plan, fit, gpus, precisions, models; exit 2 with one line on bad input."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.report import REPORT_SUFFIXES, render_plan_text, table, write_report
from quantcore.units import format_bytes, parse_bytes


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (exit 2), never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{self.prog}: {message} (see --help)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if not args_list:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(args_list)
        return int(args.func(args) or 0)
    except QuantPlannerError as exc:
        print(f"quantplanner: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quantplanner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="quantplanner", description="Will this model fit, at which precision, on which GPUs?")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)

    plan = sub.add_parser("plan", help="memory, GPU count, cost and speed per precision for one model")
    plan.add_argument("model", help="local folder, config.json, .safetensors, .gguf, bundled repo id, or a count like 7B")
    _workload_args(plan)
    plan.add_argument("--precision", default=None, help="comma-separated precision ids (default: all)")
    plan.add_argument("--gpu", action="append", default=[], help="GPU id or name (repeatable); see `quantplanner gpus`")
    plan.add_argument("--json", action="store_true", help="print the quantplanner.plan/1 JSON")
    plan.add_argument("--report", type=Path, help="write a report: " + " ".join(REPORT_SUFFIXES))
    plan.add_argument("--unit", choices=("GiB", "GB"), default="GiB")
    plan.set_defaults(func=cmd_plan)

    fit = sub.add_parser("fit", help="which models fit on a GPU, at which precision, with how much context")
    fit.add_argument("--gpu", required=True, help="GPU id or name")
    fit.add_argument("--model", action="append", default=[], help="model (repeatable; default: every bundled model)")
    fit.add_argument("--count", type=int, default=1, help="number of GPUs (tensor parallel), default 1")
    _workload_args(fit)
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(func=cmd_fit)

    gpus = sub.add_parser("gpus", help="list the GPU catalog (and your own GPUs file)")
    gpus.add_argument("--json", action="store_true")
    gpus.set_defaults(func=cmd_gpus)

    precs = sub.add_parser("precisions", help="list the precision catalog")
    precs.add_argument("--json", action="store_true")
    precs.set_defaults(func=cmd_precisions)

    models = sub.add_parser("models", help="list the bundled models (work offline)")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return p


def _workload_args(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--engine", default="hf", help="runtime overhead preset: none | hf | vllm | llamacpp | sglang")
    p.add_argument("--overhead", default=None, help="explicit runtime overhead per GPU, e.g. 1GiB")
    p.add_argument("--no-flash-attention", action="store_true")


def _workload(args: argparse.Namespace, inv: Any) -> Any:
    from quantcore.workload import Workload

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
    from quantcore.formats import kv_bytes_per_element

    kv_bytes_per_element(w.kv_dtype)  # unknown KV dtype -> one-line error now, not mid-plan
    return w


def _gpus(names: list[str]) -> tuple[Any, ...]:
    from quantcore.hardware import find_gpu, load_gpus

    catalog = load_gpus()
    return tuple(find_gpu(n, catalog) for n in names)


def cmd_plan(args: argparse.Namespace) -> int:
    from quantcore.plan import make_plan
    from quantcore.plan_json import plan_to_dict
    from quantcore.source import load_model

    if args.report is not None and args.report.suffix.lower() not in REPORT_SUFFIXES:
        raise BadInputError(f"{args.report}: report type must be one of {', '.join(REPORT_SUFFIXES)}")
    inv = load_model(args.model)
    workload = _workload(args, inv)
    ids = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
    if args.precision is not None and not ids:
        raise BadInputError("--precision is empty; give ids like bf16,q4_k_m (see `quantplanner precisions`)")
    plan = make_plan(inv, workload, ids, _gpus(args.gpu))
    data = plan_to_dict(plan)
    if args.report is not None:
        write_report(args.report, data, args.unit)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(render_plan_text(data, args.unit))
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from quantcore import formats
    from quantcore.bundled import bundled_models
    from quantcore.plan import GpuOption, per_gpu_memory
    from quantcore.source import load_model

    (gpu,) = _gpus([args.gpu])
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    names = args.model or [m.id for m in bundled_models()]
    out = []
    for name in names:
        inv = load_model(name)
        base = _workload(args, inv)
        best = None
        for p in formats.PRECISIONS:
            if base.mode == "inference" or (base.mode in ("full", "lora") and p.training == "full") or (
                    base.mode == "qlora" and p.training == "qlora"):
                per = per_gpu_memory(inv, p.id, base, gpu, args.count)
                opt = GpuOption(gpu=gpu, count=args.count, per_gpu=per, inventory=inv, precision=p, workload=base)
                fits = per.total <= gpu.usable_bytes
                ctx = opt.max_context
                row = {"model": inv.id, "parameters": inv.parameters, "precision": p.id, "fits": fits,
                       "total_bytes": per.total, "max_context": ctx}
                out.append(row)
                if fits and best is None:
                    best = row
        if not args.json:
            if best:
                print(f"{inv.id}: fits as {best['precision']} ({format_bytes(best['total_bytes'])} of "
                      f"{format_bytes(gpu.usable_bytes)} usable) at context {base.context:,}; "
                      f"max context {best['max_context']:,}")
            else:
                print(f"{inv.id}: does not fit on {args.count} x {gpu.name} at any precision at context {base.context:,}")
    if args.json:
        print(json.dumps({"gpu": gpu.id, "count": args.count, "rows": out}, indent=1))
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.hardware import load_gpus

    gpus = load_gpus()
    if args.json:
        print(json.dumps([asdict(g) for g in gpus], indent=1))
        return 0
    rows = [[g.id, g.name, format_bytes(g.memory_bytes), f"{g.bandwidth_bytes_per_s / 1e9:,.0f} GB/s",
             f"{g.bf16_flops / 1e12:,.0f}", f"{g.fp8_flops / 1e12:,.0f}" if g.fp8_flops else "-",
             f"${g.purchase_usd:,.0f}" if g.purchase_usd else "-", f"${g.hourly_usd:,.2f}" if g.hourly_usd else "-",
             "custom" if g.custom else ""] for g in gpus]
    print(table(["id", "name", "memory", "bandwidth", "bf16 TFLOPS", "fp8 TFLOPS", "price", "per hour", ""], rows))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.formats import PRECISIONS

    if args.json:
        print(json.dumps([asdict(p) for p in PRECISIONS], indent=1))
        return 0
    rows = [[p.id, p.label, f"{p.nominal_bits:g}", f"{p.storage_bits:.4g}", p.keeps, p.source] for p in PRECISIONS]
    print(table(["id", "name", "bits", "storage bits/w", "kept in higher precision", "defined by"], rows))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from quantcore.bundled import bundled_models

    models = bundled_models()
    if args.json:
        print(json.dumps([{"id": m.id, "taken": m.taken} for m in models], indent=1))
        return 0
    for m in models:
        print(m.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
