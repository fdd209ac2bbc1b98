"""What the Weights view shows about a selection of tensors: a streamed histogram with outlier statistics, the
levels of a chosen block, and per precision the error picture of one tensor (metrics, error histogram, decimated
original-vs-dequantized pairs, per-block errors)."""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.formats import catalog
from quantcore.formats.quantize import check_tensor, dequantize, quantize
from quantcore.lab.histogram import FINE_BINS, CancelledError, Histogram, StreamingHistogram, row_chunks
from quantcore.lab.levels import quantization_levels
from quantcore.lab.metrics import ErrorMetrics, OutlierStats, block_errors, error_metrics, outlier_stats
from quantcore.model.inventory import Architecture, TensorInfo

if TYPE_CHECKING:
    import torch

    from quantcore.sources.tensors import TensorRef

Progress = Callable[[str, float], None]
OUTLIER_MAX_ELEMENTS = 1 << 25  # outlier statistics read a tensor whole (in float64): larger ones are skipped
SCATTER_POINTS = 4000
STRIP_ROWS = 256


@dataclass(frozen=True)
class Selection:
    """A histogram over the selected tensors (min to max, and zoomed to the central p0.1-p99.9 range, where a
    heavy tail would otherwise squeeze the bulk into a few bins) and the outlier statistics of each tensor small
    enough to measure."""

    histogram: Histogram
    outliers: tuple[tuple[str, OutlierStats], ...]
    skipped: int  # tensors too large for outlier statistics
    central: Histogram | None = None  # counts of the values in [p0.1, p99.9] only (same summary statistics)

    def summary(self) -> dict[str, Any]:
        """The heaviest tail (largest kurtosis), the share beyond 6 sigma over the measured tensors, the outlier
        columns (LLM.int8(): |x| >= 6) and the largest magnitude."""
        if not self.outliers:
            return {}
        name, worst = max(self.outliers, key=lambda o: o[1].kurtosis)
        return {"kurtosis_max": worst.kurtosis, "kurtosis_tensor": name,
                "beyond_6_sigma": max(o.beyond_6_sigma for _, o in self.outliers),
                "outlier_columns": sum(o.outlier_columns for _, o in self.outliers),
                "absmax": max(o.absmax for _, o in self.outliers), "measured": len(self.outliers),
                "skipped": self.skipped}


def selection(refs: Sequence[TensorRef], bins: int = 128, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> Selection:
    """Histogram (streamed, bounded memory) and outlier statistics of the float tensors in refs."""
    import torch

    refs = [r for r in refs if r.dtype not in ("I8", "I16", "I32", "I64", "U8", "BOOL")]
    if not refs:
        raise BadInputError("the selection holds no float tensors")
    total = sum(r.numel for r in refs) or 1
    h = StreamingHistogram()
    outliers: list[tuple[str, OutlierStats]] = []
    skipped = done = 0
    for r in refs:
        if cancel is not None and cancel.is_set():
            raise CancelledError("histogram cancelled")
        try:
            for chunk in row_chunks(r):
                h.add(chunk)
        except BadInputError as exc:
            raise BadInputError(f"{r.name}: {exc}") from None
        if r.numel <= OUTLIER_MAX_ELEMENTS:
            outliers.append((r.name, outlier_stats(r.load().to(torch.float32))))
        else:
            skipped += 1
        done += r.numel
        if progress is not None:
            progress(r.name, done / total)
    full = h.result(bins, tuple(r.name for r in refs))
    return Selection(full, tuple(outliers), skipped, central_histogram(h, full, bins))


def central_histogram(h: StreamingHistogram, full: Histogram, bins: int, low: str = "p0.1",
                      high: str = "p99.9") -> Histogram:
    """The running histogram re-binned over [full.percentiles[low], full.percentiles[high]] (values outside left
    out; extra["outside"] counts them). Bin edges are exact; each fine bin (1/4096 of max|x|) goes to the display
    bin holding its centre."""
    import torch

    lo, hi = full.percentiles[low], full.percentiles[high]
    if hi <= lo:
        return full
    width = 2 * h.radius / FINE_BINS
    centers = -h.radius + width * (torch.arange(FINE_BINS, dtype=torch.float64) + 0.5)
    inside = (centers >= lo) & (centers <= hi)
    idx = torch.clamp(((centers[inside] - lo) / (hi - lo) * bins).floor().long(), 0, bins - 1)
    counts = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, h.fine[inside])
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    kept = int(round(float(counts.sum())))
    return replace(full, edges=tuple(float(e) for e in edges), counts=tuple(int(round(float(c))) for c in counts),
                   extra={"range": f"{low}..{high}", "outside": full.total - kept})


def block_size(pid: str, shape: tuple[int, ...]) -> int:
    """Values sharing one scale in this precision: its block / group, or a whole row (per-row scales, floats)."""
    lay = catalog.layout(pid)
    cols = shape[-1] if shape else 1
    if lay.group and lay.scheme != "gguf":
        return lay.group
    if lay.scheme == "gguf":
        return catalog.get_precision(pid).block_size or 32
    return max(cols, 1)


def block_levels(pid: str, t: torch.Tensor, index: int) -> tuple[tuple[float, ...], str, torch.Tensor]:
    """(levels, note, values) of block number `index` (row-major over the tensor, as the format cuts it)."""
    flat = t.reshape(-1)
    size = block_size(pid, tuple(t.shape))
    blocks = -(-flat.numel() // size)
    if not 0 <= index < blocks:
        raise BadInputError(f"block {index} does not exist: the tensor has {blocks:,} blocks of {size}")
    values = flat[index * size:(index + 1) * size]
    levels, note = quantization_levels(pid, values.reshape(1, -1))
    return levels, note.replace("the block with the median scale", f"block {index:,} of {blocks:,}"), values


@dataclass(frozen=True)
class TensorError:
    """One precision's error picture of one tensor."""

    precision: str
    metrics: ErrorMetrics
    error_histogram: Histogram  # of dequantized - original
    sample: tuple[Any, Any]  # (original, dequantized) values at evenly spaced positions (numpy arrays)
    block: int  # values per block of the strip
    strip: Any  # (rows, blocks) relative error per block, rows pooled (max) to at most STRIP_ROWS (numpy)
    nbytes: int


def tensor_errors(t: torch.Tensor, precisions: Sequence[str], info: TensorInfo | None = None,
                  arch: Architecture | None = None, bins: int = 96, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> tuple[list[TensorError], list[tuple[str, str]]]:
    """Quantize t in each precision: its errors, sorted by SQNR (best first), and the precisions that could not
    take it with the one-line reason."""
    import torch

    name = info.name if info is not None else "tensor"
    check_tensor(t, name)
    if t.dim() < 2:
        raise BadInputError(f"{name}: a {t.dim()}-D tensor; quantization errors are shown for weight matrices")
    w = t.to(torch.float32)
    out: list[TensorError] = []
    failed: list[tuple[str, str]] = []
    n = w.numel()
    idx = torch.linspace(0, n - 1, min(SCATTER_POINTS, n)).long()
    for i, pid in enumerate(precisions):
        if cancel is not None and cancel.is_set():
            raise CancelledError("error view cancelled")
        if progress is not None:
            progress(f"{pid}: quantizing {name}", i / max(len(precisions), 1))
        try:
            q = quantize(t, pid, info=info, arch=arch)
        except QuantPlannerError as exc:
            failed.append((pid, str(exc)))
            continue
        d = dequantize(q).reshape(w.shape)
        diff = d - w
        size = min(block_size(pid, tuple(w.shape)), w.shape[-1])
        strip = block_errors(w.reshape(-1, w.shape[-1]), d.reshape(-1, w.shape[-1]), size).to(torch.float32)
        strip = torch.where(torch.isfinite(strip), strip, torch.zeros_like(strip))
        if strip.shape[0] > STRIP_ROWS:  # rows pooled by max, `pool` at a time (the last group may be short)
            pool = math.ceil(strip.shape[0] / STRIP_ROWS)
            rows = math.ceil(strip.shape[0] / pool)
            pad = rows * pool - strip.shape[0]
            strip = torch.nn.functional.pad(strip, (0, 0, 0, pad)).view(rows, pool, -1).amax(dim=1)
        eh = StreamingHistogram()
        eh.add(diff)
        out.append(TensorError(pid, error_metrics(w, d), eh.result(bins, (name,)),
                               (w.reshape(-1)[idx].numpy(), d.reshape(-1)[idx].numpy()), size, strip.numpy(),
                               q.nbytes))
    out.sort(key=lambda e: -e.metrics.sqnr_db)
    if progress is not None:
        progress("done", 1.0)
    return out, failed


def load_named(path: Path, names: Sequence[str]) -> list[TensorRef]:
    """The TensorRefs of these exact names, in the order given."""
    from quantcore.sources.tensors import list_tensors

    refs = {r.name: r for r in list_tensors(Path(path))}
    missing = [n for n in names if n not in refs]
    if missing:
        raise BadInputError(f"{missing[0]} is not in the model's weight files")
    return [refs[n] for n in names]


def typical_levels(pid: str, t: torch.Tensor) -> tuple[tuple[float, ...], str]:
    """The levels of a typical block of t in precision pid (levels.quantization_levels)."""
    return quantization_levels(pid, t)
