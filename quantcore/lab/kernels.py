"""A quantized linear layer that runs on a device the way the format really runs there: a native int8 or fp8
matmul where the device has one (torch._int_mm, torch._scaled_mm), a native 16-bit matmul for float casts, and
otherwise dequantize-then-matmul; it holds only the format's stored tensors and says which path ran."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from quantcore.formats import catalog
from quantcore.formats.quantize import dequantize
from quantcore.formats.quantized import QuantizedTensor
from quantcore.lab.metrics import LLM_INT8_THRESHOLD

if TYPE_CHECKING:
    import torch

NATIVE_INT8 = "native int8 matmul (torch._int_mm)"
NATIVE_FP8 = "native fp8 matmul (torch._scaled_mm)"
DEQUANT = "dequantize-then-matmul"
FP32 = "fp32 matmul (original weights)"


def _native_fallback_reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def build_linear(q: QuantizedTensor, bias: torch.Tensor | None, device: torch.device,
                 int8_threshold: float = LLM_INT8_THRESHOLD, native: bool = True) -> Any:
    """A QuantLinear holding copies of q's stored tensors on `device` (as a loader would hold them)."""
    return _class()(q, bias, device, int8_threshold, native)


def reference_linear(weight: torch.Tensor, bias: torch.Tensor | None, device: torch.device) -> Any:
    """The original layer in float32 on the device (the reference every precision is compared with)."""
    return _class_ref()(weight, bias, device)


_CACHE: dict[str, type] = {}


def _class_ref() -> type:
    if "ref" in _CACHE:
        return _CACHE["ref"]
    import torch

    class ReferenceLinear(torch.nn.Module):
        def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, device: torch.device) -> None:
            super().__init__()
            self.register_buffer("weight", weight.to(device=device, dtype=torch.float32, copy=True))
            self.register_buffer("bias", None if bias is None else bias.to(device=device, dtype=torch.float32,
                                                                                copy=True))
            self.path = FP32
            self.in_features = weight.shape[-1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.linear(x, self.weight, self.bias)

        def held(self) -> list[torch.Tensor]:
            return [self.weight]

    _CACHE["ref"] = ReferenceLinear
    return ReferenceLinear


def _class() -> type:
    if "q" in _CACHE:
        return _CACHE["q"]
    import torch

    class QuantLinear(torch.nn.Module):
        """y = x W^T + b with W stored in a catalog precision; `path` names the kernel that ran last."""

        def __init__(self, q: QuantizedTensor, bias: torch.Tensor | None, device: torch.device,
                     int8_threshold: float, native: bool) -> None:
            super().__init__()
            if len(q.shape) != 2:
                raise ValueError("QuantLinear takes a 2-D weight")
            self.out_features, self.in_features = q.shape
            self.device = device
            self.q = replace(q, stored={k: v.to(device, copy=True) for k, v in q.stored.items()})
            self.bias = None if bias is None else bias.to(device=device, dtype=torch.float32, copy=True)
            self.codec = catalog.layout(q.precision).codec_name
            self.threshold = int8_threshold
            self.native = native
            self.note = ""
            self.path = self._initial_path()

        def held(self) -> list[torch.Tensor]:
            """The format's stored tensors this layer holds (their storages are the measured bytes)."""
            return list(self.q.stored.values())

        def _initial_path(self) -> str:
            if self.codec == "cast":
                return f"native {str(self.q.stored['weight'].dtype).removeprefix('torch.')} matmul"
            if self.native and self.codec == "int8":
                return NATIVE_INT8
            if self.native and self.codec == "fp8":
                return NATIVE_FP8
            return DEQUANT

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shape = x.shape
            x2 = x.reshape(-1, self.in_features).to(torch.float32)
            if self.path == NATIVE_INT8:
                y = self._try(self._int8, x2)
            elif self.path == NATIVE_FP8:
                y = self._try(self._fp8, x2)
            elif self.codec == "cast":
                w = self.q.stored["weight"]
                y = torch.nn.functional.linear(x2.to(w.dtype), w).to(torch.float32)
            else:
                y = self._dequant(x2)
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(*shape[:-1], self.out_features)

        def _try(self, fn: Any, x: torch.Tensor) -> torch.Tensor:
            try:
                return fn(x)
            except (RuntimeError, NotImplementedError, ValueError) as exc:
                self.note = f"{self.path} unavailable here ({_native_fallback_reason(exc)})"
                self.path = DEQUANT
                return self._dequant(x)

        def _weight(self) -> torch.Tensor:
            try:
                return dequantize(self.q).to(self.device)
            except (RuntimeError, NotImplementedError) as exc:  # a codec whose dequantizer runs on the CPU only
                self.note = f"dequantized on the CPU ({_native_fallback_reason(exc)})"
                cpu = replace(self.q, stored={k: v.cpu() for k, v in self.q.stored.items()})
                return dequantize(cpu).to(self.device)

        def _dequant(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.linear(x, self._weight())

        def _int8(self, x: torch.Tensor) -> torch.Tensor:
            """LLM.int8(): activations int8 per row (vector-wise), int32 accumulation; input columns holding a
            magnitude >= threshold go through a float matmul with the dequantized weight columns (bitsandbytes'
            MatMul8bitLt with llm_int8_threshold)."""
            cb, scb = self.q.stored["weight"], self.q.stored["SCB"]
            outliers = None
            if self.threshold > 0:
                cols = (x.abs() >= self.threshold).any(dim=0)
                if bool(cols.any()):
                    outliers = cols.nonzero().flatten()
                    x = x.clone()
                    xo = x[:, outliers]
                    x[:, outliers] = 0
            sx = x.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
            xq = torch.round(x / sx).clamp_(-127, 127).to(torch.int8)
            rows = xq.shape[0]
            if self.device.type == "cuda":  # cuBLASLt int8: more than 16 rows, dims multiples of 8
                pad = max(17, -(-rows // 8) * 8) - rows
                if pad:
                    xq = torch.nn.functional.pad(xq, (0, 0, 0, pad))
            acc = torch._int_mm(xq, cb.t())[:rows]
            y = acc.to(torch.float32) * sx * (scb.to(torch.float32) / 127.0)
            if outliers is not None:
                w_cols = cb[:, outliers].to(torch.float32) * (scb.view(-1, 1) / 127.0)
                y = y + xo @ w_cols.t()
                self.note = f"LLM.int8() outliers (|x| >= {self.threshold:g}): {outliers.numel()} input columns " \
                            "in fp32"
            else:
                self.note = ""
            return y

        def _fp8(self, x: torch.Tensor) -> torch.Tensor:
            """FP8 E4M3 activations with one scale per row against the stored E4M3 weight and its row scales."""
            w, ws = self.q.stored["weight"], self.q.stored["weight_scale"]
            if self.device.type == "cuda":
                major, minor = torch.cuda.get_device_capability(self.device)
                if (major, minor) < (8, 9):
                    raise RuntimeError(f"compute capability {major}.{minor} has no fp8 tensor cores (needs 8.9+)")
            sx = x.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 448.0
            xq = (x / sx).clamp_(-448.0, 448.0).to(torch.float8_e4m3fn)
            return torch._scaled_mm(xq, w.t(), scale_a=sx.to(torch.float32),
                                    scale_b=ws.reshape(1, -1).to(torch.float32), out_dtype=torch.float32)

    _CACHE["q"] = QuantLinear
    return QuantLinear
