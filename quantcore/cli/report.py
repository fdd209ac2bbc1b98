"""`report`: re-render a saved plan (`plan ... --report plan.json`) as PDF, HTML, Markdown, CSV or JSON."""
from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path
from typing import Any

from quantcore.errors import BadInputError

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
    """A JSON file read whole but bounded: a regular file of at most 64 MiB, one-line errors otherwise."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError(f"{path}: {what} must be a regular file")
        if st.st_size > MAX_JSON_BYTES:
            raise BadInputError(f"{path}: {what} is {st.st_size:,} bytes, more than the {MAX_JSON_BYTES:,} allowed")
        with path.open("rb") as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadInputError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None


def cmd_report(args: argparse.Namespace) -> int:
    from quantcore.report.content import check_plan
    from quantcore.report.write import report_format, write_report

    report_format(args.out)  # a bad extension fails before anything is read
    data = check_plan(read_json(args.plan, "the plan"))
    if args.lab:
        data = dict(data)
        data["lab"] = merged_lab([read_json(p, "lab results") for p in args.lab], args.lab)
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
