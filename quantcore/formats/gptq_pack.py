"""Bit packing of GPTQ / AWQ checkpoints (int32 words) and the family ids gptq-<b>bit-g<n> / awq-<b>bit-g<n>.

Layout (AutoGPTQ / GPTQModel "v1" checkpoints, the format transformers and vLLM load):
- values are packed as one little-endian bit stream per column: value k of a column occupies bits
  [k*bits, (k+1)*bits) of the stream, word w holds stream bits [32w, 32w+32), the lowest bit first. For 2, 4 and
  8 bits this is AutoGPTQ's `qweight[row] |= intweight[j] << (bits * (j - i))`; for 3 bits it is the same
  10 + 1 + 10 + 1 + 10 split of 32 values over 3 words (the 11th and 22nd values straddle two words).
  A length that is not a multiple of 32 / bits is padded with zero bits up to the next whole word:
  ceil(n * bits / 32) words, as formats.catalog counts them.
- qweight packs the [in, out] code matrix along `in` (dim 0); qzeros packs [groups, out] along `out` (dim 1).
- AWQ (AutoAWQ WQLinear_GEMM) packs along `out` with the columns of each word interleaved in AWQ_ORDER.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from quantcore.errors import BadInputError

if TYPE_CHECKING:
    import torch

GPTQ_BITS = (2, 3, 4, 8)
AWQ_BITS = (4,)
# AutoAWQ awq/modules/linear/gemm.py from_linear: word slot i holds column 8*col + AWQ_ORDER[i]
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)
NO_GROUP = -1

_ID = re.compile(r"^(gptq|awq)-(\d+)bit-(?:g(\d+)|(nogroup))$")


def family_params(precision: str, *, bits: int | None = None, group_size: int | None = None) -> tuple[str, int, int]:
    """(family, bits, group_size) of an id such as gptq-4bit-g128, gptq-8bit-nogroup (group -1), awq-4bit-g64.

    Explicit `bits` / `group_size` override the id's. The defaults of the family are 4 bits, groups of 128.
    """
    m = _ID.match(str(precision).strip().lower())
    if m is None:
        raise BadInputError(f"'{precision}' is not a GPTQ/AWQ id; write e.g. gptq-4bit-g128, gptq-4bit-nogroup, "
                            "awq-4bit-g128")
    family = m.group(1)
    b = int(m.group(2)) if bits is None else int(bits)
    g = (NO_GROUP if m.group(4) else int(m.group(3))) if group_size is None else int(group_size)
    allowed = GPTQ_BITS if family == "gptq" else AWQ_BITS
    if b not in allowed:
        what = "AutoAWQ's GEMM layout is 4-bit only" if family == "awq" else "GPTQ checkpoints pack 2, 3, 4 or 8 bits"
        raise BadInputError(f"{family} cannot store {b}-bit weights: {what}")
    if g != NO_GROUP and g <= 0:
        raise BadInputError(f"group size must be a positive number of input columns or -1 (no groups), not {g}")
    return family, b, g


def group_count(cols: int, group_size: int) -> int:
    """Groups along the input dimension (one when there are no groups)."""
    return 1 if group_size == NO_GROUP else -(-cols // group_size)


def words(n: int, bits: int) -> int:
    """int32 words that hold n packed values."""
    return -(-n * bits // 32)


def _to_int32(w64: torch.Tensor) -> torch.Tensor:
    """Unsigned 32-bit words held in int64 -> the same bits as int32 (two's complement)."""
    import torch

    return torch.where(w64 >= 2**31, w64 - 2**32, w64).to(torch.int32)


def pack_rows(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes [n, m] (0 <= v < 2**bits) along dim 0 into int32 words [ceil(n*bits/32), m]."""
    import torch

    n, m = values.shape
    chunks = -(-n // 32)
    v = torch.zeros(chunks * 32, m, dtype=torch.int64)
    v[:n] = values.to(torch.int64)
    v = v.view(chunks, 32, m)
    out = torch.zeros(chunks, bits, m, dtype=torch.int64)  # 32 values of a chunk fill exactly `bits` words
    for k in range(32):
        pos = k * bits
        w, off = divmod(pos, 32)
        out[:, w] |= (v[:, k] << off) & 0xFFFFFFFF
        if off + bits > 32:  # the value straddles two words: its high bits open the next word
            out[:, w + 1] |= v[:, k] >> (32 - off)
    return _to_int32(out.view(chunks * bits, m)[: words(n, bits)])


def unpack_rows(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Inverse of pack_rows: int32 words [ceil(n*bits/32), m] -> codes [n, m] (int64)."""
    import torch

    rows, m = packed.shape
    chunks = -(-n // 32)
    w64 = torch.zeros(chunks * bits, m, dtype=torch.int64)
    w64[:rows] = packed.to(torch.int64) & 0xFFFFFFFF
    w64 = w64.view(chunks, bits, m)
    mask = (1 << bits) - 1
    out = torch.empty(chunks, 32, m, dtype=torch.int64)
    for k in range(32):
        w, off = divmod(k * bits, 32)
        val = w64[:, w] >> off
        if off + bits > 32:
            val = val | (w64[:, w + 1] << (32 - off))
        out[:, k] = val & mask
    return out.view(chunks * 32, m)[:n]


def pack_cols(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack codes [g, n] along dim 1 into int32 [g, ceil(n*bits/32)] (qzeros, AWQ qweight)."""
    return pack_rows(values.t(), bits).t().contiguous()


def unpack_cols(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    return unpack_rows(packed.t(), bits, n).t().contiguous()


def awq_interleave(values: torch.Tensor) -> torch.Tensor:
    """Columns [.., n] reordered so that plain packing writes AutoAWQ's GEMM order (n padded with zeros to 8k)."""
    import torch

    n = values.shape[-1]
    pad = -n % 8
    if pad:
        values = torch.cat([values, values.new_zeros(*values.shape[:-1], pad)], dim=-1)
    order = torch.arange(values.shape[-1]).view(-1, 8)[:, list(AWQ_ORDER)].reshape(-1)
    return values[..., order]


def awq_deinterleave(values: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of awq_interleave, cut back to n columns."""
    import torch

    order = torch.arange(values.shape[-1]).view(-1, 8)[:, list(AWQ_ORDER)].reshape(-1)
    out = torch.empty_like(values)
    out[..., order] = values
    return out[..., :n]


def v1_zeros(zeros: torch.Tensor, bits: int) -> torch.Tensor:
    """GPTQ v1 zero-points as AutoGPTQ defines them: each field holds (zero - 1) mod 2**bits.

    Readers add one back per field. A zero-point of 0 (an asymmetric group whose minimum is above -scale / 2;
    never with sym=True, whose zero-point is 2**(bits-1)) has no exact v1 encoding: it is stored here as the
    all-ones field, which readers that mask after adding 1 (AutoGPTQ qlinear_cuda_old) take back to 0, readers
    that do not mask (AutoGPTQ qlinear_cuda's torch path, exllama) take as 2**bits, and GPTQModel's v1 -> v2
    load (adding 0x11111111 to the whole word) takes as 0 but carries 1 into the next field. AutoGPTQ's own
    pack() ORs a raw -1 there and spoils the other fields of the word; GPTQModel's v2 -> v1 export subtracts
    0x11111111 from whole words and borrows from the next field. Writers and readers all agree whenever no
    zero-point is 0; QuantizedTensor.meta["zero_points_0"] counts the ones that are (1 of 4,608 groups of
    MiniLM's layer-2 output.dense, none in its other five linears).
    """
    import torch

    return torch.remainder(zeros.to(torch.int64) - 1, 1 << bits)


def matrices(tensor: object, family: str) -> torch.Tensor:
    """The weight as float32 [m, out, in] (m stacked matrices: MoE experts), or a one-line BadInputError."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise BadInputError(f"{family} quantizes torch tensors, not {type(tensor).__name__}")
    shape = tuple(tensor.shape)
    if tensor.dim() < 2:
        raise BadInputError(f"{family} quantizes weight matrices (2-D, or 3-D stacked experts); the {tensor.dim()}-D "
                            f"tensor of shape {shape} stays unquantized")
    if not (tensor.is_floating_point()):
        raise BadInputError(f"{family} needs float weights; got a {str(tensor.dtype).removeprefix('torch.')} tensor")
    if tensor.numel() == 0:
        raise BadInputError(f"{family} cannot quantize an empty tensor of shape {shape}")
    t = tensor.detach().to(torch.float32).reshape(-1, shape[-2], shape[-1])
    if not bool(torch.isfinite(t).all()):
        raise BadInputError(f"{family}: the weights of shape {shape} hold NaN or Inf values; fix the checkpoint first")
    return t


def per_matrix(value: object, m: int, cols: int, what: str, square: bool) -> list[torch.Tensor | None]:
    """Calibration inputs [..., in] or Hessians [in, in] for each of m matrices.

    One tensor is shared by every matrix; a list / tuple of m tensors (or, for Hessians, one [m, in, in] tensor)
    gives each stacked matrix (MoE expert) its own.
    """
    import torch

    if value is None:
        return [None] * m
    if isinstance(value, (list, tuple)):
        if len(value) != m:
            raise BadInputError(f"{what}: {len(value)} given for {m} stacked matrices; give one, or one per matrix")
        return [per_matrix(v, 1, cols, what, square)[0] for v in value]
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
        raise BadInputError(f"{what} must be a non-empty float tensor")
    need = f"[{cols}, {cols}]" if square else f"[tokens, {cols}]"
    if value.shape[-1] != cols or (square and (value.dim() < 2 or value.shape[-2] != cols)):
        raise BadInputError(f"{what} of shape {tuple(value.shape)} does not match the weight's {cols} input "
                            f"columns; expected {need}")
    v = value.detach().to(torch.float32)
    if not bool(torch.isfinite(v).all()):
        raise BadInputError(f"{what} hold NaN or Inf values")
    if not square:
        return [v.reshape(-1, cols)] * m
    if v.dim() == 3 and v.shape[0] == m:
        return [v[i] for i in range(m)]
    if v.dim() != 2:
        raise BadInputError(f"{what} of shape {tuple(v.shape)}: expected {need} or [{m}, {cols}, {cols}]")
    return [v] * m
