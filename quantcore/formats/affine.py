"""The int family (int4-g128, int3-g128, int2-g64, int<b>-g<n>): affine integers per group along the input dimension,
torchao's choose_qparams_affine / quantize_affine formulas, bit-packed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from quantcore.formats import native
from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register

if TYPE_CHECKING:
    import torch

FP32_SMALLEST_NORMAL = 1.1754943508222875e-38  # torchao's default eps for float32 input


def scale_dtype(bits: int) -> torch.dtype:
    """bf16 for 4-bit (torchao Int4WeightOnlyConfig), fp16 for the other widths (the catalog's 2-byte scale)."""
    import torch

    return torch.bfloat16 if bits == 4 else torch.float16


def _group_minmax(x: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (row, group) min and max over the real elements (a partial last group over its own elements), read in
    float32 chunks of rows (any float dtype in; min and max are exact in any dtype)."""
    import torch

    rows, cols = x.shape
    full = cols // group * group
    step = max(1, (1 << 18) // cols)
    mins, maxs = [], []
    for r in range(0, rows, step):
        c = x[r:r + step].to(torch.float32)
        mn, mx = torch.aminmax(c[:, :full].reshape(c.shape[0], -1, group), dim=-1)
        if full < cols:
            rmn, rmx = torch.aminmax(c[:, full:], dim=-1)
            mn, mx = torch.cat([mn, rmn[:, None]], 1), torch.cat([mx, rmx[:, None]], 1)
        mins.append(mn)
        maxs.append(mx)
    return torch.cat(mins), torch.cat(maxs)


def qparams(x: torch.Tensor, bits: int, group: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale in the stored dtype, integer zero point as float32) per (row, group) of float32 x (rows, cols).

    Asymmetric (default), torchao choose_qparams_affine(ASYMMETRIC, quant_min=0, quant_max=2^b-1,
    scale_dtype=stored dtype): scale = (max(max, 0) - min(min, 0)) / (2^b - 1) clamped to the fp32 smallest normal,
    zero = clamp(0 - round(min(min, 0) / scale), 0, 2^b - 1).
    Symmetric (the seed texts'): scale = max|x| / (2^(b-1) - 1), q = round(x / scale) in +-(2^(b-1) - 1), stored as
    q + 2^(b-1) with zero point 2^(b-1)."""
    import torch

    mn, mx = _group_minmax(x, group)
    qmax = 2 ** bits - 1
    if symmetric:
        scale = torch.maximum(-mn, mx) / float(2 ** (bits - 1) - 1)
        scale = torch.clamp(scale, min=FP32_SMALLEST_NORMAL)
        zero = torch.full_like(scale, float(2 ** (bits - 1)))
    else:
        mn_neg = torch.minimum(mn, torch.zeros_like(mn))
        mx_pos = torch.maximum(mx, torch.zeros_like(mx))
        scale = torch.clamp((mx_pos - mn_neg) / float(qmax), min=FP32_SMALLEST_NORMAL)
        zero = torch.clamp(0 - torch.round(mn_neg / scale), 0, qmax)
    return scale.to(scale_dtype(bits)), zero


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """uint8 codes (..., n) with n*bits % 8 == 0 -> bytes (..., n*bits/8), LSB first (code j at bits j*b...)."""
    import torch

    if bits == 8:
        return codes.contiguous()
    per = 8 // bits if 8 % bits == 0 else 0
    if per:
        c = codes.reshape(*codes.shape[:-1], -1, per).to(torch.uint8)
        out = c[..., 0].clone()
        for k in range(1, per):
            out |= c[..., k] << (k * bits)
        return out
    shifts = torch.arange(bits, dtype=torch.uint8)
    bitplanes = (codes.unsqueeze(-1) >> shifts) & 1  # (..., n, bits)
    bitplanes = bitplanes.reshape(*codes.shape[:-1], -1, 8)
    return (bitplanes << torch.arange(8, dtype=torch.uint8)).sum(-1, dtype=torch.uint8)


def unpack_codes(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Inverse of pack_codes: bytes (..., n*bits/8) -> codes (..., n) as int64."""
    import torch

    if bits == 8:
        return packed.to(torch.int64)
    per = 8 // bits if 8 % bits == 0 else 0
    if per:
        shifts = torch.arange(0, 8, bits, dtype=torch.uint8)
        return ((packed.unsqueeze(-1) >> shifts) & (2 ** bits - 1)).reshape(*packed.shape[:-1], n).to(torch.int64)
    bitplanes = (packed.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
    bitplanes = bitplanes.reshape(*packed.shape[:-1], n, bits).to(torch.int64)
    return (bitplanes << torch.arange(bits)).sum(-1)


def _codes_torch(x: torch.Tensor, inv: torch.Tensor, zero: torch.Tensor, group: int, qmin: float,
                 qmax: float) -> torch.Tensor:
    import torch

    rows, cols = x.shape
    groups = inv.shape[1]
    padded = torch.nn.functional.pad(x, (0, groups * group - cols)).view(rows, groups, group)
    q = torch.clamp(torch.round(padded * inv[..., None]) + zero[..., None], qmin, qmax).to(torch.uint8)
    if groups * group > cols:  # padding positions hold code 0
        q.view(rows, -1)[:, cols:] = 0
    return q


def quantize_affine(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """Stored: "weight_packed" uint8 (*leading, groups * group*bits/8), "weight_scale" and "weight_zero_point"
    (*leading, groups) in bf16 (4-bit) or fp16; dequantized = (code - zero) * scale. Codes are
    clamp(round(x * (1 / scale)) + zero), the reciprocal taken in the scale's dtype as torchao computes it."""
    import torch

    bits, group = int(req.layout.bits), int(req.layout.group or 128)
    symmetric = bool(req.option("symmetric", False))
    shape = tuple(w.shape)
    cols = shape[-1]
    lib = native.library()
    bf16_in = lib is not None and w.dtype == torch.bfloat16  # the C loop reads bf16 itself: no float32 copy
    x = w.reshape(-1, cols)
    x = x.contiguous() if bf16_in else x.to(torch.float32).contiguous()
    scale, zero = qparams(x, bits, group, symmetric)
    inv = (1.0 / scale).to(torch.float32).contiguous()
    zero = zero.to(torch.float32).contiguous()
    qmin, qmax = (1.0 if symmetric else 0.0), float(2 ** bits - 1)
    groups = scale.shape[1]
    if lib is not None and group <= 1024:
        packed = torch.empty((x.shape[0], groups * group * bits // 8), dtype=torch.uint8)
        lib.qp_affine(x.data_ptr(), int(bf16_in), x.shape[0], cols, group, bits, inv.data_ptr(), zero.data_ptr(), qmin, qmax,
                      packed.data_ptr())
    else:
        x = x.to(torch.float32)
        packed = pack_codes(_codes_torch(x, inv, zero, group, qmin, qmax), bits).reshape(x.shape[0], -1)
    lead = shape[:-1]
    stored = {"weight_packed": packed.reshape(*lead, -1), "weight_scale": scale.reshape(*lead, groups),
              "weight_zero_point": zero.to(scale.dtype).reshape(*lead, groups)}
    meta = {"bits": bits, "group_size": group, "symmetric": symmetric}
    return QuantizedTensor(req.precision.id, shape, str(w.dtype).removeprefix("torch."), stored, meta)


def dequantize_affine(q: QuantizedTensor) -> torch.Tensor:
    import torch

    bits, group = int(q.meta["bits"]), int(q.meta["group_size"])
    cols = q.shape[-1]
    scale = q.stored["weight_scale"].to(torch.float32)
    zero = q.stored["weight_zero_point"].to(torch.float32)
    groups = scale.shape[-1]
    packed = q.stored["weight_packed"].reshape(-1, groups, group * bits // 8)
    codes = unpack_codes(packed, bits, group).to(torch.float32)
    out = (codes - zero.reshape(-1, groups, 1)) * scale.reshape(-1, groups, 1)
    return out.reshape(-1, groups * group)[:, :cols].reshape(q.shape).contiguous()


register("affine", quantize_affine, dequantize_affine, options=("symmetric",))
