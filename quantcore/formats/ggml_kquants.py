"""llama.cpp's k-quants Q2_K..Q6_K: the reference row quantizers (quantize_row_q*_K_ref) and dequantizers, vectorized.

Each quantizer takes a chunk of 256-weight super-blocks b (float32 (nb, 256)) and writes the raw ggml blocks into
out (uint8 (nb, block bytes)); the scale searches live in ggml_ksearch. Byte layouts follow ggml-common.h.
"""
from __future__ import annotations

import numpy as np

from quantcore.formats.ggml_common import fp16_bytes, fp16_values
from quantcore.formats.ggml_ksearch import (
    F32,
    GROUP_MAX_EPS,
    clamped_levels,
    first_absmax,
    make_q3_quants,
    make_qkx2_quants,
    make_qx_quants,
    nearest_int,
    seq_sum,
)

_SHIFT2 = np.array([0, 2, 4, 6], dtype=np.uint8)


def _columns(b: np.ndarray, n: int) -> np.ndarray:
    """(nb, 256) -> (n, S): sub-block s (of n weights) in column s, so row i holds weight i of every sub-block."""
    return np.ascontiguousarray(b.reshape(-1, n).T)


def _rows(levels: np.ndarray, nb: int) -> np.ndarray:
    """Inverse of _columns for the integer levels: (n, S) float32 -> (nb, 256) uint8."""
    return np.ascontiguousarray(levels.T).reshape(nb, 256).astype(np.uint8)


def _positive_max(v: np.ndarray) -> np.ndarray:
    """max(0, max over axis 1) with a +0.0 start, as `if (s > max) max = s` from max = 0 keeps it."""
    m = v.max(axis=1)
    return np.where(m > 0, m, F32(0)).astype(F32)


def _requantize(x: np.ndarray, levels: np.ndarray, d: np.ndarray, shift: np.ndarray | None, lo: int, hi: int,
                offset: int) -> np.ndarray:
    """Final pass: levels = clamp(nearest_int((x + shift)/d)) + offset where d != 0; elsewhere keep the search's."""
    num = x if shift is None else x + shift
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fresh = clamped_levels(num / d, lo, hi) + F32(offset)
    return np.where(d != 0, fresh, levels)


def _pack_2bit(levels: np.ndarray) -> np.ndarray:
    """(nb, 256) values 0..3 -> 64 bytes: byte 32h + l holds elements 128h + l + 32q at bits 2q."""
    nb = levels.shape[0]
    q = levels.reshape(nb, 2, 4, 32) << _SHIFT2.reshape(1, 1, 4, 1)
    return (q[:, :, 0] | q[:, :, 1] | q[:, :, 2] | q[:, :, 3]).reshape(nb, 64)


def _pack_nibbles(levels: np.ndarray) -> np.ndarray:
    """(nb, 256) values 0..15 -> 128 bytes: byte 32c + l holds element 64c + l (low) and 64c + 32 + l (high)."""
    nb = levels.shape[0]
    q = levels.reshape(nb, 4, 2, 32)
    return (q[:, :, 0] | (q[:, :, 1] << np.uint8(4))).reshape(nb, 128)


def _pack_k4_scales(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """8 six-bit scales and 8 six-bit mins -> the 12 bytes get_scale_min_k4 reads."""
    out = np.empty((ls.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    out[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:8] & 15) | ((lm[:, 4:8] & 15) << 4)
    return out


# -- quantizers --------------------------------------------------------------------------------------------------

def quantize_q6_k(b: np.ndarray, out: np.ndarray) -> None:
    nb = b.shape[0]
    x = _columns(b, 16)
    L, scales = make_qx_quants(x, 32)
    amax, smax = first_absmax(scales.reshape(nb, 16).T)
    zero = amax < GROUP_MAX_EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = F32(-128) / smax
        d = (F32(1) / iscale).astype(F32)
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales.reshape(nb, 16)))
    sc = (((sc + 128) & 255) - 128).astype(np.int8)
    d16 = fp16_bytes(np.where(zero, F32(0), d))
    dsub = (fp16_values(d16)[:, None] * sc.astype(F32)).reshape(-1)
    L = _rows(_requantize(x, L, dsub, None, -32, 31, 32), nb)
    lq = L.reshape(nb, 2, 4, 32)
    low = lq & np.uint8(15)
    ql = (low[:, :, 0:2] | (low[:, :, 2:4] << np.uint8(4))).reshape(nb, 128)
    hb = (lq >> np.uint8(4)) << _SHIFT2.reshape(1, 1, 4, 1)
    qh = (hb[:, :, 0] | hb[:, :, 1] | hb[:, :, 2] | hb[:, :, 3]).reshape(nb, 64)
    out[:, 0:128] = ql
    out[:, 128:192] = qh
    out[:, 192:208] = sc.view(np.uint8)
    out[:, 208:210] = d16
    out[zero] = 0


def quantize_q3_k(b: np.ndarray, out: np.ndarray) -> None:
    nb = b.shape[0]
    x = _columns(b, 16)
    L, scales = make_q3_quants(x, 4)
    _, smax = first_absmax(scales.reshape(nb, 16).T)
    some = smax != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = F32(-32) / smax
        d = np.where(some, F32(1) / iscale, F32(0)).astype(F32)
    li = ((nearest_int(iscale[:, None] * scales.reshape(nb, 16)) + 128) & 255) - 128  # the int8_t cast
    lv = np.where(some[:, None], np.clip(li, -32, 31) + 32, 0).astype(np.uint8)
    d16 = fp16_bytes(d)
    dsub = (fp16_values(d16)[:, None] * (lv.astype(F32) - F32(32))).reshape(-1)
    L = _rows(_requantize(x, L, dsub, None, -4, 3, 4), nb)
    high = L.reshape(nb, 8, 32) > 3
    hmask = np.zeros((nb, 32), dtype=np.uint8)
    for bit in range(8):
        hmask |= high[:, bit].astype(np.uint8) << np.uint8(bit)
    out[:, 0:32] = hmask
    out[:, 32:96] = _pack_2bit(L & np.uint8(3))
    out[:, 96:104] = (lv[:, 0:8] & 15) | ((lv[:, 8:16] & 15) << 4)
    hi2 = (lv >> 4).reshape(nb, 4, 4) << _SHIFT2.reshape(1, 4, 1)
    out[:, 104:108] = hi2[:, 0] | hi2[:, 1] | hi2[:, 2] | hi2[:, 3]
    out[:, 108:110] = d16


def quantize_q2_k(b: np.ndarray, out: np.ndarray) -> None:
    nb = b.shape[0]
    x = _columns(b, 16)
    L, scales, mins = make_qkx2_quants(x, np.abs(x), 3, -0.5, 0.1, 15, True)
    sc, mn = scales.reshape(nb, 16), mins.reshape(nb, 16)
    max_scale, max_min = _positive_max(sc), _positive_max(mn)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls = np.where(max_scale[:, None] > 0, nearest_int((F32(15) / max_scale)[:, None] * sc), 0)
        lm = np.where(max_min[:, None] > 0, nearest_int((F32(15) / max_min)[:, None] * mn) << 4, 0)
    packed = ((ls | lm) & 255).astype(np.uint8)
    d16 = fp16_bytes(max_scale / F32(15))
    dmin16 = fp16_bytes(max_min / F32(15))
    dsub = (fp16_values(d16)[:, None] * (packed & 15).astype(F32)).reshape(-1)
    msub = (fp16_values(dmin16)[:, None] * (packed >> 4).astype(F32)).reshape(-1)
    L = _rows(_requantize(x, L, dsub, msub, 0, 3, 0), nb)
    out[:, 0:16] = packed
    out[:, 16:80] = _pack_2bit(L)
    out[:, 80:82] = d16
    out[:, 82:84] = dmin16


def _affine_k(b: np.ndarray, nmax: int, rmin: float, nstep: int) -> tuple[np.ndarray, ...]:
    """Q4_K / Q5_K shared part: levels (nb, 256) uint8, packed scales, d and dmin half bytes."""
    nb = b.shape[0]
    x = _columns(b, 32)
    av_x = np.sqrt(seq_sum(x * x) / F32(32))
    L, scales, mins = make_qkx2_quants(x, av_x + np.abs(x), nmax, rmin, 0.1, nstep, False)
    sc, mn = scales.reshape(nb, 8), mins.reshape(nb, 8)
    max_scale, max_min = _positive_max(sc), _positive_max(mn)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0)).astype(F32)
        inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0)).astype(F32)
    ls = np.minimum(nearest_int(inv_scale[:, None] * sc) & 255, 63).astype(np.uint8)
    lm = np.minimum(nearest_int(inv_min[:, None] * mn) & 255, 63).astype(np.uint8)
    d16 = fp16_bytes(max_scale / F32(63))
    dmin16 = fp16_bytes(max_min / F32(63))
    dsub = (fp16_values(d16)[:, None] * ls.astype(F32)).reshape(-1)
    msub = (fp16_values(dmin16)[:, None] * lm.astype(F32)).reshape(-1)
    L = _rows(_requantize(x, L, dsub, msub, 0, nmax, 0), nb)
    return L, _pack_k4_scales(ls, lm), d16, dmin16


def quantize_q4_k(b: np.ndarray, out: np.ndarray) -> None:
    L, scales, d16, dmin16 = _affine_k(b, 15, -1.0, 20)
    out[:, 0:2] = d16
    out[:, 2:4] = dmin16
    out[:, 4:16] = scales
    out[:, 16:144] = _pack_nibbles(L)


def quantize_q5_k(b: np.ndarray, out: np.ndarray) -> None:
    nb = b.shape[0]
    L, scales, d16, dmin16 = _affine_k(b, 31, -0.5, 15)
    hb = (L >> np.uint8(4)).reshape(nb, 8, 32)
    qh = np.zeros((nb, 32), dtype=np.uint8)
    for bit in range(8):  # element 64c + 32h + l sets bit 2c + h of byte l
        qh |= hb[:, bit] << np.uint8(bit)
    out[:, 0:2] = d16
    out[:, 2:4] = dmin16
    out[:, 4:16] = scales
    out[:, 16:48] = qh
    out[:, 48:176] = _pack_nibbles(L & np.uint8(15))


# -- dequantizers (dequantize_row_q*_K) ---------------------------------------------------------------------------

def _per16(v: np.ndarray) -> np.ndarray:
    """(nb, 16) per-sub-block values -> (nb, 256) by repeating each 16 times."""
    return np.repeat(v, 16, axis=1)


def _unpack_2bit(qs: np.ndarray) -> np.ndarray:
    nb = qs.shape[0]
    return ((qs.reshape(nb, 2, 1, 32) >> _SHIFT2.reshape(1, 1, 4, 1)) & np.uint8(3)).reshape(nb, 256)


def _unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    nb = qs.shape[0]
    q = qs.reshape(nb, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    return (q & np.uint8(15)).reshape(nb, 256)


def _k4_scales(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """get_scale_min_k4 for j = 0..7: (scales, mins) as float32 (nb, 8)."""
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc.astype(F32), mn.astype(F32)


def dequantize_q2_k(raw: np.ndarray) -> np.ndarray:
    s = raw[:, 0:16]
    d, dmin = fp16_values(raw[:, 80:82])[:, None], fp16_values(raw[:, 82:84])[:, None]
    dl, ml = d * (s & 15).astype(F32), dmin * (s >> 4).astype(F32)
    return _per16(dl) * _unpack_2bit(raw[:, 16:80]).astype(F32) - _per16(ml)


def dequantize_q3_k(raw: np.ndarray) -> np.ndarray:
    nb = raw.shape[0]
    s = raw[:, 96:108]
    low = np.concatenate([s[:, 0:8] & 15, s[:, 0:8] >> 4], axis=1)
    high = ((s[:, 8:12].reshape(nb, 1, 4) >> _SHIFT2.reshape(1, 4, 1)) & 3).reshape(nb, 16)
    dl = fp16_values(raw[:, 108:110])[:, None] * ((low | (high << 4)).astype(F32) - F32(32))
    hbit = (raw[:, None, 0:32] >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 1  # (nb, 8, 32)
    q = _unpack_2bit(raw[:, 32:96]).astype(F32) - F32(4) * (1 - hbit.reshape(nb, 256)).astype(F32)
    return _per16(dl) * q


def _dequantize_affine_k(raw: np.ndarray, q: np.ndarray) -> np.ndarray:
    sc, mn = _k4_scales(raw[:, 4:16])
    d1 = np.repeat(fp16_values(raw[:, 0:2])[:, None] * sc, 32, axis=1)
    m1 = np.repeat(fp16_values(raw[:, 2:4])[:, None] * mn, 32, axis=1)
    return d1 * q - m1


def dequantize_q4_k(raw: np.ndarray) -> np.ndarray:
    return _dequantize_affine_k(raw, _unpack_nibbles(raw[:, 16:144]).astype(F32))


def dequantize_q5_k(raw: np.ndarray) -> np.ndarray:
    nb = raw.shape[0]
    hbit = (raw[:, None, 16:48] >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 1  # element 32k + l: bit k
    q = _unpack_nibbles(raw[:, 48:176]) + (hbit.reshape(nb, 256) << np.uint8(4))
    return _dequantize_affine_k(raw, q.astype(F32))


def dequantize_q6_k(raw: np.ndarray) -> np.ndarray:
    nb = raw.shape[0]
    ql = raw[:, 0:128].reshape(nb, 2, 1, 2, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1, 1)
    low = (ql & np.uint8(15)).reshape(nb, 2, 4, 32)
    high = (raw[:, 128:192].reshape(nb, 2, 1, 32) >> _SHIFT2.reshape(1, 1, 4, 1)) & np.uint8(3)
    q = (low | (high << np.uint8(4))).reshape(nb, 256).astype(F32) - F32(32)
    dl = fp16_values(raw[:, 208:210])[:, None] * raw[:, 192:208].view(np.int8).astype(F32)
    return _per16(dl) * q
