"""The quantization engine's contract: a QuantizedTensor holds what the real format stores; one registry of codecs.

How a codec plugs in (gguf, gptq, awq and the built-in families all do it the same way):

    # quantcore/formats/my_codec.py
    from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register

    def quantize(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor: ...
    def dequantize(q: QuantizedTensor) -> torch.Tensor: ...          # float32, shape q.shape

    register("mycodec", quantize, dequantize)                         # at import time

and the catalog entry's Layout names it (`Layout(..., codec="mycodec")`; without `codec` the Layout's scheme is the
name: "gptq", "awq", "gguf"). `quantcore.formats.quantize` imports every codec module listed in CODEC_MODULES on first
use, so a module only has to exist to be found.

What the top level (formats/quantize.py) guarantees before calling `quantize(w, req)`:
- w is a CPU torch tensor of a float dtype (float32, float16 or bfloat16, as the caller gave it: codecs convert the
  way their reference library does), contiguous, non-empty, finite (no NaN/Inf), with w.shape == req.info.shape;
- the precision applies to the tensor (catalog.quantized_by for non-dense layouts: 2-D or 3-D weights, not norms,
  embeddings or biases for the non-GGUF formats); a 3-D tensor is `shape[0]` stacked (out, in) matrices (MoE
  experts) and each codec quantizes it as the catalog sizes it;
- req.options holds the caller's keyword options (e.g. symmetric=True, or GPTQ's damp / act_order); a codec raises
  BadInputError for an option it does not know.
What a codec must guarantee:
- q.nbytes == catalog.tensor_bytes(req.info, req.precision, req.arch) exactly (tests/quant/test_bytes.py checks
  every id on several shapes);
- q.stored uses the names and dtypes the real format serializes for the weight, relative to the module prefix
  ("weight", "weight.absmax", ...; "qweight", "qzeros", "scales", "g_idx"; GGUF: one "weight" uint8 tensor of raw
  ggml blocks with meta["ggml_type"]); anything a file needs besides tensors goes in q.meta;
- errors a user can cause (a shape the format cannot take, missing calibration inputs) raise BadInputError with a
  one-line message.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError

if TYPE_CHECKING:  # torch is imported lazily: the planner and the app start without it
    import torch

    from quantcore.formats.catalog import Layout, Precision
    from quantcore.model.inventory import Architecture, TensorInfo


@dataclass(frozen=True)
class QuantizedTensor:
    """One tensor stored in a precision of the catalog.

    stored: the tensors the real format serializes, under its own names relative to the weight's prefix
    (bitsandbytes 4-bit: "weight", "weight.absmax", "weight.quant_map", "weight.nested_absmax",
    "weight.nested_quant_map" and "weight.nested_offset" (the 0-dim fp32 tensor bitsandbytes holds in memory; the
    safetensors writer moves it into the packed "weight.quant_state.bitsandbytes__nf4" JSON as transformers does);
    LLM.int8(): "weight" (CB) and "SCB"; GPTQ: "qweight", "qzeros", "scales", "g_idx"; GGUF: one "weight" tensor of
    raw ggml blocks, uint8). meta: the format's parameters that are not tensors (block size, quant_type, ggml type,
    ...), enough for `dequantize` to take it back to float.
    """

    precision: str  # catalog id, e.g. "nf4", "gptq-4bit-g128", "q4_k_m"
    shape: tuple[int, ...]  # the logical shape of the original tensor
    dtype: str  # the original dtype, as torch names it ("float32", "bfloat16", ...)
    stored: Mapping[str, torch.Tensor]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes the format writes: the sum of the stored tensors (equal to formats' predicted bytes, exactly)."""
        return sum(t.numel() * t.element_size() for t in self.stored.values())


@dataclass(frozen=True)
class QuantRequest:
    """Everything a codec is told besides the weight itself.

    precision / layout: the (possibly parsed, e.g. 'gptq-4bit-g32') catalog entry and its storage layout: bits and
    group size come from `layout.bits` / `layout.group`, never from the id string.
    info: the tensor as the catalog sees it (name, shape, role, kind, layer): GGUF mixtures choose per-tensor types
    from it with formats.gguf_mix exactly as the planner does. arch: the model's architecture when known (mixtures,
    70B / expert rules), else None. calibration: inputs X of shape (tokens, in_features) for GPTQ / AWQ (None for
    data-free formats; a codec that needs it raises BadInputError). options: the caller's keyword options.
    """

    precision: Precision
    layout: Layout
    info: TensorInfo
    arch: Architecture | None = None
    calibration: torch.Tensor | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


Quantizer = Callable[["torch.Tensor", QuantRequest], QuantizedTensor]
Dequantizer = Callable[[QuantizedTensor], "torch.Tensor"]


@dataclass(frozen=True)
class Codec:
    """How one family of the catalog quantizes and dequantizes (registered by the family's module)."""

    quantize: Quantizer
    dequantize: Dequantizer
    options: tuple[str, ...] = ()  # the keyword options it accepts (checked by formats.quantize)


_CODECS: dict[str, Codec] = {}


def register(name: str, quantize: Quantizer, dequantize: Dequantizer, options: tuple[str, ...] = ()) -> None:
    """Make codec `name` (a catalog Layout's codec, e.g. "bnb4", "gptq", "gguf") available; called at import."""
    _CODECS[name] = Codec(quantize, dequantize, tuple(options))


def registered(name: str) -> bool:
    return name in _CODECS


def codec(name: str) -> Codec:
    got = _CODECS.get(name)
    if got is None:
        raise BadInputError(f"no quantizer for '{name}' in this build yet")
    return got


def padded_blocks(w: torch.Tensor, block: int) -> tuple[torch.Tensor, int]:
    """w as float32 (rows, blocks, block), each row zero-padded to whole blocks; and the number of blocks per row."""
    import torch

    cols = w.shape[-1]
    x = w.reshape(-1, cols).to(torch.float32)
    blocks = -(-cols // block)
    if blocks * block != cols:
        x = torch.nn.functional.pad(x, (0, blocks * block - cols))
    return x.reshape(x.shape[0], blocks, block), blocks
