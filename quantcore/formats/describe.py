"""A precision explained from its catalog entry: element bits and range, how values map to codes, and the block
layout that adds up to its storage bits (`quantplanner precisions --explain ID`, the app's tooltips)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from quantcore.formats import catalog, gguf_mix
from quantcore.formats.bnb import FP4_RAW, NF4_RAW
from quantcore.formats.layout import BNB_NESTED_BLOCK, REFERENCE_COLS, REFERENCE_ROWS
from quantcore.formats.microscaling import E2M1


@dataclass(frozen=True)
class FloatType:
    """A binary floating-point element type: sign, exponent and mantissa bits, bias, what the top exponent holds."""

    name: str
    exponent: int
    mantissa: int
    bias: int
    top: str  # "ieee": top exponent is inf/NaN; "fn": only all-ones mantissa there is NaN; "none": all finite

    @property
    def max(self) -> float:
        e_top = 2 ** self.exponent - 1 - self.bias
        if self.top == "ieee":
            return (2 - 2.0 ** -self.mantissa) * 2.0 ** (e_top - 1)
        if self.top == "fn":
            return (2 - 2.0 ** (1 - self.mantissa)) * 2.0 ** e_top
        return (2 - 2.0 ** -self.mantissa) * 2.0 ** e_top

    @property
    def min_normal(self) -> float:
        return 2.0 ** (1 - self.bias)

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (1 - self.bias - self.mantissa)

    def text(self) -> str:
        return (f"{self.name}: 1 sign + {self.exponent} exponent (bias {self.bias}) + {self.mantissa} mantissa bits; "
                f"largest {self.max:.6g}, smallest normal {self.min_normal:.6g}, smallest subnormal "
                f"{self.min_subnormal:.6g}")


FP32 = FloatType("fp32 (IEEE binary32)", 8, 23, 127, "ieee")
FP16 = FloatType("fp16 (IEEE binary16)", 5, 10, 15, "ieee")
BF16 = FloatType("bf16 (bfloat16)", 8, 7, 127, "ieee")
E4M3 = FloatType("E4M3FN (OCP FP8)", 4, 3, 7, "fn")
E2M1_TYPE = FloatType("E2M1 (OCP FP4)", 2, 1, 1, "none")
DENSE = {"fp32": FP32, "fp16": FP16, "bf16": BF16}

# ggml block structs (ggml-common.h): the fields of one block and their bytes; they add up to gguf's
# GGML_QUANT_SIZES (a test checks), so the bits per weight below are computed, not typed.
GGML_PARTS: dict[str, tuple[tuple[str, int], ...]] = {
    "Q8_0": (("d: fp16 scale", 2), ("qs: 32 x int8", 32)),
    "Q4_0": (("d: fp16 scale", 2), ("qs: 32 x 4 bits", 16)),
    "Q5_0": (("d: fp16 scale", 2), ("qh: 32 x 5th bit", 4), ("qs: 32 x 4 low bits", 16)),
    "Q6_K": (("ql: 256 x 4 low bits", 128), ("qh: 256 x 2 high bits", 64), ("scales: 16 x int8 (one per 16)", 16),
             ("d: fp16 super-scale", 2)),
    "Q5_K": (("d, dmin: fp16", 4), ("scales: 8 x (6-bit scale + 6-bit min), one per 32", 12),
             ("qh: 256 x 5th bit", 32), ("qs: 256 x 4 low bits", 128)),
    "Q4_K": (("d, dmin: fp16", 4), ("scales: 8 x (6-bit scale + 6-bit min), one per 32", 12),
             ("qs: 256 x 4 bits", 128)),
    "Q3_K": (("hmask: 256 x 3rd bit", 32), ("qs: 256 x 2 low bits", 64), ("scales: 16 x 6 bits, one per 16", 12),
             ("d: fp16 super-scale", 2)),
    "Q2_K": (("scales: 16 x (4-bit scale + 4-bit min), one per 16", 16), ("qs: 256 x 2 bits", 64),
             ("d, dmin: fp16", 4)),
}
GGML_MAPPING = {
    "Q8_0": "symmetric: d = max|x| / 127, q = round(x / d) in [-127, 127], x ~ d q",
    "Q4_0": "d = x_m / -8 (x_m: the value with the largest |x|), q = round(x / d) + 8 in [0, 15], x ~ d (q - 8)",
    "Q5_0": "d = x_m / -16 (x_m: the value with the largest |x|), q = round(x / d) + 16 in [0, 31], x ~ d (q - 16)",
    "Q6_K": "symmetric per 16: x ~ d sc q with q in [-32, 31], sc an int8 sub-scale under the fp16 super-scale d",
    "Q5_K": "asymmetric per 32: x ~ d sc q - dmin m with q in [0, 31], 6-bit sub-scale sc and min m",
    "Q4_K": "asymmetric per 32: x ~ d sc q - dmin m with q in [0, 15], 6-bit sub-scale sc and min m",
    "Q3_K": "symmetric per 16: x ~ d sc q with q in [-4, 3], 6-bit sub-scale sc under the fp16 super-scale d",
    "Q2_K": "asymmetric per 16: x ~ d sc q - dmin m with q in [0, 3], 4-bit sub-scale sc and min m",
}


def _code_text(raw: tuple[float, ...]) -> str:
    top = max(abs(v) for v in raw)
    vals = sorted({round(v / top, 4) for v in raw})
    return ", ".join(f"{v:g}" for v in vals)


def element(pid: str) -> str:
    """What one stored value is: float bits and range, an integer range, or a code table."""
    p = catalog.get_precision(pid)
    lay = catalog.layout(p.id)
    codec = lay.codec_name
    if lay.scheme == "dense":
        return DENSE[p.id].text() if p.id in DENSE else f"{lay.bits:g}-bit float"
    if codec == "fp8":
        return E4M3.text()
    if codec in ("mxfp4", "nvfp4"):
        return E2M1_TYPE.text() + "; values +-{" + ", ".join(f"{v:g}" for v in E2M1) + "}"
    if lay.scheme == "bnb4" and p.id == "nf4":
        return ("NF4: a 16-value code, quantiles of N(0, 1) scaled to [-1, 1] (7 negative, 0, 8 positive): "
                + _code_text(NF4_RAW))
    if lay.scheme == "bnb4":
        return ("FP4 (bitsandbytes flavour): 1 sign + 2 exponent + 1 mantissa bits with bias 2 and subnormal 0.0625, "
                "divided by 12: " + _code_text(FP4_RAW))
    if codec == "ternary":
        return "trit: q in {-1, 0, 1} (log2 3 = 1.585 bits of information)"
    if codec == "binary":
        return "sign bit: q in {-1, +1}"
    if lay.scheme == "gguf":
        return f"ggml {lay.ggml_type} integers (see mapping); other tensors of the mixture: see 'kept'"
    bits = int(lay.bits)
    if codec == "int8" or lay.scheme == "rowscale":
        return f"signed {bits}-bit integer, q in [-{2 ** (bits - 1) - 1}, {2 ** (bits - 1) - 1}]"
    return f"unsigned {bits}-bit integer, q in [0, {2 ** bits - 1}], with a zero-point"


def mapping(pid: str) -> str:
    """How a weight x becomes its code q and back."""
    p = catalog.get_precision(pid)
    lay = catalog.layout(p.id)
    codec, g = lay.codec_name, lay.group
    if lay.scheme == "dense":
        return f"x stored as the nearest {p.id} value (round to nearest even); no scale"
    if codec == "fp8":
        return "per output row: s = max|x| / 448 (fp32), q = fp8(x / s), x ~ s q"
    if codec == "int8" or lay.scheme == "rowscale":
        b = int(lay.bits)
        return (f"symmetric per output row: s = max|x| / (2^(b-1) - 1) = max|x| / {2 ** (b - 1) - 1}, "
                "q = round(x / s), x ~ s q (LLM.int8() also keeps activation outlier columns >= 6.0 in 16-bit at "
                "run time)")
    if lay.scheme == "bnb4":
        return (f"per block of {g} (the tensor flattened): s = max|x|, q = the nearest code value to x / s, "
                f"x ~ s code[q]; s itself 8-bit quantized in blocks of {BNB_NESTED_BLOCK} "
                "(double quantization)")
    if codec == "mxfp4":
        return (f"per block of {g}: X = 2^(floor(log2 max|x|) - 2) stored as E8M0, q = E2M1(x / X) saturating at "
                "+-6, x ~ X q")
    if codec == "nvfp4":
        return (f"per block of {g}: s = max|x| / 6 stored as E4M3 under one fp32 per-tensor scale, q = E2M1(x / s), "
                "x ~ s q")
    if codec == "ternary":
        return f"per block of {g}: d = max|x| (fp16), q = round(x / d) clamped to {{-1, 0, 1}}, x ~ d q"
    if codec == "binary":
        return f"per block of {g}: s = mean|x| (fp16), q = sign(x), x ~ s q"
    if lay.scheme == "gguf":
        return f"{lay.ggml_type}: " + GGML_MAPPING.get(lay.ggml_type or "", "see ggml-quants.c")
    where = f"per group of {g} along the input" if g else "per output channel"
    text = (f"asymmetric {where}: s = (max - min) / (2^b - 1), z = round(-min / s), "
            "q = clamp(round(x / s) + z, 0, 2^b - 1), x ~ s (q - z); symmetric variants use "
            "q = round(x / s), s = max|x| / (2^(b-1) - 1)")
    if p.family == "gptq":
        text += "; GPTQ picks q column by column so the layer's output error cancels (inverse Hessian of its inputs)"
    elif p.family == "awq":
        text += "; AWQ first scales the input channels with large activations so they lose less"
    return text


def block_layout(pid: str) -> str:
    """The stored bytes of one block and the bits per weight they add up to (reference matrix 4096 x 4096)."""
    p = catalog.get_precision(pid)
    lay = catalog.layout(p.id)
    rows, cols = REFERENCE_ROWS, REFERENCE_COLS
    bits = lay.bits
    if lay.scheme == "dense":
        return f"{bits:g} bits per weight, no block metadata"
    if lay.scheme == "rowscale":
        value = bits + 8 * lay.scale_bytes / cols
        return (f"{bits:g} bits per weight + one {8 * lay.scale_bytes}-bit scale per row of {cols:,}: "
                f"{bits:g} + {8 * lay.scale_bytes}/{cols} = {value:.4f} bits per weight")
    if lay.scheme == "bnb4":
        data, absmax = math.ceil(lay.group * bits / 8), lay.scale_bytes
        value = (data + absmax) * 8 / lay.group + 32 / (lay.group * BNB_NESTED_BLOCK)
        return (f"block of {lay.group}: {lay.group} x {int(bits)} bits = {data} B + {absmax} B absmax, plus 4 B (fp32) "
                f"per {BNB_NESTED_BLOCK} blocks: ({data} + {absmax}) x 8 / {lay.group} + 32 / "
                f"({lay.group} x {BNB_NESTED_BLOCK}) = {value:.4f} bits per weight")
    if lay.scheme == "blockscale":
        data = math.ceil(lay.group * bits / 8)
        block = data + lay.scale_bytes + lay.zero_bytes
        zero = f" + {lay.zero_bytes} B zero" if lay.zero_bytes else ""
        return (f"block of {lay.group}: {lay.group} x {bits:g} bits = {data} B + {lay.scale_bytes} B scale{zero} = "
                f"{block} B per {lay.group} weights = {8 * block / lay.group:.4f} bits per weight")
    if lay.scheme in ("gptq", "awq"):
        g = lay.group or cols
        b = int(bits)
        gidx = lay.scheme == "gptq"
        value = b + (8 * lay.scale_bytes + b) / g + (32 / rows if gidx else 0)
        extra = f" + g_idx 32 bits per input column / {rows} rows" if gidx else ""
        return (f"int32-packed {b}-bit values, per group of {g} inputs and output column a "
                f"{8 * lay.scale_bytes}-bit scale and a {b}-bit packed zero{extra}: {b} + "
                f"({8 * lay.scale_bytes} + {b}) / {g}{' + 32 / ' + str(rows) if gidx else ''} = "
                f"{value:.4f} bits per weight ({rows:,} x {cols:,} matrix)")
    if lay.scheme == "gguf":
        t = lay.ggml_type or ""
        n, size = gguf_mix.block_layout(t)
        parts = GGML_PARTS.get(t)
        detail = (" = " + " + ".join(f"{b} B {name}" for name, b in parts)) if parts else ""
        return (f"{t} block: {n} weights in {size} B{detail}; {8 * size / n:.4g} bits per weight (gguf "
                "GGML_QUANT_SIZES); the mixture gives some tensors other types (see kept), so a model's bits per "
                "weight is higher: `quantplanner plan MODEL`")
    return f"{p.storage_bits:.4f} bits per weight"


def explain_precision(pid: str) -> list[str]:
    """The lines of `quantplanner precisions --explain ID`."""
    p = catalog.get_precision(pid)
    return [f"{p.id}: {p.label} ({p.nominal_bits:.4g} nominal bits, {p.storage_bits:.4g} storage bits per weight)",
            f"  element: {element(p.id)}",
            f"  mapping: {mapping(p.id)}",
            f"  block:   {block_layout(p.id)}",
            f"  kept:    {p.keeps}",
            f"  defined by: {p.source}"]
