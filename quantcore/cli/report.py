"""`report`: re-render a saved plan (`plan ... --report plan.json`) as PDF, HTML, Markdown, CSV or JSON."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quantcore.errors import BadInputError
from quantcore.sources.safe_io import read_json as safe_read_json

MAX_JSON_BYTES = 64 * 2**20


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="re-render a saved plan JSON as a .pdf, .html, .md, .csv or .json report")
    p.add_argument("plan", type=Path, help="a plan saved with `quantplanner plan MODEL ... --report plan.json` "
                                           "(a `plan --json` file works too, without its charts of context and GPUs)")
    p.add_argument("--out", type=Path, required=True, help="report file; the format follows its extension")
    p.add_argument("--lab", type=Path, action="append", default=[],
                   help="quantization lab results (JSON) to include; repeatable")
    paper_and_unit(p)
    p.set_defaults(func=cmd_report)


def paper_and_unit(p: argparse.ArgumentParser, unit: bool = True) -> None:
    p.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF page size (default a4)")
    if unit:
        p.add_argument("--unit", choices=("GiB", "GB"), default=None,
                       help="memory unit (default: the one the plan was made with, else GiB)")


def read_json(path: Path, what: str) -> Any:
    """A JSON file read whole but bounded (safe_io): a regular file of at most 64 MiB (a FIFO or device is refused
    without blocking), nested at most safe_io.MAX_DEPTH deep, strict numbers (no NaN or 1e400); one-line errors."""
    return safe_read_json(path, MAX_JSON_BYTES, what, BadInputError, finite=True)


def cmd_report(args: argparse.Namespace) -> int:
    from quantcore.report.content import check_plan
    from quantcore.report.write import report_format, write_report

    report_format(args.out)  # a bad extension fails before anything is read
    data = check_plan(read_json(args.plan, "plan file"))
    if args.lab:
        data = dict(data)
        data["lab"] = merged_lab([read_json(p, "lab results file") for p in args.lab], args.lab)
    written = write_report(args.out, data, args.unit, args.paper)
    print(f"report written to {written[0]}" + (f" (+ {len(written) - 1} chart files beside it)"
                                               if len(written) > 1 else ""))
    return 0


def merged_lab(objects: list[Any], paths: list[Path]) -> dict[str, Any]:
    """Lab result files ({"lab": {...}} or the lab object itself) merged: lists concatenated, the rest replaced."""
    out: dict[str, Any] = {}
    for obj, path in zip(objects, paths):
        lab = obj.get("lab", obj) if isinstance(obj, dict) else None
        if not isinstance(lab, dict):
            raise BadInputError(f"{path}: lab results must be a JSON object (see docs/plan-schema.md)")
        for key, value in lab.items():
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = out[key] + value
            else:
                out[key] = value
    return out
