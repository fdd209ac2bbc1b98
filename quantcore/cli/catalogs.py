"""`gpus`, `precisions`, `models`: the catalogs."""
from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Any

from quantcore.cli.common import print_json
from quantcore.report.render import table


def register(sub: Any) -> None:
    gpus = sub.add_parser("gpus", help="list the GPU catalog (and your own GPUs file)")
    gpus.add_argument("--json", action="store_true")
    gpus.set_defaults(func=cmd_gpus)

    precs = sub.add_parser("precisions", help="list the precision catalog")
    precs.add_argument("--wide", action="store_true",
                       help="one line per precision with every column (default: fit the terminal, long text wrapped)")
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
        print_json([asdict(g) for g in gpus])
        return 0
    rows = [[g.id, g.name, f"{g.memory_bytes / 2**30:,.0f}", f"{g.bandwidth_bytes_per_s / 1e9:,.0f}",
             f"{g.bf16_flops / 1e12:,.0f}", f"{g.fp8_flops / 1e12:,.0f}" if g.fp8_flops else "-",
             f"{g.purchase_usd:,.0f}" if g.purchase_usd else "-", f"{g.hourly_usd:,.2f}" if g.hourly_usd else "-",
             "custom" if g.custom else ""] for g in gpus]
    print(table(["id", "name", "memory (GiB)", "bandwidth (GB/s)", "bf16 (TFLOPS)", "fp8 (TFLOPS)", "price (USD)",
                 "per hour (USD)", ""], rows))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.formats.catalog import PRECISIONS

    if args.explain is not None:
        from quantcore.formats.describe import explain_precision

        print("\n".join(explain_precision(args.explain)))
        return 0
    if args.json:
        print_json([asdict(p) for p in PRECISIONS])
        return 0
    from quantcore.formats.catalog import FAMILY_IDS

    headers = ["id", "name", "bits/w", "stored bits/w", "kept in higher precision", "defined by"]
    rows = [[p.id, p.label, f"{p.nominal_bits:g}", f"{p.storage_bits:.4g}", p.keeps, p.source] for p in PRECISIONS]
    if args.wide:
        print(table(headers, rows))
        return 0
    width = shutil.get_terminal_size((100, 24)).columns
    print(wrapped_table(headers[:5], [r[:5] for r in rows], width, name_width=22))
    print("\n(`quantplanner precisions --wide` adds where each format is defined)")
    note = ("The gptq, awq and int families take their bit width and group size in the id (the ids above are the "
            "defaults):")
    print("\n" + textwrap.fill(note, max(40, width - 1)))
    print("\n".join(f"  {f}" for f in FAMILY_IDS))
    print("  e.g. gptq-4bit-g32 gptq-4bit-nogroup gptq-8bit-g128 awq-4bit-g64 int4-g64")
    return 0


def wrapped_table(headers: list[str], rows: list[list[str]], width: int, name_width: int = 22) -> str:
    """table() with the second column wrapped at name_width and the last one at what is left of `width` (at
    least 20 characters), so every line fits a terminal of that width."""
    rows = [list(r) for r in rows]
    names = [textwrap.wrap(r[1], name_width) or [""] for r in rows]
    fixed = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
    fixed[1] = max(len(headers[1]), *(len(p) for n in names for p in n))
    room = max(20, width - sum(fixed) - 2 * len(fixed) - 1)
    lines: list[list[str]] = []
    for r, name in zip(rows, names):
        last = textwrap.wrap(r[-1], room) or [""]
        for k in range(max(len(name), len(last))):
            first = r[:-1] if k == 0 else [""] * (len(r) - 1)
            if len(first) > 1:
                first[1] = name[k] if k < len(name) else ""
            lines.append(first + [last[k] if k < len(last) else ""])
    return table(headers, lines)


def cmd_models(args: argparse.Namespace) -> int:
    from quantcore.sources.bundled import bundled_models

    models = bundled_models()
    if args.json:
        print_json([{"id": m.id, "taken": m.taken} for m in models])
        return 0
    print(table(["id", "taken"], [[m.id, m.taken or "-"] for m in models]))
    return 0
