"""The planner's prediction for each measured case (shared by compare.py and the golden tests)."""
from __future__ import annotations

from typing import Any

from quantcore.model.arch import inventory_from_config
from quantcore.model.inventory import Architecture
from quantcore.planner.llamacpp_graph import compute_buffer_bytes
from quantcore.planner.memory import kv_cache_bytes, llamacpp_shape, memory_breakdown
from quantcore.planner.workload import Workload

_RECIPES = {"mixed": "bf16-mixed", "pure": "bf16-pure", "trainer": "hf-trainer"}


def hf_workload(case: dict[str, Any]) -> Workload:
    gpt2 = case["hf_config"].get("model_type") == "gpt2"
    if case["lora_targets"] == "all-linear":
        targets: tuple[str, ...] = ("all-linear",)
    elif gpt2:  # peft's c_attn, c_proj: the fused qkv, the attention output and the MLP's c_proj
        targets = ("attn_qkv", "attn_output", "ffn_down")
    else:
        targets = ("attn_q", "attn_k", "attn_v", "attn_output")
    return Workload(mode=case["mode"], batch=case["batch"], context=case["seq"], recompute=case["recompute"],
                    recipe=_RECIPES.get(case["recipe"], "bf16-mixed"), flash_attention=case["attn"] == "sdpa",
                    lora_rank=16, lora_targets=targets, engine="none", kv_dtype="bf16")


def hf_prediction(case: dict[str, Any]) -> dict[str, int]:
    """Predicted bytes for the measured quantities of one transformers case."""
    inv = inventory_from_config(case["hf_config"])
    w = hf_workload(case)
    pid = {"qlora": "nf4", "full": "fp32" if case["recipe"] == "fp32" else "bf16"}.get(case["mode"], "bf16")
    m = memory_breakdown(inv, pid, w)
    if case["mode"] == "inference":
        return {"kv_bytes": m.kv_cache, "peak_above_weights": m.kv_cache + m.activations,
                "param_bytes": m.weights}
    out = {"param_bytes": m.weights + m.adapters, "grad_bytes": m.gradients, "optimizer_bytes": m.optimizer,
           "peak": m.weights + m.adapters + m.optimizer + m.gradients + m.activations}
    if case["mode"] != "full":
        out["adapter_bytes"] = m.adapters
    return out


def gguf_arch(shape: dict[str, Any]) -> Architecture:
    hd = shape["n_embd"] // shape["n_head"]
    return Architecture(model_type=shape["arch"], num_layers=shape["n_layer"], hidden_size=shape["n_embd"],
                        num_heads=shape["n_head"], num_kv_heads=shape["n_head_kv"], head_dim=hd,
                        vocab_size=shape["n_vocab"], intermediate_size=shape["n_ff"],
                        tie_embeddings=shape.get("tied", False))


def llamacpp_prediction(case: dict[str, Any]) -> dict[str, int]:
    """Predicted compute buffer and KV cache (bytes) of one llama.cpp case."""
    arch = gguf_arch(case["shape"])
    n_ctx = case["n_ctx"]
    flash = case["flash_attn"] != "off"  # llama.cpp's "auto" resolves to enabled on CPU (and CUDA)
    compute = compute_buffer_bytes(llamacpp_shape(arch), min(case["n_ubatch"], n_ctx), n_ctx, flash)
    return {"compute": compute, "kv": kv_cache_bytes(arch, n_ctx, 1, "fp16")}
