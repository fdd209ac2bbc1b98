"""Relative rounding noise of a precision on Gaussian weights: where its bits, block size and data type put it.

The k-bit inference scaling laws (Dettmers & Zettlemoyer, arXiv 2212.09720) find that only the bit width, the
block size and the data type move a format along the accuracy-per-bit curve. This module measures exactly those
three things the same way for every format: it rounds a fixed N(0, 1) sample (16 rows of 4096, the catalog's
reference matrix width) the way the format's layout does (absmax or min-max scale per block or row, integer,
float or code-book grid) and returns ||x - q(x)||^2 / ||x||^2. It is a statistical model of the rounding (no bit
packing, no calibration such as GPTQ / AWQ / llama.cpp's scale search), so it is an estimate, flagged as such by
its callers. Pure numpy, cached per format; no torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from quantcore.errors import UnknownPrecisionError
from quantcore.formats import catalog
from quantcore.formats.bnb import FP4_RAW, NF4_RAW
from quantcore.formats.layout import REFERENCE_COLS
from quantcore.formats.microscaling import E2M1

ROWS, COLS = 16, REFERENCE_COLS
SEED = 0


@dataclass(frozen=True)
class Rounding:
    """How a format rounds one weight matrix: kind of grid, bits, weights per scale (None: one per row)."""

    # exact, affine, minmax, symmetric, symneg, codebook-nf4, codebook-fp4, fp8, mx, nv, ternary, binary
    kind: str
    bits: int = 16
    group: int | None = None
    flat: bool = False  # blocks run over the flattened tensor (bitsandbytes), not along rows

    def describe(self) -> str:
        where = ("per row" if self.group is None else
                 f"per block of {self.group}" + (" (flattened)" if self.flat else ""))
        return f"{self.kind} {self.bits}-bit {where}"


# ggml block structures (ggml-common.h): bits of the values, weights per (sub-)block scale, and how the scale maps.
# Q4_0/Q5_0/Q3_K/Q6_K: d = (signed value of largest |x|) / -2^(b-1), q = round(x/d) + 2^(b-1) clamped (symneg);
# Q8_0: d = max|x| / 127 (symmetric); Q4_1/Q5_1: x ~ d q + min over the block's own min and max (minmax);
# Q2_K/Q4_K/Q5_K: a scale and a min per sub-block with the min clamped to <= 0 (affine).
# The k-quants' 6-bit (Q2_K: 4-bit) sub-scales and llama.cpp's scale search (make_qkx2_quants) are not modelled.
GGML_ROUNDING: dict[str, Rounding] = {
    "Q8_0": Rounding("symmetric", 8, 32), "Q4_0": Rounding("symneg", 4, 32), "Q5_0": Rounding("symneg", 5, 32),
    "Q4_1": Rounding("minmax", 4, 32), "Q5_1": Rounding("minmax", 5, 32), "Q2_K": Rounding("affine", 2, 16),
    "Q3_K": Rounding("symneg", 3, 16), "Q4_K": Rounding("affine", 4, 32), "Q5_K": Rounding("affine", 5, 32),
    "Q6_K": Rounding("symneg", 6, 16), "MXFP4": Rounding("mx", 4, 32), "TQ1_0": Rounding("ternary", 2, 256),
    "TQ2_0": Rounding("ternary", 2, 256), "Q1_0": Rounding("binary", 1, 128),
    "F32": Rounding("exact", 32), "F16": Rounding("exact", 16), "BF16": Rounding("exact", 16),
}


def ggml_rounding(type_name: str) -> Rounding:
    """The rounding of a ggml tensor type; an unknown quantized type (i-quants, ...) as min-max rounding at its
    storage bits (from gguf.GGML_QUANT_SIZES) in blocks of 32."""
    got = GGML_ROUNDING.get(type_name)
    if got is not None:
        return got
    from quantcore.formats.gguf_mix import block_layout

    block, size = block_layout(type_name)
    return Rounding("affine", max(1, int(8 * size / block)), 32)


def rounding_of(pid: str) -> Rounding:
    """The rounding of a catalog precision (for a GGUF mixture: its base tensor type)."""
    p = catalog.get_precision(pid)
    lay = catalog.layout(p.id)
    codec = lay.codec_name
    if lay.scheme == "dense":
        return Rounding("exact", int(lay.bits))
    if lay.scheme == "gguf":
        return ggml_rounding(lay.ggml_type or "F16")
    if codec == "fp8":
        return Rounding("fp8", 8, None)
    if codec == "int8":
        return Rounding("symmetric", 8, None)
    if lay.scheme == "bnb4":
        return Rounding("codebook-nf4" if p.id == "nf4" else "codebook-fp4", 4, lay.group, flat=True)
    if codec in ("mxfp4", "nvfp4"):
        return Rounding("mx" if codec == "mxfp4" else "nv", 4, lay.group)
    if codec in ("ternary", "binary"):
        return Rounding(codec, 2 if codec == "ternary" else 1, lay.group)
    return Rounding("affine", int(lay.bits), lay.group)  # gptq, awq, int family: min-max with a zero-point


def parse_rounding(spec: str) -> Rounding:
    """A rounding written in quality.toml: a precision id, 'ggml:<TYPE>', or 'affine:<bits>:<group|row>'."""
    if spec.startswith("ggml:"):
        return ggml_rounding(spec[5:])
    if spec.startswith(("affine:", "symmetric:")):
        kind, bits, group = spec.split(":")
        return Rounding(kind, int(bits), None if group == "row" else int(group))
    try:
        return rounding_of(spec)
    except UnknownPrecisionError:
        raise UnknownPrecisionError(f"quality data: unknown rounding '{spec}'") from None


# -- grids ----------------------------------------------------------------------------------------------------------

@cache
def e4m3_values() -> np.ndarray:
    """Every finite E4M3FN value (sign, 4 exponent bits with bias 7, 3 mantissa bits; max 448), sorted."""
    mags = [m / 8 * 2.0 ** -6 for m in range(8)]
    mags += [(1 + m / 8) * 2.0 ** (e - 7) for e in range(1, 16) for m in range(8) if not (e == 15 and m == 7)]
    return np.unique(np.array([s * v for v in mags for s in (1.0, -1.0)]))


def _signed(mags: tuple[float, ...] | list[float]) -> np.ndarray:
    return np.unique(np.array([s * v for v in mags for s in (1.0, -1.0)], dtype=np.float64))


def _nearest(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each value of y moved to the nearest value of the sorted grid (values beyond the ends saturate)."""
    mids = (grid[1:] + grid[:-1]) / 2
    return grid[np.searchsorted(mids, y)]


@cache
def _code(name: str) -> np.ndarray:
    raw = np.array(NF4_RAW if name == "nf4" else FP4_RAW, dtype=np.float64)
    return np.unique(raw / np.abs(raw).max())


# -- rounding a sample -------------------------------------------------------------------------------------------

def _blocks(x: np.ndarray, r: Rounding) -> np.ndarray:
    if r.flat:
        return x.reshape(-1, r.group)
    return x if r.group is None else x.reshape(-1, r.group)


def _safe(s: np.ndarray) -> np.ndarray:
    return np.where(s > 0, s, 1.0)


def rounded(x: np.ndarray, r: Rounding) -> np.ndarray:
    """x (rows x cols, cols a multiple of the group) rounded as r rounds it."""
    if r.kind == "exact":
        return x
    b = _blocks(x, r)
    amax = np.abs(b).max(axis=1, keepdims=True)
    if r.kind == "affine":  # min-max with a zero-point (torchao / GPTQ quantizer: the range always holds 0)
        lo, hi = np.minimum(b.min(axis=1, keepdims=True), 0), np.maximum(b.max(axis=1, keepdims=True), 0)
        levels = 2 ** r.bits - 1
        s = _safe((hi - lo) / levels)
        zero = np.round(-lo / s)
        y = (np.clip(np.round(b / s) + zero, 0, levels) - zero) * s
    elif r.kind == "minmax":  # ggml Q4_1 / Q5_1: d = (max - min) / (2^b - 1), q = round((x - min) / d), x ~ d q + min
        lo, hi = b.min(axis=1, keepdims=True), b.max(axis=1, keepdims=True)
        levels = 2 ** r.bits - 1
        d = _safe((hi - lo) / levels)
        y = np.clip(np.round((b - lo) / d), 0, levels) * d + lo
    elif r.kind == "symmetric":  # q = round(x / s), s = max|x| / (2^(b-1) - 1)
        s = _safe(amax / (2 ** (r.bits - 1) - 1))
        y = np.round(b / s) * s
    elif r.kind == "symneg":  # ggml: d = (signed value of the largest |x|) / -2^(b-1)
        half = 2 ** (r.bits - 1)
        idx = np.abs(b).argmax(axis=1)[:, None]
        d = np.take_along_axis(b, idx, axis=1) / -half
        d = np.where(d != 0, d, 1.0)
        y = (np.clip(np.round(b / d) + half, 0, 2 * half - 1) - half) * d
    elif r.kind.startswith("codebook"):  # bitsandbytes: x / absmax to the nearest of 16 code values
        s = _safe(amax)
        y = _nearest(b / s, _code(r.kind.split("-")[1])) * s
    elif r.kind == "fp8":  # one fp32 scale per row, s = max|x| / 448, values cast to E4M3
        s = _safe(amax / 448.0)
        y = _nearest(b / s, e4m3_values()) * s
    elif r.kind == "mx":  # OCP MX: X = 2^(floor(log2 max|x|) - 2) (E8M0), elements E2M1, saturating at 6
        s = np.exp2(np.floor(np.log2(_safe(amax))) - 2)
        y = _nearest(b / s, _signed(E2M1)) * s
    elif r.kind == "nv":  # NVFP4: s = max|x| / 6 stored in E4M3 under one fp32 tensor scale
        g = float(np.abs(x).max()) / (448.0 * 6.0)
        s = _nearest(amax / 6.0 / g, e4m3_values()) * g
        s = _safe(s)
        y = _nearest(b / s, _signed(E2M1)) * s
    elif r.kind == "ternary":  # ggml TQ1_0 / TQ2_0: d = max|x|, q in {-1, 0, 1}
        s = _safe(amax)
        y = np.clip(np.round(b / s), -1, 1) * s
    elif r.kind == "binary":  # sign times the block's mean |x|
        y = np.where(b >= 0, 1.0, -1.0) * np.abs(b).mean(axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown rounding kind {r.kind}")
    return y.reshape(x.shape)


@cache
def _sample() -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((ROWS, COLS))


@cache
def relative_noise(r: Rounding) -> float:
    """||x - q(x)||^2 / ||x||^2 of r on the reference N(0, 1) sample (0 for exact formats)."""
    if r.kind == "exact":
        return 0.0
    x = _sample()
    if r.group is not None and COLS % r.group:
        raise ValueError(f"block of {r.group} does not divide the reference width {COLS}")
    e = rounded(x, r) - x
    return float((e * e).sum() / (x * x).sum())


def sqnr_db(noise: float) -> float:
    """Signal-to-quantization-noise ratio in dB of a relative noise power."""
    return math.inf if noise <= 0 else -10.0 * math.log10(noise)
