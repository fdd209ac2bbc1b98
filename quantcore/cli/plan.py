"""`plan` (memory, GPUs, cost and speed per precision for one model) and `fit` (what fits on one GPU)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from quantcore.cli.common import gpus_by_name, host_from_args, load_model_verbose, workload_args, workload_from_args
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
    plan.add_argument("--report", type=Path, help="write a report: " + " ".join(REPORT_SUFFIXES))
    plan.add_argument("--unit", choices=("GiB", "GB"), default="GiB")
    plan.set_defaults(func=cmd_plan)

    fit = sub.add_parser("fit", help="which models fit on a GPU, at which precision, with how much context")
    fit.add_argument("--gpu", required=True, help="GPU id or name")
    fit.add_argument("--model", action="append", default=[], help="model (repeatable; default: every bundled model)")
    fit.add_argument("--revision", default=None, help="Hub branch, tag or commit of the --model repos")
    fit.add_argument("--count", type=int, default=1,
                     help="number of GPUs (tensor parallel or layer split, whichever the engine uses), default 1")
    workload_args(fit)
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(func=cmd_fit)



def cmd_plan(args: argparse.Namespace) -> int:
    from quantcore.planner.plan import make_plan
    from quantcore.planner.plan_json import plan_to_dict

    if args.report is not None and args.report.suffix.lower() not in REPORT_SUFFIXES:
        raise BadInputError(f"{args.report}: report type must be one of {', '.join(REPORT_SUFFIXES)}")
    inv = load_model_verbose(args.model, args.revision)
    workload = workload_from_args(args, inv)
    ids = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
    if args.precision is not None and not ids:
        raise BadInputError("--precision is empty; give ids like bf16,q4_k_m (see `quantplanner precisions`)")
    plan = make_plan(inv, workload, ids, gpus_by_name(args.gpu), host=host_from_args(args))
    data = plan_to_dict(plan)
    if args.report is not None:
        write_report(args.report, data, args.unit)
    if args.json:
        print(json.dumps(data, indent=1))
        for warning in data["warnings"]:  # the JSON carries them too; a person at the terminal sees them as well
            print(f"quantplanner: note: {warning}", file=sys.stderr)
    else:
        print(render_plan_text(data, args.unit))
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from quantcore.planner.advice import best_row, candidates, caveats, native_precision
    from quantcore.planner.plan import make_plan
    from quantcore.sources.bundled import bundled_models
    from quantcore.sources.source import load_model

    (gpu,) = gpus_by_name([args.gpu])
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    names = args.model or [m.id for m in bundled_models()]
    host = host_from_args(args)
    out = []
    for name in names:
        # every bundled model: the bundled configs (no network); named models: the Hub first, like `plan`
        inv = load_model_verbose(name, args.revision) if args.model else load_model(name, use_hub=False)
        base = workload_from_args(args, inv)
        plan = make_plan(inv, base, None, (gpu,), host=host)
        fitting = []
        for r in plan.rows:
            opt = r.gpus[0]
            # on args.count GPUs: the fewest-GPU layout (tensor parallel or layer split) when it needs no more
            place = opt.placement if args.count == 1 else opt.multi_gpu
            fits = place.kind in ("single", "tensor_parallel", "pipeline") and (place.gpus or 0) <= args.count
            total = place.per_gpu.total if fits and place.per_gpu else (opt.per_gpu.total if opt.per_gpu else None)
            ctx = opt.max_context if fits else 0
            notes = list(caveats(r, 0, plan)) if fits else []
            out.append({"model": inv.id, "parameters": inv.parameters, "precision": r.precision.id,
                        "engine": r.engine, "fits": fits, "total_bytes": total if total is not None else r.memory.total,
                        "max_context": ctx, "placement": place.as_dict(), "caveats": notes})
            if fits:
                fitting.append((r, total, ctx, place))
        native = native_precision(inv)
        allowed = {r.precision.id for r in candidates(plan.rows, native)}
        best = best_row([r for r, _, _, _ in fitting if r.precision.id in allowed], plan.row(native).precision
                        if plan.row(native) else native)
        if args.json:
            continue
        if best is None:
            print(f"{inv.id}: does not fit on {args.count} x {gpu.name} at any precision at context {base.context:,}")
            continue
        _, total, ctx, place = next(f for f in fitting if f[0] is best)
        where = "" if place.kind == "single" else f" ({place.badge})"
        label = best.precision.label if best.as_stored else best.precision.id
        print(f"{inv.id}: fits {'' if best.as_stored else 'as '}{label}{where} ({format_bytes(total)} of "
              f"{format_bytes(gpu.usable_bytes)} usable per GPU) at context {base.context:,}; max context {ctx:,}")
        for note in caveats(best, 0, plan):
            print(f"  caveat: {note}")
    if args.json:
        print(json.dumps({"gpu": gpu.id, "count": args.count, "rows": out}, indent=1))
    return 0
