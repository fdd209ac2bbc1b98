"""`plan` (memory, GPUs, cost and speed per precision for one model) and `fit` (what fits on one GPU)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from quantcore.cli.common import (gpus_by_name, host_from_args, load_model_verbose, print_json, workload_args,
                                  workload_from_args)
from quantcore.cli.report import paper_and_unit
from quantcore.errors import BadInputError, one_line
from quantcore.report.render import REPORT_SUFFIXES, render_plan_text, table, write_report
from quantcore.units import format_in, parse_gpu_memory, unit_for

FIT_SORTS = ("name", "params", "memory", "headroom", "context", "bits")


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
    fit.add_argument("--gpu", required=True, help="GPU id or name, or a bare memory size such as 24GB (vendors' GB: "
                                                  "24GB = 24 GiB, as the catalog reads cards)")
    fit.add_argument("--model", action="append", default=[], help="model (repeatable; default: every bundled model)")
    fit.add_argument("--revision", default=None, help="Hub branch, tag or commit of the --model repos")
    fit.add_argument("--count", type=int, default=1,
                     help="number of GPUs (tensor parallel or layer split, whichever the engine uses), default 1")
    workload_args(fit)
    fit.add_argument("--sort", choices=FIT_SORTS, default="name",
                     help="order of the table: name (as listed), params, memory, headroom, context or bits "
                          "(largest first, except name)")
    fit.add_argument("--min-bits", type=float, default=0.0, metavar="N",
                     help="consider only precisions of at least N nominal bits per weight (e.g. 4 leaves out "
                          "3- and 2-bit formats)")
    fit.add_argument("--json", action="store_true",
                     help="print every model x precision (rows) and each model's best fit (models) as JSON")
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
    sized = [g for g in args.gpu if parse_gpu_memory(g)]
    if sized:
        raise BadInputError(f"--gpu {sized[0]}: a bare memory size works with `quantplanner fit`; `plan` needs a GPU "
                            "model for speed and cost (see `quantplanner gpus`)")
    inv = load_model_verbose(args.model, args.revision)
    workload = workload_from_args(args, inv)
    ids = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
    if args.precision is not None and not ids:
        raise BadInputError("--precision is empty; give ids like bf16,q4_k_m (see `quantplanner precisions`)")
    plan = make_plan(inv, workload, ids, gpus_by_name(args.gpu), host=host_from_args(args))
    data = plan_to_dict(plan)
    if args.report is not None:
        import shlex

        from quantcore.report.data import report_dict

        command = shlex.join(["quantplanner", *getattr(args, "argv", [])])
        extended = report_dict(plan, command=command, revision=args.revision, precisions_requested=ids,
                               unit=args.unit)
        write_report(args.report, extended, args.unit, args.paper)
    if args.json:
        print_json(data)
        for warning in data["warnings"]:  # the JSON carries them too; a person at the terminal sees them as well
            print(f"quantplanner: note: {one_line(warning)}", file=sys.stderr)
    else:
        print(render_plan_text(data, args.unit))
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    if getattr(args, "rank", "memory") == "quality":
        from quantcore.cli.rank import cmd_fit_quality

        return cmd_fit_quality(args)
    from quantcore.planner.advice import best_row, candidates, caveats, native_precision
    from quantcore.planner.plan import make_plan
    from quantcore.sources.bundled import bundled_models
    from quantcore.sources.source import load_model

    (gpu,) = gpus_by_name([args.gpu], sizes=True)
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    if not 0 <= args.min_bits <= 32:
        raise BadInputError(f"--min-bits {args.min_bits:g} must be between 0 and 32")
    names = args.model or [m.id for m in bundled_models()]
    host = host_from_args(args)
    rows, models = [], []
    for name in names:
        # every bundled model: the bundled configs (no network); named models: the Hub first, like `plan`
        inv = load_model_verbose(name, args.revision) if args.model else load_model(name, use_hub=False)
        base = workload_from_args(args, inv)
        plan = make_plan(inv, base, None, (gpu,), host=host)
        fitting = {}
        for r in plan.rows:
            if r.precision.nominal_bits < args.min_bits:
                continue
            opt = r.gpus[0]
            # on args.count GPUs: the fewest-GPU layout (tensor parallel or layer split) when it needs no more
            place = opt.placement if args.count == 1 else opt.multi_gpu
            fits = place.kind in ("single", "tensor_parallel", "pipeline") and (place.gpus or 0) <= args.count
            total = place.per_gpu.total if fits and place.per_gpu else (opt.per_gpu.total if opt.per_gpu else None)
            ctx = opt.max_context if fits else 0
            notes = list(caveats(r, 0, plan)) if fits else []
            rows.append({"model": inv.id, "parameters": inv.parameters, "precision": r.precision.id,
                         "engine": r.engine, "fits": fits, "total_bytes": total if total is not None else r.memory.total,
                         "max_context": ctx, "placement": place.as_dict(), "caveats": notes})
            if fits:
                fitting[r.precision.id] = (r, total, ctx, place, notes)
        native = native_precision(inv)
        allowed = {r.precision.id for r in candidates(plan.rows, native)}
        best = best_row([r for pid, (r, *_rest) in fitting.items() if pid in allowed],
                        plan.row(native).precision if plan.row(native) else native)
        _, total, ctx, place, notes = fitting[best.precision.id] if best is not None else (None,) * 5
        label = (best.precision.label if best.as_stored else best.precision.id) if best is not None else None
        models.append({"model": inv.id, "parameters": inv.parameters, "context": base.context,
                       "best": label, "bits_per_weight": best.bits_per_weight if best else None,
                       "total_bytes": total, "headroom_bytes": gpu.usable_bytes - total if total is not None else None,
                       "max_context": ctx, "placement": place.badge if place is not None else None,
                       "engine": best.engine if best else None, "caveats": notes or []})
    models = sort_fits(models, args.sort)
    if args.json:
        print_json({"gpu": gpu.id, "count": args.count, "usable_bytes": gpu.usable_bytes,
                    "min_bits": args.min_bits, "rows": rows, "models": models})
        return 0
    print(fit_table(models, gpu, args.count, args.min_bits, args.context))
    return 0


def sort_fits(models: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """name: the order given. Otherwise models that fit, largest `key` first, then those that do not."""
    field = {"params": "parameters", "memory": "total_bytes", "headroom": "headroom_bytes", "context": "max_context",
             "bits": "bits_per_weight"}.get(key)
    if field is None:
        return models
    fit = sorted((m for m in models if m["best"] is not None), key=lambda m: m[field], reverse=True)
    rest = sorted((m for m in models if m["best"] is None), key=lambda m: m["parameters"], reverse=key == "params")
    return fit + rest


def fit_table(models: list[dict[str, Any]], gpu: Any, count: int, min_bits: float, context: int | None) -> str:
    """What fits, one row per model: its best precision, the memory it takes and leaves, the longest context."""
    unit = unit_for(gpu.usable_bytes)[0]
    rows = []
    for m in models:
        if m["best"] is None:
            rows.append([m["model"], f"{m['parameters'] / 1e9:,.2f}", "does not fit", "-", "-", "-", "-", "-"])
            continue
        rows.append([m["model"], f"{m['parameters'] / 1e9:,.2f}", m["best"], f"{m['bits_per_weight']:.2f}",
                     format_in(m["total_bytes"], unit).removesuffix(f" {unit}"),
                     format_in(m["headroom_bytes"], unit).removesuffix(f" {unit}"), f"{m['max_context']:,}",
                     m.get("placement") or "-"])
    on = f"{count} x {gpu.name}" if count > 1 else gpu.name
    title = (f"On {on} ({format_in(gpu.usable_bytes, unit)} usable)" + (f", at least {min_bits:g} bits per weight"
             if min_bits else "") + (f"; context {context:,} tokens" if context else
                                     "; context 4,096 tokens, or the model's limit when smaller"))
    notes = [f"  {m['model']}: {c}" for m in models if m["best"] for c in m.get("caveats") or ()]
    return (title + "\n" + table(["model", "params (B)", "best precision", "bits/weight", f"memory ({unit})",
                                   f"headroom ({unit})", "max context (tokens)", "placement"], rows)
            + ("\n\ncaveats:\n" + "\n".join(notes) if notes else ""))
