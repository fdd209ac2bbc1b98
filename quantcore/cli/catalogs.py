"""`gpus`, `precisions`, `models`: the catalogs."""
from __future__ import annotations

import argparse
import json
from typing import Any

from quantcore.report.render import table
from quantcore.units import format_bytes


def register(sub: Any) -> None:
    gpus = sub.add_parser("gpus", help="list the GPU catalog (and your own GPUs file)")
    gpus.add_argument("--json", action="store_true")
    gpus.set_defaults(func=cmd_gpus)

    precs = sub.add_parser("precisions", help="list the precision catalog")
    precs.add_argument("--json", action="store_true")
    precs.add_argument("--explain", metavar="ID", default=None,
                       help="one precision in detail: element bits and range, mapping, block layout (any family id)")
    precs.set_defaults(func=cmd_precisions)

    models = sub.add_parser("models", help="list the bundled models (work offline)")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)


def cmd_gpus(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.planner.hardware import load_gpus

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

    from quantcore.formats.catalog import PRECISIONS

    if args.explain is not None:
        from quantcore.formats.describe import explain_precision

        print("\n".join(explain_precision(args.explain)))
        return 0
    if args.json:
        print(json.dumps([asdict(p) for p in PRECISIONS], indent=1))
        return 0
    from quantcore.formats.catalog import FAMILY_IDS

    rows = [[p.id, p.label, f"{p.nominal_bits:g}", f"{p.storage_bits:.4g}", p.keeps, p.source] for p in PRECISIONS]
    print(table(["id", "name", "bits", "storage bits/w", "kept in higher precision", "defined by"], rows))
    print("\nThe gptq, awq and int families take their bit width and group size in the id (the ids above are the "
          "defaults):\n" + "\n".join(f"  {f}" for f in FAMILY_IDS) + "\n  e.g. gptq-4bit-g32 gptq-4bit-nogroup "
          "gptq-8bit-g128 awq-4bit-g64 int4-g64")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from quantcore.sources.bundled import bundled_models

    models = bundled_models()
    if args.json:
        print(json.dumps([{"id": m.id, "taken": m.taken} for m in models], indent=1))
        return 0
    print(table(["id", "taken"], [[m.id, m.taken or "-"] for m in models]))
    return 0
