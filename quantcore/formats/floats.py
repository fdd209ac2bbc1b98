"""Float codecs: plain casts (fp32 / fp16 / bf16) and FP8 E4M3FN with one fp32 scale per output row (torchao)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register

if TYPE_CHECKING:
    import torch

FP8_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
_CHUNK_ELEMENTS = 1 << 18  # rows are quantized in chunks of about this many elements (temporaries stay in cache)


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def quantize_cast(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """fp32 / fp16 / bf16: the tensor cast (round to nearest even), stored as "weight"."""
    import torch

    target = {32: torch.float32, 16: torch.bfloat16 if req.precision.id == "bf16" else torch.float16}[
        int(req.layout.bits)]
    out = w.to(target)
    if out.data_ptr() == w.data_ptr():
        out = out.clone()
    return QuantizedTensor(req.precision.id, tuple(w.shape), _dtype_name(w), {"weight": out})


def dequantize_cast(q: QuantizedTensor) -> torch.Tensor:
    import torch

    return q.stored["weight"].to(torch.float32)


def quantize_fp8(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """torchao Float8WeightOnlyConfig, PerRow: scale = amax(|row|) / 448 computed in the weight's dtype (then fp32),
    q = clamp(w / scale, -448, 448) cast to float8_e4m3fn (round to nearest even). Stored as "weight" (fp8, the
    weight's shape) and "weight_scale" (fp32, one per output row: shape[:-1] + (1,)).
    An all-zero row gets scale 0 and zeros (torchao would divide 0 by 0)."""
    import torch

    cols = w.shape[-1]
    rows2d = w.reshape(-1, cols)
    out = torch.empty(rows2d.shape, dtype=torch.float8_e4m3fn)
    scale = torch.empty((rows2d.shape[0], 1), dtype=torch.float32)
    step = max(1, _CHUNK_ELEMENTS // cols)
    for r in range(0, rows2d.shape[0], step):
        chunk = rows2d[r:r + step].to(torch.float32, copy=True)  # divided in place below: never the caller's
        # amax of the weight's own values (exact in its dtype), divided by 448 in that dtype as torchao does
        s = (chunk.abs().amax(dim=1, keepdim=True).to(w.dtype) / FP8_MAX).to(torch.float32)
        scale[r:r + step] = s
        chunk /= torch.where(s == 0, torch.ones_like(s), s)
        out[r:r + step] = chunk.clamp_(-FP8_MAX, FP8_MAX)
    stored = {"weight": out.reshape(w.shape), "weight_scale": scale.reshape(*w.shape[:-1], 1)}
    return QuantizedTensor(req.precision.id, tuple(w.shape), _dtype_name(w), stored)


def dequantize_fp8(q: QuantizedTensor) -> torch.Tensor:
    import torch

    return q.stored["weight"].to(torch.float32) * q.stored["weight_scale"]


register("cast", quantize_cast, dequantize_cast)
register("fp8", quantize_fp8, dequantize_fp8)
