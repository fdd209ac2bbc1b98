"""A QuantizedTensor as the tensors a checkpoint file holds under the weight's name (transformers / bnb layouts)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from quantcore.formats.quantized import QuantizedTensor

if TYPE_CHECKING:
    import torch


def module_prefix(name: str) -> str:
    """'encoder.layer.3.intermediate.dense.weight' -> 'encoder.layer.3.intermediate.dense.'; a name that does not
    end in 'weight' (fused expert stacks) keeps itself as the prefix."""
    return name[: -len("weight")] if name.endswith("weight") else name + "."


def file_tensors(name: str, q: QuantizedTensor) -> dict[str, torch.Tensor]:
    """The tensors to write for weight `name` stored as q: q.stored under the module prefix, plus what the real
    format keeps beside them. bitsandbytes 4-bit: the non-tensor quant state (and the nested offset) packed as the
    JSON uint8 tensor 'weight.quant_state.bitsandbytes__<type>' exactly as QuantState.as_dict(packed=True) does, so
    bitsandbytes.functional.QuantState.from_dict reads it back; LLM.int8(): 'weight_format' (0 = row)."""
    import torch

    prefix = module_prefix(name)
    stored = dict(q.stored)
    out: dict[str, torch.Tensor] = {}
    if "weight.nested_offset" in stored and "quant_type" in q.meta:
        offset = stored.pop("weight.nested_offset")
        qt = q.meta["quant_type"]
        packed = {"quant_type": qt, "blocksize": int(q.meta["blocksize"]), "dtype": q.meta["dtype"],
                  "shape": list(q.shape), "nested_blocksize": int(q.meta["nested_blocksize"]),
                  "nested_dtype": q.meta["nested_dtype"], "nested_offset": float(offset.item())}
        blob = json.dumps(packed).encode("utf-8")
        stored[f"weight.quant_state.bitsandbytes__{qt}"] = torch.frombuffer(bytearray(blob), dtype=torch.uint8)
    if q.meta.get("weight_format") == "row":
        stored["weight_format"] = torch.tensor(0, dtype=torch.uint8)
    for key, t in stored.items():
        out[name if key == "weight" else prefix + key] = t
    return out
