"""`plan` (memory, GPUs, cost and speed per precision for one model) and `fit` (what fits on one GPU)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from quantcore.cli.common import gpus_by_name, load_model_verbose, workload_args, workload_from_args
from quantcore.cli.report import paper_and_unit
from quantcore.errors import BadInputError
from quantcore.report.render import REPORT_SUFFIXES, render_plan_text, write_report
from quantcore.units import format_bytes


def register(sub: Any) -> None:
    plan = sub.add_parser("plan", help="memory, GPU count, cost and speed per precision for one model")
    plan.add_argument("model", help="Hub repo id (org/name, or org/name/file.gguf), local folder, config.json, "
                                    ".safetensors, .gguf, bundled id, or a count like 7B")
    plan.add_argument("--revision", default=None, help="Hub branch, tag or commit (default: main)")
    workload_args(plan)
    plan.add_argument("--precision", default=None, help="comma-separated precision ids (default: all)")
    plan.add_argument("--gpu", action="append", default=[], help="GPU id or name (repeatable); see `quantplanner gpus`")
    plan.add_argument("--json", action="store_true", help="print the quantplanner.plan/1 JSON")
    plan.add_argument("--report", type=Path, help="write a report, format by extension: " + " ".join(REPORT_SUFFIXES)
                      + " (.json keeps everything `quantplanner report` needs to re-render it)")
    plan.add_argument("--unit", choices=("GiB", "GB"), default="GiB")
    paper_and_unit(plan, unit=False)
    plan.set_defaults(func=cmd_plan)

    fit = sub.add_parser("fit", help="which models fit on a GPU, at which precision, with how much context")
    fit.add_argument("--gpu", required=True, help="GPU id or name")
    fit.add_argument("--model", action="append", default=[], help="model (repeatable; default: every bundled model)")
    fit.add_argument("--revision", default=None, help="Hub branch, tag or commit of the --model repos")
    fit.add_argument("--count", type=int, default=1, help="number of GPUs (tensor parallel), default 1")
    workload_args(fit)
    fit.add_argument("--json", action="store_true")
    fit.add_argument("--rank", choices=("memory", "quality"), default="memory",
                     help="quality: rank the model x precision pairs that fit by expected quality (k-bit scaling "
                          "laws), within each family")
    fit.add_argument("--top", type=int, default=3, help="with --rank quality: pairs shown per family (default 3)")
    fit.set_defaults(func=cmd_fit)



def cmd_plan(args: argparse.Namespace) -> int:
    from quantcore.planner.plan import make_plan
    from quantcore.planner.plan_json import plan_to_dict

    if args.report is not None:
        from quantcore.report.write import check_target, report_format

        report_format(args.report)  # bad extension or folder: fail before the model is loaded
        check_target(args.report)
    inv = load_model_verbose(args.model, args.revision)
    workload = workload_from_args(args, inv)
    ids = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
    if args.precision is not None and not ids:
        raise BadInputError("--precision is empty; give ids like bf16,q4_k_m (see `quantplanner precisions`)")
    plan = make_plan(inv, workload, ids, gpus_by_name(args.gpu))
    data = plan_to_dict(plan)
    if args.report is not None:
        import shlex

        from quantcore.report.data import report_dict

        command = shlex.join(["quantplanner", *getattr(args, "argv", [])])
        extended = report_dict(plan, command=command, revision=args.revision, precisions_requested=ids,
                               unit=args.unit)
        write_report(args.report, extended, args.unit, args.paper)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(render_plan_text(data, args.unit))
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    if getattr(args, "rank", "memory") == "quality":
        from quantcore.cli.rank import cmd_fit_quality

        return cmd_fit_quality(args)
    from dataclasses import replace

    from quantcore.planner import memory
    from quantcore.planner.advice import best_row, candidates, native_precision
    from quantcore.planner.plan import make_plan, shard
    from quantcore.sources.bundled import bundled_models
    from quantcore.sources.source import load_model

    (gpu,) = gpus_by_name([args.gpu])
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    names = args.model or [m.id for m in bundled_models()]
    out = []
    for name in names:
        # every bundled model: the bundled configs (no network); named models: the Hub first, like `plan`
        inv = load_model_verbose(name, args.revision) if args.model else load_model(name, use_hub=False)
        base = workload_from_args(args, inv)
        plan = make_plan(inv, base, None, (gpu,))
        on_gpus = replace(base, tensor_parallel=args.count)
        fitting = []
        for r in plan.rows:
            per = shard(r.memory, inv, args.count)
            fits = per.total <= gpu.usable_bytes
            ctx = memory.max_context(inv, r.precision.id, on_gpus, gpu.usable_bytes, gpu.memory_bytes)
            out.append({"model": inv.id, "parameters": inv.parameters, "precision": r.precision.id, "fits": fits,
                        "total_bytes": per.total, "max_context": ctx})
            if fits:
                fitting.append((r, per.total, ctx))
        native = native_precision(inv)
        allowed = {r.precision.id for r in candidates(plan.rows, native)}
        best = best_row([r for r, _, _ in fitting if r.precision.id in allowed], native)
        if args.json:
            continue
        if best is None:
            print(f"{inv.id}: does not fit on {args.count} x {gpu.name} at any precision at context {base.context:,}")
            continue
        _, total, ctx = next(f for f in fitting if f[0] is best)
        print(f"{inv.id}: fits as {best.precision.id} ({format_bytes(total)} of {format_bytes(gpu.usable_bytes)} "
              f"usable) at context {base.context:,}; max context {ctx:,}")
    if args.json:
        print(json.dumps({"gpu": gpu.id, "count": args.count, "rows": out}, indent=1))
    return 0
