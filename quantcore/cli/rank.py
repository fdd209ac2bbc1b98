"""`fit --rank quality`: the model x precision pairs that fit a GPU, ranked by expected quality within each family."""
from __future__ import annotations

import argparse

from quantcore.cli.common import gpus_by_name, load_model_verbose, print_json, workload_from_args
from quantcore.errors import BadInputError
from quantcore.report.render import table
from quantcore.units import format_bytes


def cmd_fit_quality(args: argparse.Namespace) -> int:
    from quantcore.planner import best, quality
    from quantcore.planner.plan import make_plan
    from quantcore.sources.bundled import bundled_models
    from quantcore.sources.source import load_model

    (gpu,) = gpus_by_name([args.gpu])
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    if args.top < 1:
        raise BadInputError(f"--top {args.top} must be at least 1")
    names = args.model or [m.id for m in bundled_models()]
    found: list[best.Pair] = []
    workloads = set()
    for name in names:
        # bundled models from their bundled configs (no network); named models from the Hub first, like `plan`
        inv = load_model_verbose(name, args.revision) if args.model else load_model(name, use_hub=False)
        if inv.arch is not None and inv.arch.encoder_only:
            continue  # an encoder answers no "which LLM should I run" question
        w = workload_from_args(args, inv)
        workloads.add((w.mode, w.batch, w.context))
        found += best.pairs(make_plan(inv, w, None, (gpu,)), 0, args.count)
    groups = best.by_family(found)
    where = f"{args.count} x {gpu.name}" if args.count > 1 else f"one {gpu.name}"
    if args.json:
        print_json({"gpu": gpu.id, "count": args.count, "rank": "quality", "basis": quality.curve().basis(),
                    "families": [{"family": fam, "why": best.why(ps), "pairs": [p.as_dict() for p in ps]}
                                 for fam, ps in groups]})
        return 0
    mode, batch, context = sorted(workloads)[0] if workloads else (args.mode, args.batch, args.context)
    ctx = "the model's limit or 4,096" if len(workloads) > 1 else f"{context:,}"
    print(f"Best for {where} ({format_bytes(gpu.usable_bytes)} usable each), {mode}, batch {batch}, context {ctx}: "
          "model x precision pairs that fit, ranked within each family by expected quality (16-bit-equivalent size "
          "on the k-bit scaling curve; 4 bits and up before anything below).")
    if not groups:
        print(f"\nNothing fits on {where} with this workload.")
        return 0
    for fam, ps in groups:
        print(f"\n{fam}: {best.why(ps)}")
        rows = [[str(i), p.model, p.precision, f"{p.bits_per_weight:.2f}", format_bytes(p.total_bytes),
                 format_bytes(p.spare_bytes) + (" tight" if p.tight else ""), f"{p.ppl_increase_pct:+.2f}%",
                 f"{p.equivalent_parameters / 1e9:.3g}B"]
                for i, p in enumerate(best.distinct(ps)[:args.top], 1)]
        print(table(["#", "model", "precision", "bits/w", "memory", "spare", "ppl (est.)", "16-bit equiv."], rows))
    print("\n" + _basis([p.model for _, ps in groups for p in ps]))
    return 0


def _basis(models: list[str]) -> str:
    """The curve's basis, naming each family that has its own k."""
    from quantcore.planner import quality

    own = {}
    for m in models:
        c = quality.curve(m)
        if c.k_family:
            own[c.k_family] = c
    pooled = quality.curve()
    text = pooled.basis()
    if own:
        text += "; " + ", ".join(f"the {fam} family's own k = {c.k:.2f} ({c.k_points} figures)"
                                 for fam, c in sorted(own.items())) + " for its models"
    return (text + ". Published figures per format: `quantplanner plan MODEL --json` (rows[].quality), "
            "resources/quality.toml.")
