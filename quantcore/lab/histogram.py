"""Weight histograms computed streaming, in bounded memory, over one tensor, a layer or a whole model."""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, QuantPlannerError

if TYPE_CHECKING:
    import torch

    from quantcore.sources.tensors import TensorRef

FINE_BINS = 8192  # the running histogram: a power of two, symmetric around 0, doubled in range as values grow
CHUNK_ELEMENTS = 1 << 23  # rows are read in chunks of about this many values (32 MiB as float32)
PERCENTILES = (0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9)
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
_CODE_KINDS: dict[Any, str] = {}  # torch dtype -> "bf16" / "f16", filled on first use (torch imports lazily)


class CancelledError(QuantPlannerError):
    """The caller's cancel event was set."""


@dataclass(frozen=True)
class Histogram:
    """Counts of `bins` equal bins from `edges[0]` to `edges[-1]`, exact summary statistics, percentiles
    (interpolated on a 8192-bin running histogram: within (max|x|) / 4096 of the exact value) and, when asked for a
    precision, the quantization levels of a typical block to draw over it."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    total: int
    minimum: float
    maximum: float
    mean: float
    std: float
    percentiles: dict[str, float]
    tensors: tuple[str, ...]
    levels: tuple[float, ...] = ()
    levels_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"tensors": list(self.tensors), "total": self.total, "min": self.minimum, "max": self.maximum,
                "mean": self.mean, "std": self.std, "percentiles": self.percentiles, "edges": list(self.edges),
                "counts": list(self.counts), "levels": list(self.levels), "levels_note": self.levels_note}


class StreamingHistogram:
    """Accumulates values chunk by chunk; memory is the fine histogram (64 KiB), one chunk and, for bf16 / fp16
    input, a table of counts per bit pattern (512 KiB each)."""

    def __init__(self) -> None:
        import torch

        self.fine = torch.zeros(FINE_BINS, dtype=torch.float64)
        self.radius = 0.0  # fine bins cover [-radius, radius]; a power of two once data arrives
        self.n = 0
        self.s1 = 0.0
        self.s2 = 0.0
        self.lo = math.inf
        self.hi = -math.inf
        self.codes: dict[str, torch.Tensor] = {}  # bf16 / f16: counts per bit pattern, folded in by settle()

    def add(self, x: torch.Tensor) -> None:
        x = x.reshape(-1)
        if x.numel() == 0:
            return
        if not (self._count_codes(x) or self._add_native(x)):
            self._add_torch(x)

    def _add_torch(self, x: torch.Tensor) -> None:
        """The reference path (no C compiler, or a dtype the C loops do not take): torch passes over the chunk."""
        import torch

        if x.dtype != torch.float32:
            x = x.to(torch.float32)
        lo, hi = torch.aminmax(x)
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise BadInputError(f"{int((~torch.isfinite(x)).sum()):,} NaN/Inf values in the weights")
        self._cover(max(abs(lo), abs(hi)))
        # bin = floor(x * B / 2r) + B / 2: x * (B / 2r) is exact (a power of two), so a value's bin does not depend
        # on the range the histogram had when it arrived (the fused C pass and the 16-bit fold bin the same way)
        idx = (torch.floor(x * (FINE_BINS / (2 * self.radius))) + FINE_BINS // 2).clamp_(0, FINE_BINS - 1)
        idx = idx.to(torch.int64)
        self.fine += torch.bincount(idx, minlength=FINE_BINS).to(torch.float64)
        self.n += x.numel()
        self.s1 += float(x.sum(dtype=torch.float64))
        self.s2 += float(torch.linalg.vector_norm(x, dtype=torch.float64)) ** 2
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)

    def _add_native(self, x: torch.Tensor) -> bool:
        """The same sums, range and bins in one fused C pass over a float32 or bf16 chunk (formats/_native.c);
        False when the compiled library is not there (the torch path runs)."""
        import ctypes

        import torch

        from quantcore.formats import native

        lib = native.library()
        if lib is None or x.dtype not in (torch.float32, torch.bfloat16):
            return False
        x = x.contiguous()
        stats = (ctypes.c_double * 5)()
        counts = torch.zeros(FINE_BINS, dtype=torch.int64)

        def run() -> int:
            scale = FINE_BINS / (2 * self.radius) if self.radius else 0.0
            return int(lib.qp_hist(native.ptr(x), int(x.dtype == torch.bfloat16), x.numel(), self.radius, scale,
                                   FINE_BINS, native.ptr(counts), stats))

        outside = run()
        if stats[4]:
            raise BadInputError(f"{int(stats[4]):,} NaN/Inf values in the weights")
        lo, hi = float(stats[2]), float(stats[3])
        if outside or self.radius == 0.0:  # the range must grow (or start) before these values can be binned
            self._cover(max(abs(lo), abs(hi)))
            counts.zero_()
            run()
        self.fine += counts.to(torch.float64)
        self.n += x.numel()
        self.s1 += float(stats[0])
        self.s2 += float(stats[1])
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        return True

    def _count_codes(self, x: torch.Tensor) -> bool:
        """bf16 / fp16 values counted per bit pattern in one C pass (one increment per value); their sums, range and
        bins come exactly from the 65,536 counts in settle(). False when the compiled library is not there."""
        import torch

        from quantcore.formats import native

        if not _CODE_KINDS:
            _CODE_KINDS.update({torch.bfloat16: "bf16", torch.float16: "f16"})
        kind = _CODE_KINDS.get(x.dtype)
        lib = native.library() if kind else None
        if lib is None or kind is None:
            return False
        x = x.contiguous()
        table = self.codes.get(kind)
        if table is None:
            table = self.codes[kind] = torch.zeros(65536, dtype=torch.int64)
        for i in range(0, x.numel(), CHUNK_ELEMENTS):  # the C counters are 32-bit per call
            part = x[i:i + CHUNK_ELEMENTS]
            if lib.qp_count16(native.ptr(part), part.numel(), native.ptr(table)) != 0:
                self.n += i  # no memory for the C tables (nothing of this part was counted): the rest goes on
                if not self._add_native(x[i:]):
                    self._add_torch(x[i:])
                break
        else:
            self.n += x.numel()
        bad = int(table[_decoded(kind)[1]].sum())
        if bad:
            raise BadInputError(f"{bad:,} NaN/Inf values in the weights")
        return True

    def settle(self) -> None:
        """Fold the 16-bit pattern counts into the sums, range and fine bins (exactly: each pattern's value once,
        times its count), and empty them; result() calls it."""
        import torch

        for kind, table in self.codes.items():
            idx = torch.nonzero(table).reshape(-1)
            if idx.numel() == 0:
                continue
            values = _decoded(kind)[0][idx]
            counts = table[idx].to(torch.float64)
            self.s1 += float((values * counts).sum())
            self.s2 += float((values * values * counts).sum())
            lo, hi = float(values.min()), float(values.max())
            self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
            self._cover(max(abs(lo), abs(hi)))
            scale = FINE_BINS / (2 * self.radius)
            bins = (torch.floor(values * scale) + FINE_BINS // 2).clamp_(0, FINE_BINS - 1).to(torch.int64)
            self.fine.index_add_(0, bins, counts)
            table.zero_()

    def _cover(self, amax: float) -> None:
        """Double the range (merging bin pairs into the middle half) until it holds amax strictly inside."""
        import torch

        if self.radius == 0.0:
            self.radius = 2.0 ** math.ceil(math.log2(amax)) if amax > 0 else 2.0 ** -24
            if self.radius <= amax:
                self.radius *= 2
            return
        while self.radius <= amax:
            merged = self.fine.view(-1, 2).sum(dim=1)
            new = torch.zeros_like(self.fine)
            q = FINE_BINS // 4
            new[q:3 * q] = merged
            self.fine = new
            self.radius *= 2

    def result(self, bins: int, tensors: Iterable[str]) -> Histogram:
        import torch

        self.settle()
        if self.n == 0:
            raise BadInputError("no float values to make a histogram of")
        lo, hi = self.lo, self.hi
        if hi <= lo:
            hi = lo + 1e-12
        width = 2 * self.radius / FINE_BINS
        centers = -self.radius + width * (torch.arange(FINE_BINS, dtype=torch.float64) + 0.5)
        idx = torch.clamp(((centers - lo) / (hi - lo) * bins).floor().long(), 0, bins - 1)
        counts = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, self.fine)
        edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
        mean = self.s1 / self.n
        var = max(self.s2 / self.n - mean * mean, 0.0)
        cum = torch.cumsum(self.fine, 0)
        pct = {}
        for p in PERCENTILES:
            target = p / 100 * self.n
            k = int(torch.searchsorted(cum, torch.tensor([target], dtype=torch.float64))[0].clamp(max=FINE_BINS - 1))
            before = float(cum[k - 1]) if k > 0 else 0.0
            inside = float(self.fine[k])
            frac = (target - before) / inside if inside > 0 else 0.5
            value = -self.radius + width * (k + frac)
            pct[f"p{p:g}"] = min(max(value, lo), hi)
        return Histogram(tuple(float(e) for e in edges), tuple(int(round(float(c))) for c in counts), self.n, lo,
                         self.hi, mean, math.sqrt(var), pct, tuple(tensors))


_DECODED: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _decoded(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every 16-bit pattern of `kind` as its float64 value (finite ones) and the indices of the NaN/Inf ones."""
    if kind not in _DECODED:
        import numpy as np
        import torch

        bits = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.int16))
        values = bits.view(torch.bfloat16 if kind == "bf16" else torch.float16).to(torch.float64)
        finite = torch.isfinite(values)
        _DECODED[kind] = (torch.where(finite, values, 0.0), torch.nonzero(~finite).reshape(-1))
    return _DECODED[kind]


def histogram_of_tensor(t: torch.Tensor, bins: int = 64, name: str = "tensor") -> Histogram:
    h = StreamingHistogram()
    flat = t.reshape(-1)
    for i in range(0, flat.numel(), CHUNK_ELEMENTS):
        h.add(flat[i:i + CHUNK_ELEMENTS])
    return h.result(bins, (name,))


def histogram_of_model(path: Path, patterns: list[str] | None = None, bins: int = 64,
                       progress: Callable[[str, float], None] | None = None,
                       cancel: threading.Event | None = None) -> Histogram:
    """One histogram over the float tensors of a .safetensors file / folder or .gguf that match `patterns` (all when
    None; a pattern like 'layers.3.' takes a layer). Safetensors are read through mmap in row chunks (every float
    dtype: F32, F16, BF16, F8_E4M3, F8_E5M2); GGUF tensors are dequantized one at a time by the gguf package."""
    from quantcore.sources.tensors import list_tensors, select

    if not 1 <= bins <= 100_000:
        raise BadInputError(f"--bins {bins} must be between 1 and 100000")
    refs = [r for r in select(list_tensors(path), patterns) if _is_float(r)]
    if not refs:
        raise BadInputError(f"{path}: no float tensors to make a histogram of")
    total = sum(r.numel for r in refs) or 1
    h = StreamingHistogram()
    done = 0
    for r in refs:
        if cancel is not None and cancel.is_set():
            raise CancelledError("histogram cancelled")
        for chunk in row_chunks(r):
            h.add(chunk)
        done += r.numel
        if progress is not None:
            progress(r.name, done / total)
    return h.result(bins, tuple(r.name for r in refs))


def _is_float(r: TensorRef) -> bool:
    if r.file.suffix.lower() == ".gguf":
        return r.dtype not in ("I8", "I16", "I32", "I64")
    return r.dtype in _FLOAT_DTYPES


def row_chunks(r: TensorRef) -> Iterable[torch.Tensor]:
    """A tensor's values in chunks of whole rows of about CHUNK_ELEMENTS (a GGUF or 1-D tensor: whole)."""
    if r.file.suffix.lower() == ".gguf" or len(r.shape) < 2:
        yield r.load()
        return
    per_row = max(1, r.numel // r.shape[0])
    step = max(1, CHUNK_ELEMENTS // per_row)
    for start in range(0, r.shape[0], step):
        yield r.load_rows(start, min(r.shape[0], start + step))
