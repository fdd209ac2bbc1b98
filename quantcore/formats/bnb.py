"""bitsandbytes formats, bit-exact with bitsandbytes 0.50 on CPU: LLM.int8() weights and NF4 / FP4 with double quant."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from quantcore.errors import BadInputError
from quantcore.formats import native
from quantcore.formats.layout import BNB_NESTED_BLOCK
from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register

if TYPE_CHECKING:
    import torch

# functional.get_4bit_type: the NF4 code (QLoRA) and bnb's FP4 (E2M1 with bias 2 and subnormal 0.0625) in code order,
# each divided by its largest magnitude.
NF4_RAW = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0)
FP4_RAW = (0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0)
_LUT_SIZE = 65536  # bitsandbytes' CPU quantize_blockwise maps [-1, 1] onto 65536 bins, then bins onto codes


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


@cache
def code4(quant_type: str) -> torch.Tensor:
    """The 16-value code of 'nf4' or 'fp4' (float32), as bitsandbytes stores it in quant_map."""
    import torch

    data = torch.tensor(NF4_RAW if quant_type == "nf4" else FP4_RAW, dtype=torch.float32)
    return data.div_(data.abs().max())


@cache
def _bounds4(quant_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Midpoints between the sorted code values and the sort order (bucketize index -> code index)."""
    import torch

    code = code4(quant_type)
    order = torch.argsort(code)
    return (code[order[:-1]] + code[order[1:]]) / 2, order.to(torch.uint8)


@cache
def dynamic_map() -> torch.Tensor:
    """functional.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): the 8-bit dynamic-tree code
    (Dettmers 2015) of the nested absmax, sorted, float32."""
    import torch

    data: list[float] = []
    for i in range(7):
        boundaries = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()  # float32 products, as bitsandbytes computes them
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0, 1.0]
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


@cache
def _dynamic_lut() -> torch.Tensor:
    """bitsandbytes' CPU lookup: bin i of [-1, 1] -> the first code whose upper midpoint is not below the bin value."""
    import numpy as np
    import torch

    code = dynamic_map().numpy()
    mid = np.float32(0.5) * (code[:-1] + code[1:])
    i = np.arange(_LUT_SIZE, dtype=np.float32)
    val = np.float32(-1.0) + (np.float32(2.0) * i) / np.float32(_LUT_SIZE - 1)
    return torch.from_numpy(np.searchsorted(mid, val, side="left").astype(np.uint8))


def quantize_blockwise_cpu(a: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """functional.quantize_blockwise(a, blocksize) with the dynamic map as bitsandbytes' CPU kernel computes it:
    absmax per block, value * (1 / absmax) clamped to [-1, 1], bin = (uint16)((v + 1) * 0.5 * 65535 + 0.5),
    code = lut[bin]. Returns (uint8 codes, float32 absmax)."""
    import torch

    a = a.reshape(-1).to(torch.float32)
    n = a.numel()
    blocks = -(-n // blocksize)
    padded = torch.zeros(blocks * blocksize, dtype=torch.float32)
    padded[:n] = a
    view = padded.view(blocks, blocksize)
    absmax = view.abs().amax(dim=1)
    inv = torch.where(absmax == 0, torch.zeros_like(absmax), 1.0 / torch.where(absmax == 0, 1, absmax))
    v = (view * inv[:, None]).clamp_(-1.0, 1.0)
    # (v + 1) * 0.5 * 65535 + 0.5 in float32, as compiled: one rounding per operation
    t = ((v + 1.0) * 0.5) * float(_LUT_SIZE - 1)
    idx = (t + 0.5).to(torch.int32)
    codes = _dynamic_lut()[idx.reshape(-1)].view(blocks, blocksize)
    codes[absmax == 0] = 0
    return codes.reshape(-1)[:n].contiguous(), absmax


def _quantize_4bit_torch(w: torch.Tensor, quant_type: str, bs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """bitsandbytes' default-backend quantize_4bit (what bitsandbytes runs on CPU), in plain torch."""
    import torch

    bounds, order = _bounds4(quant_type)
    flat = w.reshape(-1).to(torch.float32)
    n = flat.numel()
    rem = n % bs
    full = n - rem
    com = flat[:full].view(-1, bs)
    absmax = com.abs().amax(dim=-1)
    scaled = torch.clamp(com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, flat[full:].abs().max().unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(flat[full:] / am, -1, 1)])
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    q = torch.bucketize(scaled, bounds, out_int32=True)
    if quant_type != "nf4":
        q = order.to(torch.int32)[q]
    q8 = q.to(torch.uint8)
    return ((q8[::2] << 4) | q8[1::2]).unsqueeze(1), absmax


def quantize_4bit_codes(w: torch.Tensor, quant_type: str, bs: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed uint8 (ceil(n/2), 1), float32 absmax per block) exactly as bitsandbytes.functional.quantize_4bit."""
    import torch

    lib = native.library()
    if lib is None or w.dtype not in (torch.float32, torch.bfloat16, torch.float16) or bs > 4096:
        return _quantize_4bit_torch(w, quant_type, bs)
    x = w if w.dtype != torch.float16 else w.to(torch.float32)
    x = x.contiguous()
    n = x.numel()
    bounds, order = _bounds4(quant_type)
    packed = torch.empty(((n + 1) // 2, 1), dtype=torch.uint8)
    absmax = torch.empty(-(-n // bs), dtype=torch.float32)
    lib.qp_bnb4(x.data_ptr(), int(x.dtype == torch.bfloat16), n, bs, bounds.data_ptr(),
                None if quant_type == "nf4" else order.data_ptr(), packed.data_ptr(), absmax.data_ptr())
    return packed, absmax


def _quant_type(req: QuantRequest) -> str:
    return "nf4" if req.precision.id == "nf4" else "fp4"


def quantize_bnb4(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """functional.quantize_4bit(w, blocksize=64, compress_statistics=True, quant_type=nf4|fp4): packed codes,
    absmax 8-bit quantized with the dynamic map in blocks of 256 around offset = mean(absmax)."""
    import torch

    bs = int(req.layout.group or 64)
    qt = _quant_type(req)
    packed, absmax = quantize_4bit_codes(w, qt, bs)
    offset = absmax.mean()
    qabsmax, absmax2 = quantize_blockwise_cpu(absmax - offset, BNB_NESTED_BLOCK)
    stored = {
        "weight": packed,
        "weight.absmax": qabsmax,
        "weight.quant_map": code4(qt).clone(),
        "weight.nested_absmax": absmax2,
        "weight.nested_quant_map": dynamic_map().clone(),
        "weight.nested_offset": offset.reshape(()).to(torch.float32),
    }
    meta = {"quant_type": qt, "blocksize": bs, "nested_blocksize": BNB_NESTED_BLOCK, "dtype": _dtype_name(w),
            "nested_dtype": "float32"}
    return QuantizedTensor(req.precision.id, tuple(w.shape), _dtype_name(w), stored, meta)


def dequantize_bnb4(q: QuantizedTensor) -> torch.Tensor:
    """functional.dequantize_4bit: absmax = code8[qabsmax] * nested_absmax + offset, then code4[q] * absmax."""
    import torch

    s = q.stored
    bs, nbs = int(q.meta["blocksize"]), int(q.meta["nested_blocksize"])
    qa = s["weight.absmax"].to(torch.int64)
    nb = qa.numel()
    absmax = s["weight.nested_quant_map"][qa]
    pad = (-nb) % nbs
    absmax = torch.nn.functional.pad(absmax, (0, pad)).view(-1, nbs) * s["weight.nested_absmax"].view(-1, 1)
    absmax = absmax.reshape(-1)[:nb] + s["weight.nested_offset"]
    packed = s["weight"].reshape(-1)
    codes = torch.empty(packed.numel() * 2, dtype=torch.int64)
    codes[0::2] = (packed >> 4).to(torch.int64)
    codes[1::2] = (packed & 0xF).to(torch.int64)
    n = 1
    for d in q.shape:
        n *= d
    vals = s["weight.quant_map"][codes[:n]]
    pad = (-n) % bs
    out = torch.nn.functional.pad(vals, (0, pad)).view(-1, bs) * absmax.view(-1, 1)
    return out.reshape(-1)[:n].reshape(q.shape)


def int8_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """functional.int8_vectorwise_quant(w) at threshold 0 on (rows, cols): (CB int8, SCB float32 row absmax)."""
    import torch

    cols = w.shape[-1]
    x = w.reshape(-1, cols)
    lib = native.library()
    if lib is not None and x.dtype in (torch.float32, torch.bfloat16):
        x = x.contiguous()
        cb = torch.empty(x.shape, dtype=torch.int8)
        scb = torch.empty(x.shape[0], dtype=torch.float32)
        lib.qp_int8_rows(x.data_ptr(), int(x.dtype == torch.bfloat16), x.shape[0], cols, cb.data_ptr(),
                         scb.data_ptr())
        return cb, scb
    scb = x.abs().amax(dim=1).float()
    mult = torch.where(scb == 0, torch.zeros_like(scb), 127.0 / torch.where(scb == 0, 1, scb))
    cb = torch.round(x * mult.unsqueeze(-1)).to(torch.int8)
    return cb, scb


def quantize_int8(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """LLM.int8() weights (Linear8bitLt / Int8Params): "weight" = CB int8 of the weight's shape, "SCB" = float32
    absmax per output row; an all-zero row stores zeros. A 3-D expert stack is its matrices' rows one after
    another."""
    cb, scb = int8_rows(w)
    return QuantizedTensor(req.precision.id, tuple(w.shape), _dtype_name(w),
                           {"weight": cb.reshape(w.shape), "SCB": scb}, {"weight_format": "row"})


def dequantize_int8(q: QuantizedTensor) -> torch.Tensor:
    """CB * SCB / 127 (bitsandbytes int8_vectorwise_dequant)."""
    import torch

    cols = q.shape[-1]
    cb = q.stored["weight"].reshape(-1, cols).to(torch.float32)
    return (cb * q.stored["SCB"].view(-1, 1) * 7.874015718698502e-3).reshape(q.shape)


def check_bnb_shape(w: torch.Tensor) -> None:
    if w.numel() >= 2**31:
        raise BadInputError(f"tensor of {w.numel():,} elements is larger than bitsandbytes can index (2**31)")


register("bnb4", quantize_bnb4, dequantize_bnb4)
register("int8", quantize_int8, dequantize_int8)
