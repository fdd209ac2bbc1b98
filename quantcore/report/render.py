"""A plan as terminal text (the tables `quantplanner plan` prints); report files are written by report.write."""
from __future__ import annotations

from typing import Any

from quantcore.errors import one_line
from quantcore.report.write import REPORT_SUFFIXES, write_report
from quantcore.units import format_bytes

__all__ = ["REPORT_SUFFIXES", "render_plan_text", "table", "write_report"]

COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total")


def render_plan_text(data: dict[str, Any], unit: str = "GiB") -> str:
    """A terminal view of a plan dict: model line, warnings, memory table, one table per GPU, recommendations."""
    m, w = data["model"], data["workload"]
    guessed = " - a GUESS from a bare parameter count" if m.get("guessed") else ""
    lines = [f"{m['id']}  ({m['architecture']}, {m['parameters'] / 1e9:,.2f}B parameters"
             + (f", {m['active_parameters'] / 1e9:,.2f}B active" if m["active_parameters"] != m["parameters"] else "")
             + f", from {m['source']}{guessed})",
             f"mode {w['mode']}, batch {w['batch']}, context {w['context']:,}, KV {w['kv_dtype']}, "
             f"engine {w.get('engine', 'hf')}" + (f", host RAM {format_bytes(w['host_ram_bytes'], unit, 0)}"
                                                  if w.get("host_ram_bytes") else "")]
    lines += [f"warning: {x}" for x in data.get("warnings", [])]
    lines += ["", f"memory in {unit} (the whole model, before it is split over GPUs):"]
    headers = ["precision", "bits/w", "engine"] + [c.replace("_", " ") for c in COMPONENTS]
    rows = [[r.get("label", r["precision"]) if r.get("as_stored") else r["precision"], f"{r['bits_per_weight']:.2f}",
             r.get("engine", "-")] + [_fmt(r["memory"][c], unit) for c in COMPONENTS] for r in data["rows"]]
    lines.append(table(headers, rows))
    gpu_ids = [g["gpu"] for g in data["rows"][0]["gpus"]] if data["rows"] else []
    for i, gid in enumerate(gpu_ids):
        g0 = data["rows"][0]["gpus"][i]
        lines += ["", f"{g0['name']} ({format_bytes(g0['usable_bytes'], unit)} usable); speeds are estimates"]
        rows = []
        training = "training" in g0  # training plans: throughput, time and cost of the dataset, no decode speed
        for r in data["rows"]:
            g = r["gpus"][i]
            place = g.get("placement") or {}
            t = g.get("training") or {}
            speed = ([_num(t.get("tokens_per_s")), _num(t.get("hours")), _money(t.get("cost_usd"))] if training else
                     [_num(g["decode_tokens_per_s"]), _num(g["prefill_tokens_per_s"], 0),
                      _money(g["cost_per_million_tokens"], 2)])
            rows.append([r["precision"], place.get("badge", "yes" if g["fits"] else "no"),
                         str(g["count"] or "> 64"), _host(place, unit), _money(g["purchase_usd"]),
                         _money(g["hourly_usd"], 2)] + speed
                        + [f"{g['max_context']:,}" if g.get("max_context") else "-"])
        speed_headers = (["train tok/s", "hours", "cost"] if training
                         else ["decode tok/s", "prefill tok/s", "$/M tokens"])
        lines.append(table(["precision", "placement", "GPUs", "host RAM", "purchase", "per hour"] + speed_headers
                           + ["max context (tokens)"], rows))
        rec = (data.get("recommendations") or [None] * len(gpu_ids))[i]
        if rec:
            lines.append(f"recommendation: {rec['text']}")
            lines += [f"  caveat: {c}" for c in rec["caveats"] if c not in data.get("warnings", [])[:1]]
    if data["skipped"]:
        lines += ["", f"skipped for mode {w['mode']}: {', '.join(data['skipped'])}"]
    lines += ["", "assumptions:"] + [f"  - {a}" for a in data["assumptions"]]
    return "\n".join(one_line(line, 100_000) for line in "\n".join(lines).split("\n"))  # names from files: escaped


def _host(place: dict[str, Any], unit: str) -> str:
    return format_bytes(place["host_bytes"], unit, 1) if place.get("host_bytes") else "-"


def _fmt(n: int, unit: str) -> str:
    return "-" if n == 0 else format_bytes(n, unit).replace(f" {unit}", "")


def _money(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"${x:,.{digits}f}"


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned text table (cells hold names from model files: control characters are shown escaped)."""
    headers = [one_line(h, 10_000) for h in headers]
    rows = [[one_line(c, 10_000) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
