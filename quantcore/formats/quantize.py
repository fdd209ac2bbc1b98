"""quantize(tensor, precision) -> QuantizedTensor and dequantize(q): input checks, then the precision's codec."""
from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError
from quantcore.formats import catalog
from quantcore.formats.quantized import QuantizedTensor, QuantRequest, codec, registered
from quantcore.model.inventory import Architecture, TensorInfo

if TYPE_CHECKING:
    import torch

# Modules that register codecs when imported; one that does not exist (yet) in this build is skipped.
CODEC_MODULES = (
    "quantcore.formats.floats",  # cast, fp8
    "quantcore.formats.bnb",  # int8 (LLM.int8()), bnb4 (nf4 / fp4)
    "quantcore.formats.affine",  # int family
    "quantcore.formats.microscaling",  # mxfp4, nvfp4
    "quantcore.formats.lowbit",  # binary
    "quantcore.formats.gguf_codec",  # gguf (q8_0 ... q2_k mixtures), ternary (TQ1_0)
    "quantcore.formats.gptq",  # gptq
    "quantcore.formats.awq",  # awq
)
_loaded = False

_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def load_codecs() -> None:
    """Import every codec module of this build (idempotent)."""
    global _loaded
    if _loaded:
        return
    for name in CODEC_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it needs does not
                raise
    _loaded = True


def available(precision_id: str) -> bool:
    """Whether this build can quantize precision_id (its codec is registered)."""
    load_codecs()
    return registered(catalog.layout(precision_id).codec_name)


def default_info(shape: tuple[int, ...], name: str = "weight") -> TensorInfo:
    """How a bare tensor is seen when the caller says nothing: a linear layer's weight (an MLP projection)."""
    if len(shape) <= 1:
        return TensorInfo(name, shape, "F32", "norm", "norm")
    role = "expert" if len(shape) == 3 else "mlp"
    return TensorInfo(name, shape, "F32", role, "ffn_up_exps" if len(shape) == 3 else "ffn_up", layer=0)


def check_tensor(tensor: Any, name: str = "tensor") -> None:
    """One-line errors for what no format can quantize: not a float tensor, empty, NaN or Inf."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise BadInputError(f"{name}: expected a torch tensor, got {type(tensor).__name__}")
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in _FLOAT_DTYPES:
        raise BadInputError(f"{name}: dtype {dtype} is not a float tensor (float32, float16 or bfloat16); "
                            "integer or already-quantized tensors cannot be quantized again")
    if tensor.numel() == 0:
        raise BadInputError(f"{name}: empty tensor (shape {tuple(tensor.shape)}) has nothing to quantize")
    lo, hi = torch.aminmax(tensor.detach())  # one pass; NaN propagates through both
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        bad = int((~torch.isfinite(tensor)).sum())
        raise BadInputError(f"{name}: {bad:,} NaN/Inf value(s) of {tensor.numel():,}; fix the weights first")


def check_applies(info: TensorInfo, p: catalog.Precision) -> None:
    """BadInputError when the precision does not quantize this tensor (the catalog keeps it in higher precision)."""
    lay = catalog.layout(p.id)
    if lay.scheme == "dense":
        return
    if len(info.shape) not in (2, 3):
        raise BadInputError(f"{info.name}: {p.id} quantizes 2-D weight matrices (and 3-D expert stacks); a "
                            f"{len(info.shape)}-D tensor of shape {tuple(info.shape)} stays in higher precision")
    if not catalog.quantized_by(info, p):
        why = f"a {info.role} tensor" if info.role not in ("other",) else "this tensor"
        raise BadInputError(f"{info.name}: {p.id} does not apply to {why} ({p.keeps})")


def quantize(tensor: torch.Tensor, precision_id: str, *, info: TensorInfo | None = None,
             arch: Architecture | None = None, calibration: torch.Tensor | None = None,
             **options: Any) -> QuantizedTensor:
    """The tensor stored in a catalog precision, as the real format stores it (see formats/quantized.py).

    info: the tensor as the catalog sees it (name, role, kind, layer); default: an MLP weight of the tensor's shape
    (a 1-D tensor: a norm). arch: the model, for GGUF mixtures. calibration: input activations (tokens, in) for
    GPTQ / AWQ. options: codec options (e.g. symmetric=True for the int family).
    """
    p = catalog.get_precision(precision_id)
    lay = catalog.layout(p.id)
    name = info.name if info is not None else "tensor"
    check_tensor(tensor, name)
    shape = tuple(int(d) for d in tensor.shape)
    if info is None:
        info = default_info(shape)
    elif tuple(info.shape) != shape:
        raise BadInputError(f"{name}: tensor shape {shape} does not match the described shape {tuple(info.shape)}")
    check_applies(info, p)
    load_codecs()
    c = codec(lay.codec_name)
    unknown = sorted(set(options) - set(c.options))
    if unknown:
        known = ", ".join(c.options) or "none"
        raise BadInputError(f"{p.id}: unknown option(s) {', '.join(unknown)} (this format takes: {known})")
    w = tensor.detach()
    if w.device.type != "cpu":
        w = w.cpu()
    if w.dtype.itemsize == 8:
        w = w.float()
    w = w.contiguous()
    return c.quantize(w, QuantRequest(p, lay, info, arch, calibration, options))


def dequantize(q: QuantizedTensor) -> torch.Tensor:
    """The float32 tensor a QuantizedTensor stands for (shape q.shape)."""
    load_codecs()
    return codec(catalog.layout(q.precision).codec_name).dequantize(q)
