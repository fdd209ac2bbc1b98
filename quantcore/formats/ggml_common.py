"""What every ggml block type shares: block sizes, half-precision scale bytes, C rounding, float rows."""
from __future__ import annotations

from typing import Any

import numpy as np

from quantcore.errors import BadInputError

QK_K = 256  # weights per super-block of the k-quants and ternary types

# type -> (weights per block, bytes per block); equal to gguf.GGML_QUANT_SIZES (a test checks it)
BLOCKS: dict[str, tuple[int, int]] = {
    "F32": (1, 4), "F16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22),
    "Q5_1": (32, 24), "TQ1_0": (256, 54), "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144),
    "Q5_K": (256, 176), "Q6_K": (256, 210),
}


def as_float_rows(rows: Any) -> np.ndarray:
    """A 2-D C-contiguous float32 numpy array from a numpy array or a torch tensor (any float dtype)."""
    if not isinstance(rows, np.ndarray):  # a torch tensor: go through float32 on the CPU
        import torch

        rows = rows.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
    arr = np.ascontiguousarray(rows, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise BadInputError(f"quantize_rows takes 2-D rows, got shape {tuple(arr.shape)}")
    return arr


def fp16_bytes(d: np.ndarray) -> np.ndarray:
    """(n,) float32 -> (n, 2) little-endian IEEE half bytes, round to nearest even (= ggml_compute_fp32_to_fp16)."""
    return d.astype("<f2").view(np.uint8).reshape(-1, 2)


def fp16_values(raw: np.ndarray) -> np.ndarray:
    """(n, 2) bytes of little-endian halves -> (n,) float32."""
    return np.ascontiguousarray(raw).view("<f2").reshape(-1).astype(np.float32)


def round_away(v: np.ndarray) -> np.ndarray:
    """C roundf (half away from zero) of float32 values, exactly; returns float32."""
    t = np.trunc(v)
    frac = v - t  # exact
    t += (frac >= 0.5).astype(np.float32)
    t -= (frac <= -0.5).astype(np.float32)
    return t
