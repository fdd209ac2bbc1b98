"""The plan's charts from the plan dict: stacked memory bars with GPU capacity lines, memory-vs-context curves,
and the fit heatmap over catalog GPUs."""
from __future__ import annotations

import re
from typing import Any

from quantcore.report import fmt
from quantcore.report.figures import Figure, Item, Line, Polyline, Rect, Text, clip_polyline, tick_label, ticks
from quantcore.report.fonts import text_width

WIDTH = 480.0
GRID = "#e3e6ea"
AXIS = "#6b7280"
INK = "#1f2933"
CURVE_PRECISIONS = ("fp32", "bf16", "fp16", "fp8", "q8_0", "q6_k", "q4_k_m", "nf4", "q3_k_m", "q2_k")
CURVE_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#eeca3b",
                 "#1b9e77", "#7570b3")
FIT, TIGHT, NOFIT = "#bfe5c6", "#f6dc91", "#f3b9b5"


def components_present(rows: list[dict[str, Any]]) -> list[str]:
    """Memory lines that are not zero in every row (inference plans have no gradients, optimizer, adapters)."""
    return [c for c in fmt.COMPONENTS if any(r["memory"].get(c) for r in rows)]


def capacities(data: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(label, bytes, combined) per capacity line: each chosen GPU's usable memory (equal ones merged), then the
    combined memory of the GPU count recommended on it when that is more than one."""
    rows = data.get("rows") or []
    seen: dict[int, list[str]] = {}
    for g in rows[0]["gpus"] if rows else []:
        names = seen.setdefault(int(g["usable_bytes"]), [])
        short = fmt.short_gpu(g.get("name") or g["gpu"])
        if short not in names:
            names.append(short)
    out = [(" / ".join(n), b, False) for b, n in seen.items()]
    recs = (data.get("report") or {}).get("recommendations") or []
    for i, rec in enumerate(recs):
        n = rec.get("count") or 0
        if 1 < n <= 16 and rows and i < len(rows[0]["gpus"]):
            g = rows[0]["gpus"][i]
            label = f"{n} x {fmt.short_gpu(g.get('name') or g['gpu'])}"
            if all(label != o[0] for o in out):
                out.append((label, n * int(g["usable_bytes"]), True))
    return out


def memory_bars(data: dict[str, Any], unit: str) -> Figure:
    """One horizontal stacked bar per precision (memory lines), with each chosen GPU's capacity dashed."""
    rows = data["rows"]
    comps = components_present(rows)
    div = fmt.UNITS[unit]
    label_w = max([text_width(r["precision"], 7.5) for r in rows] + [30]) + 8
    left, right, row_h = label_w, 36.0, 11.5
    legend_y = 12.0
    caps = capacities(data)
    top = legend_y + 14 + (12 * len(caps) if caps else 0)
    plot_w = WIDTH - left - right
    height = top + row_h * len(rows) + 30
    xmax = max([r["memory"]["total"] for r in rows] + [b for _, b, _ in caps] + [1]) / div * 1.04
    tk = ticks(xmax, 6)
    xmax = max(xmax, tk[-1])
    sx = plot_w / xmax
    items: list[Item] = []
    bottom = top + row_h * len(rows)
    for v in tk:
        x = left + v * sx
        items.append(Line(x, top - 2, x, bottom, GRID, 0.6))
        items.append(Text(x, bottom + 11, tick_label(v), 7, AXIS, "middle"))
    items.append(Text(left + plot_w / 2, bottom + 24, f"memory ({unit}), whole model on one GPU's worth of work",
                      7.5, AXIS, "middle"))
    x = left
    for c in comps:  # legend
        items.append(Rect(x, legend_y - 7, 8, 8, fmt.COMPONENT_COLOURS[c]))
        name = fmt.COMPONENT_NAMES[c]
        items.append(Text(x + 11, legend_y, name, 7.5, INK))
        x += 11 + text_width(name, 7.5) + 12
    labels: list[Item] = []  # drawn last: over the capacity lines
    for i, r in enumerate(rows):
        y = top + i * row_h
        items.append(Text(left - 5, y + row_h * 0.68, r["precision"], 7.5, INK, "end"))
        x = left
        for c in comps:
            v = r["memory"].get(c) or 0
            w = v / div * sx
            if w > 0:
                items.append(Rect(x, y + 2, w, row_h - 4, fmt.COMPONENT_COLOURS[c],
                                  tip=f"{r['precision']} {fmt.COMPONENT_NAMES[c]}: {fmt.size_u(v, unit)}"))
            x += w
        label = fmt.size(r["memory"]["total"], unit, 1)
        labels.append(Rect(x + 1.5, y + 2, text_width(label, 6.5) + 3, row_h - 4, "#ffffff"))
        labels.append(Text(x + 3, y + row_h * 0.68, label, 6.5, AXIS))
    items.append(Line(left, top - 2, left, bottom, AXIS, 0.8))
    for j, (name, b, combined) in enumerate(caps):
        x = left + b / div * sx
        colour = fmt.GPU_COLOURS[j % len(fmt.GPU_COLOURS)]
        items.append(Line(x, top - 4 - 12 * (len(caps) - 1 - j), x, bottom, colour, 1.1,
                          (1.5, 2) if combined else (4, 2.5)))
        label = f"{name}: {fmt.size_u(b, unit, 0)} " + ("combined" if combined else "usable")
        anchor = "end" if x + text_width(label, 7) > WIDTH - 2 else "start"
        items.append(Text(x + (-3 if anchor == "end" else 3), top - 6 - 12 * (len(caps) - 1 - j), label, 7, colour,
                          anchor, bold=True))
    return Figure("memory-bars", WIDTH, height, tuple(items + labels), "Memory per precision",
                  "Stacked memory lines per precision; dashed lines mark each chosen GPU's usable memory.")


def curve_precisions(data: dict[str, Any]) -> list[str]:
    """Up to 8 precisions to draw: representative ones present in the plan plus the recommended ones."""
    series = (data.get("report") or {}).get("curves", {}).get("series", {})
    present = [r["precision"] for r in data["rows"] if r["precision"] in series]
    chosen = [p for p in CURVE_PRECISIONS if p in present]
    for rec in (data.get("report") or {}).get("recommendations", []):
        if rec.get("precision") in present and rec["precision"] not in chosen:
            chosen.append(rec["precision"])
    if len(chosen) < 3:
        chosen = present[:6]
    order = {p: i for i, p in enumerate(present)}
    return sorted(chosen[:8], key=lambda p: order[p])


def context_curves(data: dict[str, Any], unit: str) -> Figure | None:
    """Total memory against context for a few precisions; GPU capacities dashed; the planned context dotted."""
    curves = (data.get("report") or {}).get("curves")
    if not curves or not curves.get("contexts"):
        return None
    pids = curve_precisions(data)
    if not pids:
        return None
    div = fmt.UNITS[unit]
    xs = curves["contexts"]
    series = {p: [v / div for v in curves["series"][p]] for p in pids}
    caps = capacities(data)
    current = int(curves.get("current") or 0)
    by_pid = {r["precision"]: r for r in data["rows"]}
    at_current = [by_pid[p]["memory"]["total"] / div for p in pids if p in by_pid]
    peak = max(max(s) for s in series.values())
    cap_top = max([b / div for _, b, _ in caps] + [0.0])
    focus = max(cap_top * 1.6, min(at_current + [peak]) * 1.3, 1e-9)
    ytop = min(peak * 1.05, focus)
    ytk = ticks(ytop, 5)
    ytop = max(ytop, ytk[-1]) if ytk[-1] < ytop * 1.2 else ytop
    above = [p for p in pids if min(series[p]) > ytop]
    pids = [p for p in pids if p not in above]
    if not pids:  # every curve starts above the focus: keep the lowest one and let it be clipped
        pids = [min(above, key=lambda p: min(series[p]))]
        above.remove(pids[0])
    legend_w = max([text_width(p, 7.5) + 26 for p in pids] + [text_width("above the chart:", 6.5) + 8])
    left, right, top, height = 44.0, legend_w + 8, 12.0, 230.0
    bottom = height - 32
    plot_w, plot_h = WIDTH - left - right, bottom - top
    xmax = float(xs[-1])
    xtk = ticks(xmax, 6)
    sx, sy = plot_w / xmax, plot_h / ytop
    items: list[Item] = []
    for v in ytk:
        y = bottom - v * sy
        items.append(Line(left, y, left + plot_w, y, GRID, 0.6))
        items.append(Text(left - 4, y + 2.5, tick_label(v), 7, AXIS, "end"))
    for v in xtk:
        x = left + v * sx
        items.append(Line(x, bottom, x, bottom + 3, AXIS, 0.6))
        items.append(Text(x, bottom + 12, _k(v), 7, AXIS, "middle"))
    items.append(Text(left + plot_w / 2, bottom + 25, "context (tokens per sequence)", 7.5, AXIS, "middle"))
    items.append(Text(10, top + plot_h / 2, f"memory ({unit})", 7.5, AXIS, "middle", rotate=-90))
    items.append(Line(left, top, left, bottom, AXIS, 0.8))
    items.append(Line(left, bottom, left + plot_w, bottom, AXIS, 0.8))
    for j, (name, b, combined) in enumerate(caps):
        y = bottom - b / div * sy
        if y < top:
            continue
        colour = fmt.GPU_COLOURS[j % len(fmt.GPU_COLOURS)]
        items.append(Line(left, y, left + plot_w, y, colour, 1.1, (1.5, 2) if combined else (4, 2.5)))
        items.append(Text(left + plot_w - 3, y - 3, name, 7, colour, "end", bold=True))
    if 0 < current <= xmax:
        x = left + current * sx
        items.append(Line(x, top, x, bottom, "#888888", 0.8, (1.5, 2)))
        items.append(Text(x + 3, bottom - 4, f"context {current:,}", 7, "#666666"))  # curves rarely start at 0
    for i, p in enumerate(pids):
        colour = CURVE_PALETTE[i % len(CURVE_PALETTE)]
        pts = [(left + x * sx, bottom - v * sy) for x, v in zip(xs, series[p])]
        for piece in clip_polyline(pts, top):
            items.append(Polyline(tuple(piece), colour, 1.6))
        ly = top + 6 + i * 13
        lx = WIDTH - right + 8
        items.append(Line(lx, ly - 2.5, lx + 14, ly - 2.5, colour, 2))
        items.append(Text(lx + 18, ly, p, 7.5, INK))
    if above:
        ly = top + 6 + len(pids) * 13 + 4
        items.append(Text(WIDTH - right + 8, ly, "above the chart:", 6.5, AXIS))
        items.append(Text(WIDTH - right + 8, ly + 9, ", ".join(above[:4]) + (" ..." if len(above) > 4 else ""), 6.5,
                          AXIS))
    return Figure("context-curves", WIDTH, height, tuple(items), "Memory against context length",
                  f"Total memory for {', '.join(pids)} from 1 to {xs[-1]:,} tokens; dashed lines are GPU capacities"
                  + (f"; {', '.join(above)} lie above the chart" if above else "") + ".")


def _k(v: float) -> str:
    return f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"


def _gpu_label(g: dict[str, Any], unit: str) -> str:
    name = fmt.short_gpu(g["name"])
    return name if re.search(r"\d\s?G", name) else f"{name} {fmt.size(g['memory_bytes'], unit, 0)} {unit[:2]}"


def count_colour(c: int | None) -> str:
    return FIT if c == 1 else NOFIT if c is None or c > 8 else TIGHT


def fit_heatmap(data: dict[str, Any], unit: str) -> Figure | None:
    """GPUs needed for every catalog GPU (rows) x precision (columns); the chosen GPUs' rows outlined."""
    hm = (data.get("report") or {}).get("fit_heatmap")
    if not hm or not hm.get("gpus") or not hm.get("precisions"):
        return None
    pids, gpus, counts = hm["precisions"], hm["gpus"], hm["counts"]
    chosen = {g["gpu"] for g in (data["rows"][0]["gpus"] if data["rows"] else [])}
    labels = [_gpu_label(g, unit) for g in gpus]
    label_w = max(text_width(s, 7) for s in labels) + 8
    head = max(text_width(p, 7) for p in pids) + 10
    cell_w = min(22.0, (WIDTH - label_w) / len(pids))
    cell_h = 12.0
    top = head
    width = label_w + cell_w * len(pids)
    height = top + cell_h * len(gpus) + 24
    items: list[Item] = []
    for k, p in enumerate(pids):
        x = label_w + (k + 0.5) * cell_w + 2.5
        items.append(Text(x, top - 4, p, 7, INK, "start", rotate=-90))
    for j, g in enumerate(gpus):
        y = top + j * cell_h
        is_chosen = g["id"] in chosen
        items.append(Text(label_w - 5, y + cell_h * 0.72, labels[j], 7, INK, "end", bold=is_chosen))
        for k, p in enumerate(pids):
            c = counts[j][k]
            x = label_w + k * cell_w
            items.append(Rect(x, y, cell_w, cell_h, count_colour(c), "#ffffff", 0.6,
                              tip=f"{p} on {g['name']}: {fmt.count(c)} GPU(s)"))
            items.append(Text(x + cell_w / 2, y + cell_h * 0.72, fmt.count(c) if c is not None else ">64", 6.3,
                              INK, "middle", bold=is_chosen))
        if is_chosen:
            items.append(Rect(label_w, y, cell_w * len(pids), cell_h, "none", INK, 1.0))
    ly = top + cell_h * len(gpus) + 15
    x = label_w
    for colour, text in ((FIT, "fits on one GPU"), (TIGHT, "2-8 GPUs"), (NOFIT, "more than 8")):
        items.append(Rect(x, ly - 7, 10, 9, colour))
        items.append(Text(x + 13, ly, text, 7, INK))
        x += 13 + text_width(text, 7) + 14
    return Figure("fit-heatmap", width, height, tuple(items), "GPUs needed per GPU model and precision",
                  "Number of GPUs each precision needs on every catalog GPU; chosen GPUs outlined.")
