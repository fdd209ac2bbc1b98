"""Q8_0 and Q4_0 rows, byte-identical to ggml's reference: one fused C pass (formats/_native.c) where it compiled,
else torch (few passes over memory, one thread).

Rounding: C roundf(v) (half away from zero) equals trunc(v + copysign(0.49999997f, v)) for every float32 |v| <= 128
(checked exhaustively over every float32 in [0, 128], negatives by symmetry; 0.5f itself would round 0.49999997f up
to 1), and the int8 conversion truncates, so Q8_0 takes one add and one conversion.

Threads: these kernels are memory-bound; torch's intra-op threads gain little on an idle machine and lose up to 10x
when the cores are busy (every op waits at a barrier), so they run on one thread (set for the call, then restored).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from quantcore.errors import BadInputError
from quantcore.formats.ggml_common import as_float_rows

if TYPE_CHECKING:
    import torch

_CHUNK = 1 << 18  # weights per step: ~1 MB of float32, split over torch's threads
_HALF_DOWN = 0.49999997  # the float32 just below 0.5


@contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _blocks(x: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    b = torch.from_numpy(x).reshape(-1, 32)
    return b, torch.empty((b.shape[0], size), dtype=torch.uint8)


def _inverse(d: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.where(d == 0, torch.zeros_like(d), 1.0 / d)


def _half_bytes(d: torch.Tensor) -> torch.Tensor:
    import torch

    return d.to(torch.float16).view(torch.uint8).reshape(-1, 2)


def direct_rows(rows: Any) -> Any:
    """rows as the C loops read them: a 2-D torch bf16 tensor stays bf16 (widened exactly per block inside the loop,
    no float32 copy of the whole tensor) when the library is there; anything else becomes float32 numpy rows."""
    from quantcore.formats import native

    if getattr(rows, "dtype", None) is not None and str(rows.dtype) == "torch.bfloat16" and rows.dim() == 2 \
            and native.library() is not None:
        return rows.detach().to("cpu").contiguous()
    return as_float_rows(rows)


def _native(x: Any, kernel: str, size: int) -> np.ndarray | None:
    """The C loop `kernel` over float32 numpy rows or bf16 torch rows; None when the library is not there."""
    from quantcore.formats import native

    lib = native.library()
    if lib is None:
        return None
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(x, dtype=np.float32)
        bf16, data = 0, x.ctypes.data
    else:
        bf16, data = 1, native.ptr(x)
    nb = math.prod(x.shape) // 32
    out = np.empty((nb, size), dtype=np.uint8)
    if getattr(lib, kernel)(data, bf16, nb, out.ctypes.data):
        raise BadInputError("holds NaN or Inf values; a quantized format cannot store them")
    return out.reshape(x.shape[0], -1)


def checks_finite(type_name: str) -> bool:
    """True when quantize_rows(type_name) refuses NaN / Inf itself (the C loops test each block as they go)."""
    from quantcore.formats import native

    return type_name in ("Q8_0", "Q4_0") and native.library() is not None


def quantize(type_name: str, x: Any) -> np.ndarray:
    """Q8_0 or Q4_0 blocks of rows (float32 numpy, or bf16 torch from direct_rows): the C loop where it compiled,
    else the torch chunks on one thread."""
    kernel, size, chunks = _PATHS[type_name]
    fast = _native(x, kernel, size)
    if fast is not None:
        return fast
    x = as_float_rows(x)
    b, out = _blocks(x, size)
    with _one_thread():
        chunks(b, out, _CHUNK // 32)
    return out.numpy().reshape(x.shape[0], -1)


def _q8_0_chunks(b: torch.Tensor, out: torch.Tensor, step: int) -> None:
    """quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d) (x * (1/d), as the reference multiplies)."""
    import torch

    half = torch.tensor(_HALF_DOWN, dtype=torch.float32)
    for s in range(0, b.shape[0], step):
        c = b[s:s + step]
        lo, hi = torch.aminmax(c, dim=1)
        d = torch.maximum(hi, -lo).abs_() / 127  # abs_: +0.0 for an all-zero block, as MAX(0.0f, ...)
        v = c * _inverse(d)[:, None]
        v += torch.copysign(half, v)
        out[s:s + step, 2:] = v.to(torch.int8).view(torch.uint8)
        out[s:s + step, :2] = _half_bytes(d)


def _signed_absmax(c: torch.Tensor) -> torch.Tensor:
    """The weight of largest magnitude with its sign, the first one on ties, +0.0 for an all-zero block (C loop)."""
    import torch

    lo, hi = torch.aminmax(c, dim=1)
    amax = torch.maximum(hi, -lo)
    mx = torch.where(hi > -lo, hi, lo)
    tie = torch.nonzero((hi == -lo) & (amax > 0)).reshape(-1)
    if tie.numel():
        rows = c[tie]
        first = (rows.abs() == amax[tie][:, None]).to(torch.uint8).argmax(dim=1)
        mx[tie] = rows.gather(1, first[:, None]).reshape(-1)
    return torch.where(amax == 0, torch.zeros_like(mx), mx)


def _q4_0_chunks(b: torch.Tensor, out: torch.Tensor, step: int) -> None:
    """quantize_row_q4_0_ref: d = max / -8 (max: the signed absmax), q = min(15, (int)(x / d + 8.5))."""
    import torch

    for s in range(0, b.shape[0], step):
        c = b[s:s + step]
        d = _signed_absmax(c) / -8
        v = c * _inverse(d)[:, None]
        v += 8.5
        q = v.to(torch.uint8).clamp_max_(15)
        out[s:s + step, 2:] = q[:, :16] | (q[:, 16:] << 4)
        out[s:s + step, :2] = _half_bytes(d)


_PATHS: dict[str, tuple[str, int, Callable[[Any, Any, int], None]]] = {
    "Q8_0": ("qp_q8_0", 34, _q8_0_chunks), "Q4_0": ("qp_q4_0", 18, _q4_0_chunks)}
