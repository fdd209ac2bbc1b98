"""Binary weights: sign x per-block fp16 scale (ggml's Q1_0 block of 128). Ternary (TQ1_0) is in gguf_codec."""
from __future__ import annotations

from typing import TYPE_CHECKING

from quantcore.formats.quantized import QuantizedTensor, QuantRequest, padded_blocks, register

if TYPE_CHECKING:
    import torch

Q1_BLOCK = 128  # ggml QK1_0
Q1_BYTES = 18  # fp16 d + 16 bytes of sign bits


def quantize_binary(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """ggml quantize_row_q1_0_ref: per block of 128, d = mean|x| (stored fp16; summed pairwise here where ggml sums
    sequentially, so d can differ in the last fp16 bit), bit j = 1 where x_j >= 0 (LSB first, 16 bytes);
    value = +d or -d. Stored: "weight" uint8 (*leading, blocks * 18), each block [d fp16 little-endian, qs[16]];
    a partial last block is zero-padded (its padding counts in the mean, as a padded ggml row would)."""
    import torch

    x, n = padded_blocks(w, Q1_BLOCK)
    d = (x.abs().sum(dim=-1) / Q1_BLOCK).to(torch.float16)
    bits = (x >= 0).to(torch.uint8).view(x.shape[0], n, 16, 8)
    qs = (bits << torch.arange(8, dtype=torch.uint8)).sum(-1, dtype=torch.uint8)
    raw = torch.cat([d.view(torch.uint8).reshape(x.shape[0], n, 2), qs], dim=-1)
    out = raw.reshape(*w.shape[:-1], n * Q1_BYTES).contiguous()
    return QuantizedTensor(req.precision.id, tuple(w.shape), str(w.dtype).removeprefix("torch."),
                           {"weight": out}, {"ggml_type": "Q1_0"})


def dequantize_binary(q: QuantizedTensor) -> torch.Tensor:
    import torch

    cols = q.shape[-1]
    raw = q.stored["weight"].reshape(-1, Q1_BYTES)
    d = raw[:, :2].contiguous().view(torch.float16).to(torch.float32)  # (blocks, 1)
    bits = (raw[:, 2:, None] >> torch.arange(8, dtype=torch.uint8)) & 1
    vals = torch.where(bits.reshape(-1, Q1_BLOCK).bool(), d, -d)
    rows = q.stored["weight"].reshape(-1, q.stored["weight"].shape[-1]).shape[0]
    return vals.reshape(rows, -1)[:, :cols].reshape(q.shape).contiguous()


register("binary", quantize_binary, dequantize_binary)
