"""The planner's prediction for each measured case (used by compare.py and by tests/test_accuracy_golden.py).

Works with the current quantcore and, for the "before" column of BENCHMARKS.md, with an older checkout whose
Workload has no recipe / ubatch fields and whose llama.cpp line was the generic prefill estimate.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from quantcore.model.arch import inventory_from_config
from quantcore.model.inventory import Architecture, Inventory
from quantcore.planner import memory
from quantcore.planner.workload import Workload

_RECIPES = {"mixed": "bf16-mixed", "pure": "bf16-pure", "trainer": "hf-trainer"}
_FIELDS = {f.name for f in dataclasses.fields(Workload)}


def workload(**kw: Any) -> Workload:
    """A Workload from the fields this quantcore knows (older ones lack recipe, ubatch, ...)."""
    return Workload(**{k: v for k, v in kw.items() if k in _FIELDS})


def hf_workload(case: dict[str, Any]) -> Workload:
    gpt2 = case["hf_config"].get("model_type") == "gpt2"
    if case["lora_targets"] == "all-linear":
        targets: tuple[str, ...] = ("all-linear",)
    elif gpt2:  # peft's c_attn, c_proj: the fused qkv, the attention output and the MLP's c_proj
        targets = ("attn_qkv", "attn_output", "ffn_down")
    else:
        targets = ("attn_q", "attn_k", "attn_v", "attn_output")
    return workload(mode=case["mode"], batch=case["batch"], context=case["seq"], recompute=case["recompute"],
                    recipe=_RECIPES.get(case["recipe"], "bf16-mixed"), flash_attention=case["attn"] == "sdpa",
                    lora_rank=16, lora_targets=targets, engine="none", kv_dtype="bf16")


def hf_prediction(case: dict[str, Any]) -> dict[str, int]:
    """Predicted bytes for the measured quantities of one transformers case."""
    inv = inventory_from_config(case["hf_config"])
    w = hf_workload(case)
    pid = {"qlora": "nf4"}.get(case["mode"], "bf16")
    m = memory.memory_breakdown(inv, pid, w)
    if case["mode"] == "inference":
        return {"param_bytes": m.weights, "kv_bytes": m.kv_cache, "activations": m.activations,
                "peak_above_weights": m.kv_cache + m.activations, "process_peak_above_weights": m.kv_cache + m.activations}
    out = {"param_bytes": m.weights + m.adapters, "grad_bytes": m.gradients, "optimizer_bytes": m.optimizer,
           "peak": m.weights + m.adapters + m.optimizer + m.gradients + m.activations}
    out["process_peak"] = out["peak"]
    if case["mode"] != "full":
        out["adapter_bytes"] = m.adapters
    return out


def gguf_arch(shape: dict[str, Any]) -> Architecture:
    hd = shape["n_embd"] // shape["n_head"]
    return Architecture(model_type=shape["arch"], num_layers=shape["n_layer"], hidden_size=shape["n_embd"],
                        num_heads=shape["n_head"], num_kv_heads=shape["n_head_kv"], head_dim=hd,
                        vocab_size=shape["n_vocab"], intermediate_size=shape["n_ff"],
                        tie_embeddings=shape.get("tied", False), num_experts=shape.get("n_expert", 0),
                        experts_per_token=shape.get("n_expert_used", 0),
                        moe_intermediate_size=shape["n_ff"] if shape.get("n_expert") else 0)


def llamacpp_prediction(case: dict[str, Any]) -> dict[str, int]:
    """Predicted compute buffer and KV cache (bytes) of one llama.cpp case, through memory_breakdown."""
    arch = gguf_arch(case["shape"])
    inv = Inventory(id=case["shape"]["name"], source="gguf", tensors=(), arch=arch)
    flash = case["flash_attn"] != "off"  # llama.cpp's "auto" resolves to enabled on CPU (and CUDA)
    w = workload(engine="llamacpp", context=case["n_ctx"], batch=1, flash_attention=flash, kv_dtype="fp16",
                 ubatch=case["n_ubatch"], overhead_bytes=0)
    m = memory.memory_breakdown(inv, "fp16", w)
    return {"compute": m.activations, "kv": m.kv_cache}
