"""How a format lays out one quantized matrix (Layout), what a catalog entry says (Precision), and the exact bytes
of m stacked out x in matrices in a layout."""
from __future__ import annotations

import math
from dataclasses import dataclass

from quantcore.formats import gguf_mix
from quantcore.model.inventory import TensorInfo

# Reference matrix for the catalog's storage bits of formats with per-row / per-column metadata (GPTQ g_idx,
# fp8 / int8 row scales): a 4096 x 4096 projection, the size of a 7-8B model's attention matrices.
REFERENCE_ROWS = REFERENCE_COLS = 4096

# bitsandbytes nested (double) quantization: absmax values are 8-bit blockwise-quantized in blocks of 256
# (functional.quantize_4bit, compress_statistics=True -> quantize_blockwise(absmax - offset, blocksize=256)).
BNB_NESTED_BLOCK = 256


@dataclass(frozen=True)
class Layout:
    """How a format stores one quantized weight matrix of `out` rows by `in` (reduction) columns.

    scheme: dense (plain dtype), rowscale (one scale per output row), bnb4 (bitsandbytes flat 4-bit blocks with
    double-quantized absmax), gptq / awq (int32-packed weights, packed zero-points, fp16 scales per group along
    the input dimension), blockscale (each row cut into blocks of `group` weights with their own scale/zero),
    gguf (llama.cpp ggml types chosen per tensor by gguf_mix).
    """

    scheme: str
    bits: float  # bits of each stored weight value
    group: int | None = None  # weights per block / group (None: per row or per tensor)
    scale_bytes: int = 0  # per group (or per row for rowscale)
    zero_bytes: int = 0  # zero-point / min per group
    tensor_bytes: int = 0  # fixed bytes per quantized tensor (code tables, global scales)
    keep_bytes: int = 2  # bytes per element of the tensors the format leaves unquantized
    ggml_type: str | None = None  # gguf scheme: the ftype's base tensor type
    codec: str = ""  # the registered codec that quantizes it (formats/quantized.py); "" means `scheme`

    @property
    def codec_name(self) -> str:
        return self.codec or self.scheme


@dataclass(frozen=True)
class Precision:
    """One catalog entry: what planners show and what the quantization engine writes (see Layout)."""

    id: str
    label: str
    family: str
    nominal_bits: float
    storage_bits: float  # bits per quantized weight, scales / zero-points / block metadata included
    block_size: int | None
    keeps: str  # which tensors stay in higher precision
    source: str  # where the layout is defined
    training: str  # "full" | "qlora" | ""
    compute: str  # roofline compute rate: fp32 | fp16 | fp8 | int8
    mixed: bool  # per-tensor recipe (llama.cpp mixtures)


# -- byte counts of one quantized matrix -------------------------------------------------------------------------

def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def matrix_dims(t: TensorInfo) -> tuple[int, int, int]:
    """(matrices, out, in): t as `matrices` stacked out x in matrices (experts, count copies)."""
    cols = t.shape[-1]
    out = t.shape[-2]
    return t.numel // (out * cols), out, cols


def quantized_bytes(lay: Layout, m: int, out: int, cols: int) -> int:
    """Bytes of m matrices of out x cols in layout `lay`, without its per-tensor constants."""
    n = m * out * cols
    if lay.scheme == "dense":
        return math.ceil(n * lay.bits / 8)
    if lay.scheme == "rowscale":
        return math.ceil(n * lay.bits / 8) + m * out * lay.scale_bytes
    if lay.scheme == "bnb4":  # flattened, row-major blocks; the last partial block gets its own absmax
        blocks = ceil_div(n, lay.group)
        return ceil_div(n * int(lay.bits), 8) + blocks * lay.scale_bytes + ceil_div(blocks, BNB_NESTED_BLOCK) * 4
    bits = int(lay.bits)
    if lay.scheme == "gptq":  # qweight [in*bits/32, out] i32, qzeros [groups, out*bits/32] i32, scales, g_idx [in]
        groups = ceil_div(cols, lay.group) if lay.group else 1  # no group: one per output channel
        per = (ceil_div(cols * bits, 32) * out * 4 + groups * ceil_div(out * bits, 32) * 4
               + groups * out * lay.scale_bytes + cols * 4)
        return m * per
    if lay.scheme == "awq":  # qweight [in, out*bits/32] i32, qzeros [groups, out*bits/32] i32, scales [groups, out]
        groups = ceil_div(cols, lay.group) if lay.group else 1
        per = cols * ceil_div(out * bits, 32) * 4 + groups * ceil_div(out * bits, 32) * 4 + groups * out * lay.scale_bytes
        return m * per
    if lay.scheme == "blockscale":  # each row in blocks of `group`, padded; block = packed values + scale (+ zero)
        block = math.ceil(lay.group * lay.bits / 8) + lay.scale_bytes + lay.zero_bytes
        return m * out * ceil_div(cols, lay.group) * block
    if lay.scheme == "gguf":
        return gguf_mix.type_bytes(lay.ggml_type, m * out, cols)
    raise ValueError(f"unknown layout scheme {lay.scheme}")


def storage_bits(lay: Layout) -> float:
    """Bits per weight of the reference matrix in this layout (per-tensor constants left out)."""
    return 8 * quantized_bytes(lay, 1, REFERENCE_ROWS, REFERENCE_COLS) / (REFERENCE_ROWS * REFERENCE_COLS)
