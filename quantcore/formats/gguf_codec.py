"""The "gguf" codec: a tensor in a catalog GGUF precision (per-tensor ggml type as llama-quantize picks it), and the
"ternary" quantizer (ggml TQ1_0 blocks). Stored: one uint8 "weight" tensor of raw ggml blocks, (rows, row bytes)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from quantcore.errors import BadInputError
from quantcore.formats import ggml_fast, gguf_mix
from quantcore.formats.ggml_quants import BLOCKS, as_float_rows, dequantize_rows, quantize_rows
from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register
from quantcore.model.inventory import Architecture, TensorInfo
from quantcore.model.naming import classify, layer_of

if TYPE_CHECKING:
    import torch

SCHEME = "gguf"
TERNARY = "ternary"
TERNARY_TYPE = "TQ1_0"


def tensor_info(name: str, shape: tuple[int, ...], dtype: str = "F32") -> TensorInfo:
    """A TensorInfo for a bare tensor, classified by its name (HF or GGUF spelling) like the inventories do."""
    role, kind = classify(name)
    return TensorInfo(name=name, shape=tuple(shape), dtype=dtype, role=role, kind=kind, layer=layer_of(name))


def ggml_type_for(info: TensorInfo, precision: str, arch: Architecture | None = None) -> str:
    """The ggml type llama-quantize gives this tensor for a catalog GGUF id (F32 when it stays unquantized).

    Mirrors catalog.tensor_bytes: a tensor looked at alone takes its layer index as its position among attn_v /
    ffn_down tensors, and the model facts (layers, GQA, experts, tied embeddings) come from `arch`.
    """
    pid = precision.strip().lower()
    ctx = gguf_mix.context_for_arch(arch, n_layers=(info.layer or 0) + 1)
    types = {ty for _, ty, _ in gguf_mix.slot_types(gguf_mix.prepare((info,), ordinals=False), pid, ctx)}
    if len(types) != 1:  # a `count` of copies that llama-quantize would split over several types
        raise BadInputError(f"{info.name}: its {info.count} copies take different GGUF types "
                            f"({', '.join(sorted(types))}); quantize them one by one")
    return types.pop()


def _checked_rows(tensor: Any, name: str, type_name: str = "") -> tuple[Any, tuple[int, ...], str]:
    """(float32 rows (n, cols), logical shape, torch dtype name) of a float tensor with finite values. For Q8_0 /
    Q4_0 on the C loops, bf16 torch rows stay bf16 (ggml_fast.direct_rows) and the loops test finiteness."""
    shape = tuple(int(s) for s in tensor.shape)
    dtype = str(getattr(tensor, "dtype", "float32")).replace("torch.", "")
    is_float = tensor.is_floating_point() if hasattr(tensor, "is_floating_point") else np.issubdtype(tensor.dtype,
                                                                                                     np.floating)
    if not is_float:
        raise BadInputError(f"{name}: {dtype} tensors hold no float weights to quantize")
    if math.prod(shape) == 0:
        raise BadInputError(f"{name}: empty tensor {shape}; nothing to quantize")
    import torch

    flat = tensor.reshape(-1, shape[-1] if shape else 1)
    direct = ggml_fast.checks_finite(type_name)
    rows = ggml_fast.direct_rows(flat) if direct else as_float_rows(flat)
    if direct:
        return rows, shape, dtype
    lo, hi = torch.aminmax(torch.from_numpy(rows))  # one pass; NaN propagates
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        raise BadInputError(f"{name}: holds NaN or Inf values; a quantized format cannot store them")
    return rows, shape, dtype


def _packed(precision: str, shape: tuple[int, ...], dtype: str, raw: np.ndarray, **meta: Any) -> QuantizedTensor:
    import torch

    return QuantizedTensor(precision, shape, dtype, {"weight": torch.from_numpy(np.ascontiguousarray(raw))}, meta)


def quantize_ggml(tensor: Any, type_name: str, precision: str = "", name: str = "tensor") -> QuantizedTensor:
    """A float tensor (torch or numpy, any shape) as raw blocks of one ggml type, rows along the last dimension."""
    rows, shape, dtype = _checked_rows(tensor, name, type_name)
    if rows.shape[1] % BLOCKS.get(type_name, (1, 0))[0]:
        raise BadInputError(f"{name}: rows of {rows.shape[1]} weights are not whole {type_name} blocks of "
                            f"{BLOCKS[type_name][0]}")
    try:
        raw = quantize_rows(type_name, rows)
    except BadInputError as exc:  # the C loops' NaN / Inf refusal, said with the tensor's name
        raise BadInputError(f"{name}: {exc}") from None
    return _packed(precision or type_name.lower(), shape, dtype, raw, ggml_type=type_name)


def quantize_gguf(tensor: Any, precision: str, info: TensorInfo | None = None, arch: Architecture | None = None,
                  name: str | None = None, **_: Any) -> QuantizedTensor:
    """A tensor in a catalog GGUF precision (q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k).

    The ggml type is the one llama-quantize would choose (gguf_mix.choose_type + with_fallback) for `info` (the
    tensor's inventory entry; else one made from `name` and the shape), so `nbytes` equals
    catalog.tensor_bytes(info, precision, arch). Kept tensors (1-D, norms, routers) are stored as F32.
    """
    shape = tuple(int(s) for s in tensor.shape)
    if info is None:
        info = tensor_info(name or "weight", shape)
    elif math.prod(info.shape) * info.count != math.prod(shape):
        raise BadInputError(f"{info.name}: tensor of shape {shape} does not match its inventory shape {info.shape}")
    type_name = ggml_type_for(info, precision, arch)
    return quantize_ggml(tensor, type_name, precision.strip().lower(), info.name)


def dequantize_gguf(q: QuantizedTensor) -> torch.Tensor:
    """The float32 tensor ggml's dequantize_row_* gives back for the stored blocks."""
    import torch

    raw = q.stored["weight"]
    data = raw.numpy() if hasattr(raw, "numpy") else np.asarray(raw)
    cols = q.meta.get("padded_cols", q.shape[-1] if q.shape else 1)
    shape = (math.prod(q.shape[:-1]), cols) if len(q.shape) > 1 else (1, cols)
    out = dequantize_rows(q.meta["ggml_type"], data, shape)
    if cols != (q.shape[-1] if q.shape else 1):
        out = out[:, : q.shape[-1]]
    return torch.from_numpy(np.ascontiguousarray(out)).reshape(q.shape)


def quantize_ternary(tensor: Any, precision: str = TERNARY, name: str = "tensor", **_: Any) -> QuantizedTensor:
    """The catalog's ternary: ggml TQ1_0 (gguf.quants-identical), each row zero-padded to whole blocks of 256.

    The padding is what the catalog's blockscale layout counts (ceil(cols / 256) blocks of 54 bytes per row);
    dequantize drops it again.
    """
    rows, shape, dtype = _checked_rows(tensor, name)
    if len(shape) < 2:
        raise BadInputError(f"{name}: ternary quantizes matrices (linear layers), not a 1-D tensor {shape}")
    cols = rows.shape[1]
    padded = -(-cols // 256) * 256
    if padded != cols:
        rows = np.pad(rows, ((0, 0), (0, padded - cols)))
    raw = quantize_rows(TERNARY_TYPE, rows)
    return _packed(precision, shape, dtype, raw, ggml_type=TERNARY_TYPE, padded_cols=padded)


def _gguf_request(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    return quantize_gguf(w, req.precision.id, req.info, req.arch, req.info.name)


def _ternary_request(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    return quantize_ternary(w, req.precision.id, req.info.name)


def register_codecs() -> None:
    """Register the GGUF codec under its catalog scheme (and ternary under its codec name) with the engine's
    (tensor, QuantRequest) calling convention."""
    register(SCHEME, _gguf_request, dequantize_gguf)
    register(TERNARY, _ternary_request, dequantize_gguf)


register_codecs()
