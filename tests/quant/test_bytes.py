"""Bytes written == bytes the catalog predicts, for every precision id and several shapes (the engine's contract)."""
from __future__ import annotations

import pytest
import torch

from quantcore.errors import BadInputError
from quantcore.formats import catalog
from quantcore.formats.quantize import available, dequantize, quantize
from quantcore.model.inventory import TensorInfo

IDS = catalog.precision_ids()
# rows and columns that are and are not multiples of every block size; a 3-D MoE expert stack
SHAPES = [(64, 256), (37, 300), (16, 512), (4, 48, 192), (3, 24, 100)]
FAMILY_IDS = ["gptq-4bit-g32", "gptq-4bit-nogroup", "gptq-8bit-g128", "awq-4bit-g64", "int4-g64", "int8-g32",
              "int5-g256", "int3-g16"]


def info_for(shape: tuple[int, ...]) -> TensorInfo:
    kind = "ffn_up_exps" if len(shape) == 3 else "ffn_up"
    return TensorInfo("model.layers.0.mlp.up_proj.weight", shape, "F32", "expert" if len(shape) == 3 else "mlp",
                      kind, layer=0)


def _needs_calibration(pid: str) -> bool:
    return catalog.get_precision(pid).family in ("gptq", "awq")


def _quantized(pid: str, w: torch.Tensor, info: TensorInfo):
    if not available(pid):
        pytest.skip(f"{pid}: codec '{catalog.layout(pid).codec_name}' is not registered in this build yet")
    kw = {}
    if _needs_calibration(pid):
        g = torch.Generator().manual_seed(1)
        kw["calibration"] = torch.randn(64, w.shape[-1], generator=g)
    return quantize(w, pid, info=info, **kw)


def test_the_catalog_lists_the_23_ids_of_the_design():
    assert len(IDS) == 23


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("pid", list(IDS) + FAMILY_IDS)
def test_bytes_written_equal_bytes_predicted(pid, shape):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    info = info_for(shape)
    q = _quantized(pid, w, info)
    assert q.precision == catalog.get_precision(pid).id
    assert q.shape == shape
    assert q.nbytes == catalog.tensor_bytes(info, catalog.get_precision(pid)), q.stored.keys()
    back = dequantize(q)
    assert back.shape == w.shape and back.dtype == torch.float32
    assert torch.isfinite(back).all()


@pytest.mark.parametrize("pid", ["fp32", "fp16", "bf16"])
def test_dense_formats_take_1d_tensors_at_their_predicted_bytes(pid):
    info = TensorInfo("model.norm.weight", (300,), "F32", "norm", "norm")
    q = quantize(torch.randn(300), pid, info=info)
    assert q.nbytes == catalog.tensor_bytes(info, catalog.get_precision(pid))


@pytest.mark.parametrize("pid", [p for p in IDS if catalog.layout(p).scheme != "dense"])
def test_quantized_formats_refuse_1d_tensors(pid):
    info = TensorInfo("model.norm.weight", (300,), "F32", "norm", "norm")
    with pytest.raises(BadInputError, match="model.norm.weight"):
        quantize(torch.randn(300), pid, info=info)
