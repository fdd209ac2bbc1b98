"""Plan reports as text: a terminal table view, and .json / .csv / .md files written atomically."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from quantcore.errors import BadInputError, one_line
from quantcore.units import format_bytes

COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total")
REPORT_SUFFIXES = (".json", ".csv", ".md")


def render_plan_text(data: dict[str, Any], unit: str = "GiB") -> str:
    """A terminal view of a plan dict: model line, memory table, one table per GPU."""
    m, w = data["model"], data["workload"]
    lines = [f"{m['id']}  ({m['architecture']}, {m['parameters'] / 1e9:,.2f}B parameters"
             + (f", {m['active_parameters'] / 1e9:,.2f}B active" if m["active_parameters"] != m["parameters"] else "")
             + f", from {m['source']})",
             f"mode {w['mode']}, batch {w['batch']}, context {w['context']:,}, KV {w['kv_dtype']}", ""]
    headers = ["precision", "bits/w"] + [c.replace("_", " ") for c in COMPONENTS]
    rows = [[r["precision"], f"{r['bits_per_weight']:.2f}"] + [_fmt(r["memory"][c], unit) for c in COMPONENTS]
            for r in data["rows"]]
    lines.append(table(headers, rows))
    gpu_ids = [g["gpu"] for g in data["rows"][0]["gpus"]] if data["rows"] else []
    for i, gid in enumerate(gpu_ids):
        g0 = data["rows"][0]["gpus"][i]
        lines += ["", f"{g0['name']} ({format_bytes(g0['usable_bytes'], unit)} usable)"]
        rows = []
        for r in data["rows"]:
            g = r["gpus"][i]
            rows.append([r["precision"], "yes" if g["fits"] else "no", str(g["count"] or "> 64"),
                         _money(g["purchase_usd"]), _money(g["hourly_usd"], 2),
                         _num(g["decode_tokens_per_s"]), _money(g["cost_per_million_tokens"], 2),
                         f"{g['max_context']:,}" if g.get("max_context") else "-"])
        lines.append(table(["precision", "fits on 1", "GPUs", "purchase", "per hour", "decode tok/s",
                            "$/M tokens", "max context"], rows))
    if data["skipped"]:
        lines += ["", f"skipped for mode {w['mode']}: {', '.join(data['skipped'])}"]
    lines += ["", "assumptions:"] + [f"  - {a}" for a in data["assumptions"]]
    return "\n".join(one_line(line, 100_000) for line in "\n".join(lines).split("\n"))  # names from files: escaped


def _fmt(n: int, unit: str) -> str:
    return "-" if n == 0 else format_bytes(n, unit).replace(f" {unit}", "")


def _money(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"${x:,.{digits}f}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned text table (cells hold names from model files: control characters are shown escaped)."""
    headers = [one_line(h, 10_000) for h in headers]
    rows = [[one_line(c, 10_000) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def markdown_text(text: object) -> str:
    """Text safe inside a Markdown line: one line, and every character Markdown or HTML would read as markup
    escaped (a model id like `<img src=x onerror=...>` or `[x](javascript:...)` stays text)."""
    line = one_line(text, 2000)
    line = "".join("\\" + c if c in _MD_SPECIAL else c for c in line)
    return line.replace("<", "&lt;").replace(">", "&gt;")


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~&")


def _fenced(text: str) -> str:
    """A code block that no run of backticks inside `text` can close early."""
    longest = max((len(run) for run in text.split("\n") for run in _backtick_runs(run)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _backtick_runs(line: str) -> list[str]:
    import re

    return re.findall(r"`+", line)


def write_report(path: Path, data: dict[str, Any], unit: str = "GiB") -> None:
    """Write the plan as .json, .csv or .md atomically (temp file in the same folder, then rename); any file
    system failure is one BadInputError line, and no temporary file is left behind."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            text = json.dumps(data, indent=1, allow_nan=False) + "\n"
        except ValueError:
            raise BadInputError(f"{path}: the plan holds a number that is not finite; not written") from None
    elif suffix == ".csv":
        buf = io.StringIO()
        wr = csv.writer(buf)
        wr.writerow(["precision", "bits_per_weight"] + [f"{c}_bytes" for c in COMPONENTS]
                    + ["gpu", "gpu_count", "fits_on_one", "purchase_usd", "hourly_usd", "decode_tokens_per_s",
                       "cost_per_million_tokens", "max_context"])
        for r in data["rows"]:
            for g in r["gpus"] or [None]:
                wr.writerow([r["precision"], r["bits_per_weight"]] + [r["memory"][c] for c in COMPONENTS]
                            + ([g["gpu"], g["count"], g["fits"], g["purchase_usd"], g["hourly_usd"],
                                g["decode_tokens_per_s"], g["cost_per_million_tokens"], g.get("max_context")]
                               if g else [""] * 8))
        text = buf.getvalue()
    else:
        text = f"# Plan: {markdown_text(data['model']['id'])}\n\n{_fenced(render_plan_text(data, unit))}\n"
    _write_atomic(path, text)


def _write_atomic(path: Path, text: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        if not parent.is_dir():
            raise BadInputError(f"{path}: folder {parent} does not exist")
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".quantplanner-", suffix=".tmp")  # short: long names fail
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:                  # at the rename, cleanly
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write report ({exc.strerror or exc.__class__.__name__})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
