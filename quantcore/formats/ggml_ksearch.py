"""The scale searches of llama.cpp's k-quants (ggml-quants.c make_qx/make_q3/make_qkx2_quants), vectorized, bit-exact.

Every function works on many sub-blocks at once: X has shape (n, S), one sub-block of n weights per column, so that
X[i] is weight i of every sub-block. All arithmetic is float32 in the C code's order: sums are accumulated one
weight after the other (never pairwise), products keep the C expression's association, and nearest_int is the C
function itself (the 1.5 * 2^23 trick, including what it returns for arguments beyond 2^22).
"""
from __future__ import annotations

import numpy as np

F32 = np.float32
_MAGIC = F32(12582912.0)  # 1.5 * 2^23
GROUP_MAX_EPS = F32(1e-15)


def nearest_int(v: np.ndarray) -> np.ndarray:
    """ggml's nearest_int: round half to even through the float32 add of 1.5 * 2^23, as int32."""
    s = np.asarray(v, dtype=F32) + _MAGIC
    return (s.view(np.int32) & 0x007FFFFF) - 0x00400000


def clamped_levels(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """MAX(lo, MIN(hi, nearest_int(v))) as float32 levels."""
    n = nearest_int(v)
    np.minimum(n, hi, out=n)
    np.maximum(n, lo, out=n)
    return n.astype(F32)


def fast_levels(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamped_levels for arguments known to be NaN or within +-2^22, where nearest_int is round-half-even (np.rint).

    Only the search loops use it, on sub-blocks whose scale is finite (|v| <= nmax + 1 there); NaN stays NaN (its
    sub-block's result is discarded by the caller).
    """
    r = np.rint(v)
    np.minimum(r, F32(hi), out=r)
    np.maximum(r, F32(lo), out=r)
    return r.astype(F32, copy=False)


def seq_sum(p: np.ndarray) -> np.ndarray:
    """sum over axis 0 accumulated in order from 0.0f, as the C loops `s += p[i]` do.

    numpy reduces a non-contiguous (outer) axis row after row, never pairwise; a test pins the order.
    """
    return np.add.reduce(p, axis=0, initial=F32(0))


def first_absmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(amax, max): largest |x| over axis 0 and the signed value it came from (the first one on ties)."""
    ax = np.abs(x)
    idx = ax.argmax(axis=0)
    cols = np.arange(x.shape[1])
    return ax[idx, cols], x[idx, cols]


def make_qx_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL): (levels 0..2*nmax-1 as float32 (n, S), scales (S,))."""
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    w = x * x
    wx = w * x
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = F32(-nmax) / mx  # finite wherever the sub-block is not all zero (amax >= 1e-15)
        lv = fast_levels(iscale * x, -nmax, nmax - 1)
        L = lv + F32(nmax)
        sumlx = seq_sum(wx * lv)
        suml2 = seq_sum((w * lv) * lv)
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0)).astype(F32)
        best = scale * sumlx
        for step in range(-9, 10):
            if step == 0:
                continue
            iscale = -(F32(nmax) + F32(0.1) * F32(step)) / mx
            lv = fast_levels(iscale * x, -nmax, nmax - 1)
            sumlx = seq_sum(wx * lv)
            suml2 = seq_sum((w * lv) * lv)
            better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
            if better.any():
                L = np.where(better, lv + F32(nmax), L)
                scale = np.where(better, sumlx / suml2, scale).astype(F32)
                best = np.where(better, scale * sumlx, best).astype(F32)
    L = np.where(zero, F32(0), L)
    scale = np.where(zero, F32(0), scale).astype(F32)
    return L, scale


def make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """make_q3_quants(n, nmax, x, L, do_rmse=true): the iterative per-weight refinement, up to 5 sweeps.

    A sub-block whose sweep changed nothing would change nothing in the next one either (its state is the same), so
    each sweep visits only the sub-blocks the previous one changed: the C code's early exit, per sub-block.
    """
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    w = x * x
    wx = w * x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = F32(-nmax) / mx
        L = fast_levels(iscale * x, -nmax, nmax - 1)
        sumlx = seq_sum(wx * L)
        suml2 = seq_sum((w * L) * L)
        active = np.arange(x.shape[1])
        for _ in range(5):
            sub = _q3_sweep(x[:, active], w[:, active], wx[:, active], L[:, active], sumlx[active],
                            suml2[active], nmax)
            L[:, active], sumlx[active], suml2[active] = sub[0], sub[1], sub[2]
            active = active[sub[3]]
            if not active.size:
                break
        scale = np.where(suml2 > 0, sumlx / suml2, F32(0)).astype(F32)
    L = np.where(zero, F32(0), L + F32(nmax))
    scale = np.where(zero, F32(0), scale).astype(F32)
    return L, scale


def _q3_sweep(x: np.ndarray, w: np.ndarray, wx: np.ndarray, L: np.ndarray, sumlx: np.ndarray, suml2: np.ndarray,
              nmax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass of make_q3_quants' `for (i...)` loop over the given sub-blocks: (L, sumlx, suml2, changed)."""
    changed = np.zeros(x.shape[1], dtype=bool)
    for i in range(x.shape[0]):
        li, wi, wxi = L[i], w[i], wx[i]
        slx = sumlx - wxi * li
        sl2 = suml2 - (wi * li) * li
        new_l = clamped_levels((x[i] * sl2) / slx, -nmax, nmax - 1)
        cand = (slx > 0) & (new_l != li)
        slx = slx + wxi * new_l
        sl2 = sl2 + (wi * new_l) * new_l
        take = cand & (sl2 > 0) & ((slx * slx) * suml2 > (sumlx * sumlx) * sl2)
        if take.any():
            changed |= take
            L[i] = np.where(take, new_l, li)
            sumlx = np.where(take, slx, sumlx).astype(F32)
            suml2 = np.where(take, sl2, suml2).astype(F32)
    return L, sumlx, suml2, changed


def make_qkx2_quants(x: np.ndarray, weights: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int,
                     use_mad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """make_qkx2_quants: affine levels 0..nmax with a min, searched over nstep+1 scales.

    Returns (levels as float32 (n, S), scales (S,), the_min (S,) = -min >= 0).
    """
    n = x.shape[0]
    w = weights
    xmin = x.min(axis=0)
    lo = np.minimum(xmin, F32(0))
    hi = x.max(axis=0)
    sum_w = w[0].copy()
    sum_x = sum_w * x[0]
    for i in range(1, n):
        sum_w += w[i]
        sum_x += w[i] * x[i]
    flat = hi == lo

    def error(scale: np.ndarray, levels: np.ndarray, mn: np.ndarray) -> np.ndarray:
        diff = (scale * levels + mn) - x
        return seq_sum(w * (np.abs(diff) if use_mad else diff * diff))

    def levels(iscale: np.ndarray, mn: np.ndarray) -> np.ndarray:
        v = iscale * (x - mn)
        bound = np.abs(iscale) * np.maximum(hi - mn, mn - xmin)  # >= |v| (flat sub-blocks are discarded)
        if (bound[~flat] < 2.0 ** 22).all():
            return fast_levels(v, 0, nmax)
        return clamped_levels(v, 0, nmax)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = F32(nmax) / (hi - lo)
        scale = (F32(1) / iscale).astype(F32)
        L = levels(iscale, lo)
        best = error(scale, L, lo)
        for step in range(nstep + 1):
            iscale = (F32(rmin) + F32(rdelta) * F32(step) + F32(nmax)) / (hi - lo)
            aux = levels(iscale, lo)
            wl = w * aux
            sum_l = seq_sum(wl)
            sum_l2 = seq_sum(wl * aux)
            sum_xl = seq_sum(wl * x)
            D = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            clamp = this_min > 0
            if clamp.any():
                this_min = np.where(clamp, F32(0), this_min).astype(F32)
                this_scale = np.where(clamp, sum_xl / sum_l2, this_scale).astype(F32)
            cur = error(this_scale, aux, this_min)
            better = (D > 0) & (cur < best) & ~flat
            if better.any():
                L = np.where(better, aux, L)
                best = np.where(better, cur, best).astype(F32)
                scale = np.where(better, this_scale, scale).astype(F32)
                lo = np.where(better, this_min, lo).astype(F32)
    L = np.where(flat, F32(0), L)
    scale = np.where(flat, F32(0), scale).astype(F32)
    return L, scale, -lo
