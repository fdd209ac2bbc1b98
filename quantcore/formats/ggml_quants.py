"""llama.cpp's ggml block types as pure numpy functions: float rows to raw blocks and raw blocks back to float."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from quantcore.errors import BadInputError
from quantcore.formats import ggml_kquants as k
from quantcore.formats.ggml_common import BLOCKS, QK_K, as_float_rows, fp16_bytes, fp16_values, round_away

__all__ = ["BLOCKS", "QK_K", "as_float_rows", "dequantize_rows", "fp16_bytes", "fp16_values", "quantize_rows",
           "round_away", "row_bytes"]

# Blocks handled per numpy call: big enough to amortize the call, small enough to stay in cache.
_CHUNK_WEIGHTS = 1 << 17


def row_bytes(type_name: str, cols: int) -> int:
    """Bytes of one row of `cols` weights in a ggml type (cols a multiple of the block)."""
    block, size = _layout(type_name)
    if cols % block:
        raise BadInputError(f"a row of {cols} weights is not a whole number of {type_name} blocks of {block}")
    return cols // block * size


def _layout(type_name: str) -> tuple[int, int]:
    got = BLOCKS.get(type_name)
    if got is None:
        raise BadInputError(f"ggml type {type_name} has no quantizer here; known: {' '.join(BLOCKS)}")
    return got


def _inverse(d: np.ndarray) -> np.ndarray:
    """1/d with 0 where d == 0 (the references' `id = d ? 1.0f/d : 0.0f`)."""
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def _signed_absmax(b: np.ndarray) -> np.ndarray:
    """Per block, the value of largest magnitude with its sign (first one on ties, as the C loop keeps it)."""
    idx = np.abs(b).argmax(axis=1)
    return b[np.arange(b.shape[0]), idx]


# -- 32-weight blocks (bit-identical to gguf.quants, which matches ggml-quants.c; Q8_0, Q4_0 in ggml_fast) ------

def _nibbles(q: np.ndarray) -> np.ndarray:
    """32 values 0..15 per block -> 16 bytes: low nibble element j, high nibble element j + 16."""
    return q[:, :16] | (q[:, 16:] << np.uint8(4))


def _high_bits(q: np.ndarray) -> np.ndarray:
    """Bit 4 of each of 32 values -> 4 bytes, element j at bit j (little-endian uint32)."""
    return np.packbits((q >> np.uint8(4)) & np.uint8(1), axis=1, bitorder="little")


def _q4_1(b: np.ndarray, out: np.ndarray) -> None:
    lo, hi = b.min(axis=1), b.max(axis=1)
    d = (hi - lo) / np.float32(15)
    q = np.trunc((b - lo[:, None]) * _inverse(d)[:, None] + np.float32(0.5)).astype(np.uint8)
    np.minimum(q, np.uint8(15), out=q)
    out[:, :2] = fp16_bytes(d)
    out[:, 2:4] = fp16_bytes(lo)
    out[:, 4:] = _nibbles(q)


def _q5_0(b: np.ndarray, out: np.ndarray) -> None:
    d = _signed_absmax(b) / np.float32(-16)
    q = np.trunc(b * _inverse(d)[:, None] + np.float32(16.5)).astype(np.uint8)
    np.minimum(q, np.uint8(31), out=q)
    out[:, :2] = fp16_bytes(d)
    out[:, 2:6] = _high_bits(q)
    out[:, 6:] = _nibbles(q & np.uint8(15))


def _q5_1(b: np.ndarray, out: np.ndarray) -> None:
    lo, hi = b.min(axis=1), b.max(axis=1)
    d = (hi - lo) / np.float32(31)
    q = np.trunc((b - lo[:, None]) * _inverse(d)[:, None] + np.float32(0.5)).astype(np.uint8)
    np.minimum(q, np.uint8(31), out=q)
    out[:, :2] = fp16_bytes(d)
    out[:, 2:4] = fp16_bytes(lo)
    out[:, 4:8] = _high_bits(q)
    out[:, 8:] = _nibbles(q & np.uint8(15))


# -- ternary: TQ1_0 (256 trits in 54 bytes) ----------------------------------------------------------------------

_POW3_5 = np.array([81, 27, 9, 3, 1], dtype=np.uint16)
_POW3_4 = np.array([81, 27, 9, 3], dtype=np.uint16)


def _tq1_0(b: np.ndarray, out: np.ndarray) -> None:
    n = b.shape[0]
    d = np.abs(b).max(axis=1)
    t = (round_away(b * _inverse(d)[:, None]) + np.float32(1)).astype(np.uint16)  # -1, 0, 1 -> 0, 1, 2
    # 5 trits per byte: bytes 0..31 take elements m + 32n (n = 0..4), bytes 32..47 take 160 + m + 16n,
    # bytes 48..51 take 240 + m + 4n (4 trits, shifted once more); the most significant trit comes first.
    q0 = np.einsum("bnm,n->bm", t[:, :160].reshape(n, 5, 32), _POW3_5)
    q1 = np.einsum("bnm,n->bm", t[:, 160:240].reshape(n, 5, 16), _POW3_5)
    qh = np.einsum("bnm,n->bm", t[:, 240:].reshape(n, 4, 4), _POW3_4)
    q = np.concatenate([q0, q1, qh], axis=1)
    out[:, :52] = ((q * 256 + 242) // 243).astype(np.uint8)  # ceiling division: trits as a fraction of 243
    out[:, 52:] = fp16_bytes(d)


def _dq_tq1_0(raw: np.ndarray) -> np.ndarray:
    n = raw.shape[0]
    d = fp16_values(raw[:, 52:])
    pow5 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)
    q0 = (raw[:, None, :32] * pow5[None, :, None]).reshape(n, 160)
    q1 = (raw[:, None, 32:48] * pow5[None, :, None]).reshape(n, 80)
    qh = (raw[:, None, 48:52] * pow5[None, :4, None]).reshape(n, 16)
    q = np.concatenate([q0, q1, qh], axis=1)  # uint8 products wrap mod 256 as in the C code
    t = ((q.astype(np.uint16) * 3) >> 8).astype(np.float32) - np.float32(1)
    return d[:, None] * t


# -- dequantizers of the 32-weight blocks ------------------------------------------------------------------------

def _unnibble(qs: np.ndarray) -> np.ndarray:
    return np.concatenate([qs & np.uint8(15), qs >> np.uint8(4)], axis=1)


def _unhigh(qh: np.ndarray) -> np.ndarray:
    return np.unpackbits(qh, axis=1, bitorder="little") << np.uint8(4)


def _dq_q8_0(raw: np.ndarray) -> np.ndarray:
    return fp16_values(raw[:, :2])[:, None] * raw[:, 2:].view(np.int8).astype(np.float32)


def _dq_q4_0(raw: np.ndarray) -> np.ndarray:
    q = _unnibble(raw[:, 2:]).astype(np.float32) - np.float32(8)
    return fp16_values(raw[:, :2])[:, None] * q


def _dq_q4_1(raw: np.ndarray) -> np.ndarray:
    q = _unnibble(raw[:, 4:]).astype(np.float32)
    return fp16_values(raw[:, :2])[:, None] * q + fp16_values(raw[:, 2:4])[:, None]


def _dq_q5_0(raw: np.ndarray) -> np.ndarray:
    q = (_unnibble(raw[:, 6:]) | _unhigh(raw[:, 2:6])).astype(np.float32) - np.float32(16)
    return fp16_values(raw[:, :2])[:, None] * q


def _dq_q5_1(raw: np.ndarray) -> np.ndarray:
    q = (_unnibble(raw[:, 8:]) | _unhigh(raw[:, 4:8])).astype(np.float32)
    return fp16_values(raw[:, :2])[:, None] * q + fp16_values(raw[:, 2:4])[:, None]


# -- dispatch ----------------------------------------------------------------------------------------------------

BlockQuantizer = Callable[[np.ndarray, np.ndarray], None]  # (blocks float32 (n, B), out uint8 (n, bytes))
BlockDequantizer = Callable[[np.ndarray], np.ndarray]  # raw uint8 (n, bytes) -> float32 (n, B)


_QUANTIZERS: dict[str, BlockQuantizer] = {
    "Q4_1": _q4_1, "Q5_0": _q5_0, "Q5_1": _q5_1, "TQ1_0": _tq1_0, "Q2_K": k.quantize_q2_k, "Q3_K": k.quantize_q3_k,
    "Q4_K": k.quantize_q4_k, "Q5_K": k.quantize_q5_k, "Q6_K": k.quantize_q6_k,
}
_DEQUANTIZERS: dict[str, BlockDequantizer] = {
    "Q8_0": _dq_q8_0, "Q4_0": _dq_q4_0, "Q4_1": _dq_q4_1, "Q5_0": _dq_q5_0, "Q5_1": _dq_q5_1, "TQ1_0": _dq_tq1_0,
    "Q2_K": k.dequantize_q2_k, "Q3_K": k.dequantize_q3_k, "Q4_K": k.dequantize_q4_k, "Q5_K": k.dequantize_q5_k,
    "Q6_K": k.dequantize_q6_k,
}


def quantize_rows(type_name: str, rows: Any) -> np.ndarray:
    """Rows of float weights (n, k) -> raw ggml blocks, uint8 (n, row_bytes); F32/F16 are plain casts.

    Bit-identical to llama.cpp's reference row quantizers (quantize_row_*_ref) and to gguf.quants where that has one.
    """
    if type_name in ("Q8_0", "Q4_0"):  # the hot paths: one C pass (bf16 read as it is), else torch
        from quantcore.formats import ggml_fast

        x = ggml_fast.direct_rows(rows)
        row_bytes(type_name, x.shape[1])
        return ggml_fast.quantize(type_name, x)
    x = as_float_rows(rows)
    n, cols = x.shape
    size = row_bytes(type_name, cols)
    if type_name == "F32":
        return x.view(np.uint8).reshape(n, size)
    if type_name == "F16":
        return x.astype("<f2").view(np.uint8).reshape(n, size)
    block, bsize = BLOCKS[type_name]
    fn = _QUANTIZERS[type_name]
    out = np.empty((n, size), dtype=np.uint8)
    blocks, raw = x.reshape(-1, block), out.reshape(-1, bsize)
    step = max(1, _CHUNK_WEIGHTS // block)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for s in range(0, blocks.shape[0], step):
            fn(blocks[s:s + step], raw[s:s + step])
    return out


def dequantize_rows(type_name: str, raw: Any, shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """Raw ggml blocks (any uint8 array holding whole rows) -> float32 array of `shape` (last dim = row length)."""
    shape = tuple(int(s) for s in shape)
    data = np.ascontiguousarray(np.asarray(raw if isinstance(raw, np.ndarray) else raw.numpy())).view(np.uint8)
    cols = shape[-1] if shape else 1
    n = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    size = row_bytes(type_name, cols)
    if data.size != n * size:
        raise BadInputError(f"{data.size} bytes do not hold a {type_name} tensor of shape {shape} ({n * size} bytes)")
    if type_name == "F32":
        return data.view("<f4").astype(np.float32).reshape(shape)
    if type_name == "F16":
        return data.view("<f2").astype(np.float32).reshape(shape)
    block, bsize = BLOCKS[type_name]
    fn = _DEQUANTIZERS[type_name]
    blocks = data.reshape(-1, bsize)
    out = np.empty((blocks.shape[0], block), dtype=np.float32)
    step = max(1, _CHUNK_WEIGHTS // block)
    for s in range(0, blocks.shape[0], step):
        out[s:s + step] = fn(blocks[s:s + step])
    return out.reshape(shape)
