"""Bad input to quantize(): one-line BadInputError, nothing half done."""
from __future__ import annotations

import pytest
import torch

from quantcore.errors import BadInputError, UnknownPrecisionError
from quantcore.formats.quantize import quantize
from quantcore.model.inventory import TensorInfo

W = torch.randn(8, 64)


@pytest.mark.parametrize("tensor, message", [
    (torch.tensor([[1.0, float("nan")] * 32] * 4), "NaN/Inf"),
    (torch.tensor([[1.0, float("inf")] * 32] * 4), "NaN/Inf"),
    (torch.empty(0, 64), "empty"),
    (torch.ones(4, 64, dtype=torch.int32), "not a float tensor"),
    (torch.ones(4, 64, dtype=torch.int8), "not a float tensor"),
    ("not a tensor", "expected a torch tensor"),
])
def test_unusable_tensors(tensor, message):
    with pytest.raises(BadInputError, match=message) as err:
        quantize(tensor, "nf4")
    assert "\n" not in str(err.value)


def test_a_precision_that_does_not_apply():
    emb = TensorInfo("model.embed_tokens.weight", (8, 64), "F32", "embedding", "token_embd")
    with pytest.raises(BadInputError, match="embedding"):
        quantize(W, "nf4", info=emb)
    with pytest.raises(BadInputError, match="1-D"):
        quantize(torch.randn(64), "int4-g128")
    with pytest.raises(BadInputError, match="4-D"):
        quantize(torch.randn(2, 2, 4, 64), "fp8")


def test_options_shapes_and_ids():
    with pytest.raises(BadInputError, match="unknown option"):
        quantize(W, "nf4", symmetric=True)
    with pytest.raises(BadInputError, match="does not match"):
        quantize(W, "nf4", info=TensorInfo("x", (4, 4), "F32", "mlp", "ffn_up"))
    with pytest.raises(UnknownPrecisionError):
        quantize(W, "int9-g64")
