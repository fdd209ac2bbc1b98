"""Microscaling FP4: MXFP4 (ggml block_mxfp4: E8M0 exponent + 32 E2M1) and NVFP4 (16 E2M1 per E4M3 scale + fp32)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from quantcore.formats.quantized import QuantizedTensor, QuantRequest, padded_blocks, register

if TYPE_CHECKING:
    import torch

MX_BLOCK = 32
NV_BLOCK = 16
E2M1_MAX = 6.0
E4M3_MAX = 448.0
E4M3_TINY = 2.0 ** -6  # torch.finfo(torch.float8_e4m3fn).tiny (torchao's E4M3_EPS)
# E2M1 magnitudes of codes 0..7 (code 8..15: the same, negative)
E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _magnitude_codes(y: torch.Tensor, ties_even: bool) -> torch.Tensor:
    """Index 0..7 of the nearest E2M1 magnitude for y >= 0 (y <= 6). Ties: to the smaller magnitude (ggml's
    first-best search) or to the even code (round to nearest even, torchao)."""
    import torch

    mids = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)
    idx = torch.zeros(y.shape, dtype=torch.uint8)
    for k, m in enumerate(mids):
        upper_on_tie = ties_even and k % 2 == 1  # the code above midpoint k is k+1: even when k is odd
        idx += (y >= m) if upper_on_tie else (y > m)
    return idx


def quantize_mxfp4(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """ggml quantize_row_mxfp4_ref (= gguf.quants.MXFP4): per block of 32, e = floor(log2(amax)) - 2 + 127
    (E8M0), d = 2^(e - 128); each value takes the nearest of d * {0, 1, 2, 3, 4, 6, 8, 12} (ties: the smaller
    magnitude; a value rounding to zero keeps code 0), byte j = code[j] | code[j + 16] << 4. Stored: "weight" uint8
    (*leading, blocks * 17), blocks laid out [e, qs[16]] as in a GGUF file; a partial last block is zero-padded."""
    import numpy as np
    import torch

    x, blocks = padded_blocks(w, MX_BLOCK)
    amax = x.abs().amax(dim=-1)
    with np.errstate(divide="ignore"):  # the exponent exactly as the gguf package computes it (numpy float32 log2)
        a = amax.numpy()
        e_np = np.where(a > 0, np.floor(np.log2(a)) - 2 + 127, 0).astype(np.uint8)
    e = torch.from_numpy(e_np)
    bits = torch.where(e < 2, torch.tensor(0x00200000, dtype=torch.int32) << e.to(torch.int32),
                       (e.to(torch.int32) - 1) << 23)
    d = bits.view(torch.float32)  # e8m0_to_fp32_half
    y = x.abs() / (2 * d[..., None])  # d is a power of two: exact; E2M1 values are half the kvalues
    mag = _magnitude_codes(y, ties_even=False)
    codes = mag + ((x < 0) & (mag > 0)).to(torch.uint8) * 8
    qs = codes[..., :16] | (codes[..., 16:] << 4)
    out = torch.cat([e[..., None], qs], dim=-1).reshape(*w.shape[:-1], blocks * 17)
    return QuantizedTensor(req.precision.id, tuple(w.shape), str(w.dtype).removeprefix("torch."),
                           {"weight": out.contiguous()}, {"ggml_type": "MXFP4"})


def _e2m1_values() -> torch.Tensor:
    import torch

    mags = torch.tensor(E2M1, dtype=torch.float32)
    return torch.cat([mags, -mags])


def dequantize_mxfp4(q: QuantizedTensor) -> torch.Tensor:
    import torch

    cols = q.shape[-1]
    raw = q.stored["weight"].reshape(-1, 17)
    e = raw[:, 0].to(torch.int32)
    bits = torch.where(e < 2, torch.tensor(0x00200000, dtype=torch.int32) << e, (e - 1) << 23)
    d = bits.view(torch.float32) * 2  # E2M1 values are half of ggml's doubled kvalues
    qs = raw[:, 1:].to(torch.int64)
    codes = torch.cat([qs & 0xF, qs >> 4], dim=1)
    vals = _e2m1_values()[codes] * d[:, None]
    rows = q.stored["weight"].reshape(-1, q.stored["weight"].shape[-1]).shape[0]
    return vals.reshape(rows, -1)[:, :cols].reshape(q.shape).contiguous()


def quantize_nvfp4(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """torchao nvfp4_quantize with a per-tensor scale (one per matrix; each expert of a 3-D stack has its own):
    global = amax / (448 * 6); block scale = clamp((block_amax / 6) / global, 2^-6, 448) cast to E4M3;
    x * ((1 / global) / block_scale) clamped to +-6 and rounded to nearest-even E2M1 (sign kept); two codes per
    byte, the first in the low nibble. Stored (ModelOpt / vLLM names): "weight" uint8 (*leading, blocks * 8),
    "weight_scale" float8_e4m3fn (*leading, blocks), "weight_scale_2" float32 (one per matrix: shape () for 2-D,
    (experts,) for 3-D). A partial last block is zero-padded."""
    import torch

    shape = tuple(w.shape)
    mats = 1 if len(shape) == 2 else shape[0]
    x, blocks = padded_blocks(w, NV_BLOCK)
    rows = x.shape[0]
    per = x.view(mats, -1)
    amax = per.abs().amax(dim=1)
    gscale = amax / (E4M3_MAX * E2M1_MAX)
    gscale = torch.where(gscale == 0, torch.ones_like(gscale), gscale)  # an all-zero matrix: any scale works
    g_rows = gscale.repeat_interleave(rows // mats)[:, None]
    block_scale = x.abs().amax(dim=-1) / E2M1_MAX
    s8 = torch.clamp(block_scale / g_rows, min=E4M3_TINY, max=E4M3_MAX).to(torch.float8_e4m3fn)
    recip = (1.0 / g_rows) / s8.to(torch.float32)
    y = torch.clamp(x * recip[..., None], -E2M1_MAX, E2M1_MAX)
    mag = _magnitude_codes(y.abs(), ties_even=True)
    codes = mag | (torch.signbit(y).to(torch.uint8) << 3)
    packed = codes[..., 0::2] | (codes[..., 1::2] << 4)
    lead = shape[:-1]
    stored = {"weight": packed.reshape(*lead, blocks * 8).contiguous(), "weight_scale": s8.reshape(*lead, blocks),
              "weight_scale_2": gscale.reshape(()) if mats == 1 and len(shape) == 2 else gscale}
    return QuantizedTensor(req.precision.id, shape, str(w.dtype).removeprefix("torch."), stored)


def dequantize_nvfp4(q: QuantizedTensor) -> torch.Tensor:
    import torch

    shape = q.shape
    cols = shape[-1]
    mats = 1 if len(shape) == 2 else shape[0]
    packed = q.stored["weight"].reshape(-1, q.stored["weight"].shape[-1]).to(torch.int64)
    rows = packed.shape[0]
    codes = torch.stack([packed & 0xF, packed >> 4], dim=-1).reshape(rows, -1)
    scale = q.stored["weight_scale"].reshape(rows, -1).to(torch.float32)
    g = q.stored["weight_scale_2"].reshape(-1).to(torch.float32).repeat_interleave(rows // mats)[:, None]
    vals = _e2m1_values()[codes].view(rows, -1, NV_BLOCK) * (scale * g)[..., None]
    return vals.reshape(rows, -1)[:, :cols].reshape(shape).contiguous()


register("mxfp4", quantize_mxfp4, dequantize_mxfp4)
register("nvfp4", quantize_nvfp4, dequantize_nvfp4)
