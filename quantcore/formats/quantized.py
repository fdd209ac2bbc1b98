"""The quantization engine's contract: a QuantizedTensor holds what the real format stores; one registry of codecs."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError

if TYPE_CHECKING:  # torch is imported lazily: the planner and the app start without it
    import torch


@dataclass(frozen=True)
class QuantizedTensor:
    """One tensor stored in a precision of the catalog.

    stored: the tensors the real format serializes, under its own names relative to the weight's prefix
    (bitsandbytes: "weight", "weight.absmax", "weight.quant_map", ...; GPTQ: "qweight", "qzeros", "scales", "g_idx";
    GGUF: one "weight" tensor of raw ggml blocks, uint8). meta: the format's parameters that are not tensors
    (block size, quant_type, ggml type, ...), enough for `dequantize` to take it back to float.
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


Quantizer = Callable[..., QuantizedTensor]
Dequantizer = Callable[[QuantizedTensor], "torch.Tensor"]


@dataclass(frozen=True)
class Codec:
    """How one family of the catalog quantizes and dequantizes (registered by the family's module)."""

    quantize: Quantizer
    dequantize: Dequantizer


_CODECS: dict[str, Codec] = {}


def register(scheme: str, quantize: Quantizer, dequantize: Dequantizer) -> None:
    """Make `scheme` (a catalog Layout scheme or family name) quantizable; called at import by each codec module."""
    _CODECS[scheme] = Codec(quantize, dequantize)


def codec(scheme: str) -> Codec:
    got = _CODECS.get(scheme)
    if got is None:
        raise BadInputError(f"no quantizer for '{scheme}' yet")
    return got

