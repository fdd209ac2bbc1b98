"""Tooltips' formulas: the numbers they multiply give the engine's bytes, so the explanation cannot drift."""
from __future__ import annotations

import re

from quantcore.planner import memory
from quantcore.planner.explain import explain
from quantcore.planner.workload import Workload
from quantcore.sources.source import load_model


def test_kv_formula_multiplies_to_the_engine_bytes() -> None:
    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    w = Workload(batch=2, context=8192)
    text = explain(inv, "bf16", w)["kv_cache"]
    kv = memory.kv_cache_bytes(inv.arch, 8192, 2, "fp16")
    # 2 x 8 x 128 x 2 B x batch 2 x (32 layers x 8192 tokens)
    assert "8 KV heads" in text and "128 head_dim" in text and "32 full layers" in text
    assert 2 * 8 * 128 * 2 * 2 * (32 * 8192) == kv and f"{kv:,} B" in text


def test_sliding_and_mla_are_explained() -> None:
    gemma = load_model("google/gemma-2-9b", use_hub=False)
    text = explain(gemma, "bf16", Workload(context=8192))["kv_cache"]
    assert "21 sliding-window layers x 4,096 tokens" in text and "21 full layers x 8,192 tokens" in text
    kv = memory.kv_cache_bytes(gemma.arch, 8192, 1, "fp16")
    assert f"{kv:,} B" in text
    ds = load_model("deepseek-ai/DeepSeek-V3", use_hub=False)
    assert "latent 512 + rope 64" in explain(ds, "fp8", Workload())["kv_cache"]


def test_weights_explanation_states_bytes_and_kept_tensors() -> None:
    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    text = explain(inv, "nf4", Workload())["weights"]
    assert "kept in higher precision" in text and "bits per weight" in text
    assert re.search(r"224 tensors", text)  # 32 layers x 7 projections are quantized; embeddings/norms/head kept
