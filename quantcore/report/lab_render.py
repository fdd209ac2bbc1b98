"""Lab results as text: the per-tensor error table of `quantize` and terminal histograms."""
from __future__ import annotations

import math
from typing import Any

from quantcore.report.render import table
from quantcore.units import format_bytes


def quantize_dict(model: str, precision: str, results: list[Any], out: str | None) -> dict[str, Any]:
    """The `quantplanner.quantize/1` JSON: per tensor precision, shape, predicted / written bytes, error metrics."""
    rows = [r.as_dict() for r in results]
    return {"schema": "quantplanner.quantize/1", "model": model, "precision": precision, "out": out,
            "totals": {"tensors": len(rows), "predicted_bytes": sum(r["predicted_bytes"] for r in rows),
                       "written_bytes": sum(r["written_bytes"] for r in rows),
                       "file_bytes": sum(r["file_bytes"] for r in rows)},
            "tensors": rows}


def _g(v: Any, spec: str) -> str:
    if v is None:
        return "inf"
    return "-" if isinstance(v, float) and math.isnan(v) else format(v, spec)


def render_quantize(data: dict[str, Any]) -> str:
    rows = []
    for r in data["tensors"]:
        m = r["metrics"]
        rows.append([r["name"], "x".join(map(str, r["shape"])), r["precision"], f"{r['predicted_bytes']:,}",
                     f"{r['written_bytes']:,}", _g(m.get("rel_frobenius", float("nan")), ".4g"),
                     _g(m.get("sqnr_db", float("nan")), ".2f"), _g(m.get("cosine", float("nan")), ".6f"),
                     _g(m.get("max_abs_error", float("nan")), ".4g")])
    t = data["totals"]
    lines = [table(["tensor", "shape", "stored as", "predicted B", "written B", "rel. error", "SQNR dB", "cosine",
                    "max |err|"], rows), "",
             f"{t['tensors']} tensors: predicted {t['predicted_bytes']:,} bytes, written {t['written_bytes']:,} "
             f"({format_bytes(t['written_bytes'])})"]
    cals = sorted({r["calibration"] for r in data["tensors"] if r.get("calibration")})
    lines += [f"calibration inputs: {c}" for c in cals]
    if data["out"]:
        lines.append(f"written to {data['out']} ({t['file_bytes']:,} bytes of tensors, quant-state metadata "
                     "included)")
    return "\n".join(lines)


def render_histogram(h: Any, width: int = 50) -> str:
    """Horizontal bars, one per bin, then the summary and percentiles; quantization levels marked with '|'."""
    counts, edges = h.counts, h.edges
    top = max(counts) or 1
    marks = [0] * len(counts)
    for lv in h.levels:
        if edges[0] <= lv <= edges[-1]:
            k = min(len(counts) - 1, int((lv - edges[0]) / ((edges[-1] - edges[0]) or 1) * len(counts)))
            marks[k] += 1
    lines = []
    for i, c in enumerate(counts):
        bar = "#" * max(0, round(c / top * width)) if c else ""
        level = f" |{marks[i]}" if marks[i] else ""
        lines.append(f"{edges[i]:>+11.4g} {bar:<{width}} {c:,}{level}")
    names = h.tensors[0] if len(h.tensors) == 1 else f"{len(h.tensors)} tensors"
    lines += ["", f"{names}: {h.total:,} values, min {h.minimum:.6g}, max {h.maximum:.6g}, mean {h.mean:.4g}, "
                  f"std {h.std:.4g}",
              "percentiles: " + ", ".join(f"{k} {v:.4g}" for k, v in h.percentiles.items())]
    if h.levels:
        lines.append(f"levels ('|n': n levels in the bin): {h.levels_note}; {len(h.levels)} levels")
    return "\n".join(lines)
