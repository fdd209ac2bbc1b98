"""Quantization lab results in a report: error table, weight histograms with the format's levels, layer
sensitivity heatmap, measured against predicted bytes.

The "lab" object (all parts optional; see docs/plan-schema.md):
  {"device": str, "calibration": str,
   "errors": [{"tensor", "precision", "mse", "sqnr_db", "rel_error", "max_abs_error", "cosine"}],
   "histograms": [{"tensor", "precision", "edges": [n+1 floats], "counts": [n ints], "levels": [floats]}],
   "sensitivity": {"metric": str, "layers": [str], "precisions": [str], "values": [[float per precision] per layer]},
   "runs": [{"precision", "layer", "device", "predicted_bytes", "measured_bytes", "latency_ms", "peak_bytes",
             "kernel"}]}
"""
from __future__ import annotations

import math
from typing import Any

from quantcore.report import fmt
from quantcore.report.charts import AXIS, GRID, INK, WIDTH
from quantcore.report.document import Block, Chart, Heading, Para, Table, spans
from quantcore.report.figures import Figure, Item, Line, Rect, Text, tick_label, ticks
from quantcore.report.fonts import text_width

MAX_HISTOGRAMS = 6


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, float)) and math.isfinite(v):
        return f"{v:.{digits}g}"
    return str(v)


def lab_section(data: dict[str, Any], unit: str) -> list[Block]:
    lab = data.get("lab")
    if not isinstance(lab, dict) or not lab:
        return []
    blocks: list[Block] = [Heading("Quantization lab")]
    where = [f"{k}: {lab[k]}" for k in ("device", "calibration") if lab.get(k)]
    if where:
        blocks.append(Para(spans("Measured on this model's real weights; " + "; ".join(where) + "."), "note"))
    errors = [e for e in lab.get("errors") or [] if isinstance(e, dict)]
    if errors:
        rows = tuple((str(e.get("tensor", "")), str(e.get("precision", "")), _num(e.get("mse")),
                      _num(e.get("sqnr_db"), 3), _num(e.get("rel_error")), _num(e.get("max_abs_error")),
                      _num(e.get("cosine"), 6)) for e in errors)
        blocks += [Heading("Quantization error", 2),
                   Table(("tensor", "precision", "MSE", "SQNR (dB)", "relative error", "max |error|", "cosine"),
                         rows, "llrrrrr", wrap=(0,), caption="Error of the dequantized weights against the originals.")]
    hists = [h for h in lab.get("histograms") or [] if isinstance(h, dict) and h.get("counts") and h.get("edges")]
    if hists:
        blocks.append(Heading("Weight histograms", 2))
        for k, h in enumerate(hists[:MAX_HISTOGRAMS]):
            blocks.append(Chart(histogram(h, k), f"{h.get('tensor', '')}: distribution of the weights"
                                + (f"; ticks: the {h.get('precision')} levels of a typical block" if h.get("levels")
                                   else "")))
    sens = lab.get("sensitivity")
    if isinstance(sens, dict) and sens.get("layers") and sens.get("precisions"):
        blocks += [Heading("Layer sensitivity", 2), Chart(sensitivity_heatmap(sens),
                   f"{sens.get('metric', 'relative output error')} of each layer at each precision (darker: larger).")]
    runs = [r for r in lab.get("runs") or [] if isinstance(r, dict)]
    if runs:
        rows = tuple((str(r.get("layer") or r.get("tensor") or ""), str(r.get("precision", "")),
                      str(r.get("device", lab.get("device", ""))), fmt.integer(r.get("predicted_bytes")),
                      fmt.integer(r.get("measured_bytes")), _match(r), _num(r.get("latency_ms"), 3),
                      fmt.size(r.get("peak_bytes"), "MiB" if unit == "GiB" else "MB", 1) if r.get("peak_bytes")
                      else "-", str(r.get("kernel", ""))) for r in runs)
        blocks += [Heading("Measured against predicted", 2),
                   Table(("layer", "precision", "device", "predicted B", "measured B", "match", "latency ms",
                          "peak " + ("MiB" if unit == "GiB" else "MB"), "kernel"), rows, "lllrrlrrl", wrap=(0, 8),
                         caption="Bytes the planner predicted for the quantized layer against bytes the test-run "
                                 "allocated.")]
    return blocks


def _match(r: dict[str, Any]) -> str:
    p, m = r.get("predicted_bytes"), r.get("measured_bytes")
    if not p or m is None:
        return "-"
    return "equal" if p == m else f"{(m - p) / p:+.2%}"


def histogram(h: dict[str, Any], index: int) -> Figure:
    """Bars of the weight histogram (log-free counts), the format's levels as ticks below the axis."""
    edges, counts = [float(e) for e in h["edges"]], [int(c) for c in h["counts"]]
    left, right, top, height = 44.0, 12.0, 10.0, 150.0
    bottom = height - 34
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    plot_w, plot_h = WIDTH - left - right, bottom - top
    cmax = max(counts + [1])
    ytk = ticks(cmax, 4)
    ytop = max(cmax, ytk[-1])
    items: list[Item] = []
    for v in ytk:
        y = bottom - v / ytop * plot_h
        items.append(Line(left, y, left + plot_w, y, GRID, 0.6))
        items.append(Text(left - 4, y + 2.5, tick_label(v), 6.5, AXIS, "end"))
    for i, c in enumerate(counts):
        x0 = left + (edges[i] - lo) / span * plot_w
        x1 = left + (edges[i + 1] - lo) / span * plot_w
        hgt = c / ytop * plot_h
        if hgt > 0:
            items.append(Rect(x0, bottom - hgt, max(0.3, x1 - x0 - 0.2), hgt, "#4c78a8"))
    for lv in h.get("levels") or []:
        if lo <= float(lv) <= hi:
            x = left + (float(lv) - lo) / span * plot_w
            items.append(Line(x, bottom + 1, x, bottom + 6, "#e45756", 0.8))
    items.append(Line(left, bottom, left + plot_w, bottom, AXIS, 0.8))
    for v in (lo, lo + span / 2, hi):
        x = left + (v - lo) / span * plot_w
        items.append(Text(x, bottom + 15, f"{v:.3g}", 6.5, AXIS, "middle"))
    title = str(h.get("tensor", "tensor")) + (f" ({h['precision']})" if h.get("precision") else "")
    items.append(Text(left + plot_w / 2, bottom + 27, f"weight value: {title}", 7, AXIS, "middle"))
    return Figure(f"lab-histogram-{index + 1}", WIDTH, height, tuple(items), f"Histogram of {title}",
                  "Weight counts per bin; red ticks are the quantization levels.")


def _shade(v: float, vmax: float) -> str:
    """White to dark red by v / vmax."""
    t = 0.0 if vmax <= 0 or not math.isfinite(v) else max(0.0, min(1.0, v / vmax))
    r, g, bl = 255 - int(t * (255 - 165)), 255 - int(t * (255 - 15)), 255 - int(t * (255 - 21))
    return f"#{r:02x}{g:02x}{bl:02x}"


def sensitivity_heatmap(s: dict[str, Any]) -> Figure:
    layers, pids = [str(x) for x in s["layers"]], [str(x) for x in s["precisions"]]
    values = [[float(v) if v is not None else float("nan") for v in row] for row in s["values"]]
    finite = [v for row in values for v in row if math.isfinite(v)]
    vmax = max(finite + [1e-12])
    label_w = min(200.0, max(text_width(n, 6.5) for n in layers) + 8)
    cell_w = min(60.0, (WIDTH - label_w) / max(1, len(pids)))
    cell_h = 10.0
    top = 16.0
    items: list[Item] = []
    for k, p in enumerate(pids):
        items.append(Text(label_w + (k + 0.5) * cell_w, top - 5, p, 7, INK, "middle"))
    for j, name in enumerate(layers):
        y = top + j * cell_h
        items.append(Text(label_w - 4, y + 7.5, name if text_width(name, 6.5) < label_w else "..." + name[-34:], 6.5,
                          INK, "end"))
        for k in range(len(pids)):
            v = values[j][k] if k < len(values[j]) else float("nan")
            items.append(Rect(label_w + k * cell_w, y, cell_w, cell_h, _shade(v, vmax), "#ffffff", 0.5,
                              tip=f"{name} at {pids[k]}: {v:.4g}"))
            if cell_w >= 30:
                items.append(Text(label_w + (k + 0.5) * cell_w, y + 7.5, f"{v:.2g}", 6, "#000000" if v < vmax * 0.6
                                  else "#ffffff", "middle"))
    height = top + cell_h * len(layers) + 6
    return Figure("lab-sensitivity", label_w + cell_w * len(pids), height, tuple(items), "Layer sensitivity",
                  f"{s.get('metric', 'relative output error')} per layer and precision.")
