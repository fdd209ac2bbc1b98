"""The values a precision can represent in a typical block of a tensor: the grid to draw over its histogram."""
from __future__ import annotations

from typing import TYPE_CHECKING

from quantcore.formats import catalog

if TYPE_CHECKING:
    import torch


def _median_block(t: torch.Tensor, block: int | None, stat: str = "absmax") -> float:
    """The median over blocks of `block` values along the rows (None: whole rows) of max|x| (or mean|x|)."""
    import torch

    cols = t.shape[-1]
    x = t.reshape(-1, cols).to(torch.float32)
    if block is not None and cols % block == 0:
        x = x.reshape(-1, block)
    a = x.abs()
    v = a.amax(dim=1) if stat == "absmax" else a.mean(dim=1)
    return float(v.median())


def _grid(values: list[float] | torch.Tensor, scale: float) -> tuple[float, ...]:
    return tuple(sorted({round(float(v) * scale, 12) for v in values}))


def quantization_levels(precision_id: str, t: torch.Tensor) -> tuple[tuple[float, ...], str]:
    """(levels, note): the representable values of `precision_id` in the block of `t` whose scale is the median
    (block formats have one grid per block; this is the typical one). Float formats return no grid."""
    import torch

    p = catalog.get_precision(precision_id)
    lay = catalog.layout(p.id)
    codec = lay.codec_name
    if codec == "cast" or t.dim() < 2:
        return (), f"{p.id}: a float format (or a tensor it keeps): no level grid"
    note = f"{p.id}: levels of the block with the median scale"
    if codec == "fp8":
        vals = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
        vals = vals[torch.isfinite(vals)]
        return _grid(vals, _median_block(t, None) / 448.0), note + " (one scale per row)"
    if codec == "int8":
        return _grid(range(-127, 128), _median_block(t, None) / 127), note + " (one scale per row)"
    if codec == "bnb4":
        from quantcore.formats.bnb import code4

        flat = t.reshape(-1)
        n = flat.numel() // 64 * 64
        scale = float(flat[:n].reshape(-1, 64).abs().amax(dim=1).median()) if n else float(flat.abs().max())
        return _grid(code4("nf4" if p.id == "nf4" else "fp4"), scale), note + " (blocks of 64)"
    if codec in ("mxfp4", "nvfp4"):
        from quantcore.formats.microscaling import E2M1

        grid = [s * v for v in E2M1 for s in (1, -1)]
        block = 32 if codec == "mxfp4" else 16
        return _grid(grid, _median_block(t, block) / 6.0), note + f" (blocks of {block}; scale rounded to the format)"
    if codec == "binary":
        d = _median_block(t, 128, "mean")
        return (-d, d), note + " (blocks of 128)"
    if codec == "ternary":
        d = _median_block(t, 256)
        return (-d, 0.0, d), note + " (blocks of 256)"
    # asymmetric integer grids: int family, GPTQ / AWQ, and GGUF types as 2^bits steps over the typical block
    bits = int(round(lay.bits)) if codec != "gguf" else int(round(p.nominal_bits))
    group = lay.group or t.shape[-1]
    cols = t.shape[-1]
    x = t.reshape(-1, cols).to(torch.float32)
    if cols % group == 0:
        x = x.reshape(-1, group)
    lo = torch.minimum(x.amin(dim=1), torch.zeros(1))
    hi = torch.maximum(x.amax(dim=1), torch.zeros(1))
    k = int(torch.argsort(hi - lo)[len(lo) // 2])
    lo_k, hi_k = float(lo[k]), float(hi[k])
    steps = 2 ** bits - 1
    scale = (hi_k - lo_k) / steps if hi_k > lo_k else 1.0
    zero = round(-lo_k / scale)
    extra = " (approximated as 2^bits even steps)" if codec in ("gguf", "gptq", "awq") else ""
    return tuple((q - zero) * scale for q in range(steps + 1)), note + f" (groups of {group}){extra}"
