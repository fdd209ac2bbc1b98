"""Lab results as text: the per-tensor error table of `quantize`, terminal histograms, and a progress bar."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from quantcore.errors import BadInputError
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


class ProgressBar:
    """A one-line progress bar on a terminal (nothing when the stream is not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.on = self.stream.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str, fraction: float) -> None:
        if not self.on:
            return
        f = min(max(fraction, 0.0), 1.0)
        filled = int(f * self.width)
        elapsed = time.monotonic() - self.start
        eta = f"{elapsed / f - elapsed:5.0f}s left" if 0 < f < 1 else f"{elapsed:5.1f}s     "
        self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (self.width - filled)}] {f * 100:5.1f}% {eta} {message[:60]}")
        if f >= 1:
            self.stream.write("\n")
        self.stream.flush()


def _local_model(model: str) -> Path:
    path = Path(model).expanduser()
    if not path.exists():
        raise BadInputError(f"{model}: give a local folder, .safetensors or .gguf file (weights are read from disk)")
    return path


def histogram_command(model: str, tensor: str | None, bins: int, precision: str | None, as_json: bool) -> str:
    """`inspect MODEL --histogram`: one tensor, a layer (a name part) or the whole model, with a progress bar."""
    from dataclasses import replace

    from quantcore.lab.histogram import histogram_of_model

    path = _local_model(model)
    h = histogram_of_model(path, [tensor] if tensor else None, bins, progress=ProgressBar())
    if precision:
        from quantcore.formats.catalog import get_precision
        from quantcore.lab.levels import quantization_levels
        from quantcore.sources.tensors import list_tensors, select

        get_precision(precision)
        first = select(list_tensors(path), [h.tensors[0]])[0]
        levels, note = quantization_levels(precision, first.load())
        h = replace(h, levels=levels, levels_note=f"{note} ({first.name})")
    if as_json:
        return json.dumps({"schema": "quantplanner.histogram/1", "model": str(path), **h.as_dict()}, indent=1)
    return render_histogram(h)


def quantize_command(model: str, precision: str, tensors: list[str] | None, out: Path | None, as_json: bool) -> str:
    """`quantize MODEL --precision ID`: quantize tensor by tensor (progress bar), error table or JSON."""
    from quantcore.lab.model_quantize import quantize_model

    path = _local_model(model)
    results = quantize_model(path, precision, tensors, out, progress=ProgressBar())
    data = quantize_dict(str(path), precision, results, str(out) if out else None)
    return json.dumps(data, indent=1) if as_json else render_quantize(data)
