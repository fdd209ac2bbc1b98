"""Generate golden tensor names/shapes for small MoE configs from transformers on the meta device (dev tool).

Usage: .venv/bin/python tests/golden/generate_shapes_moe.py --out tests/golden/shapes_moe.json
Each case is a tiny config exercising one structural switch (tying, biases, dense layers, q_lora_rank null,
sliding layers); the output maps case name -> {"config", "parameters": {name: shape}, "layer_types",
"sliding_window", "transformers_version"} so tests can check names, shapes and layer kinds without transformers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

_BASE = {"vocab_size": 100, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 4,
         "num_attention_heads": 4}
_MLA = {"kv_lora_rank": 10, "qk_rope_head_dim": 4, "qk_nope_head_dim": 6, "v_head_dim": 5, "n_routed_experts": 4,
        "moe_intermediate_size": 8, "num_experts_per_tok": 2}
CASES: dict[str, dict] = {
    "mixtral_sliding": {"model_type": "mixtral", "num_key_value_heads": 2, "num_local_experts": 4,
                        "num_experts_per_tok": 2, "sliding_window": 64},
    "mixtral_tied_head_dim": {"model_type": "mixtral", "num_key_value_heads": 2, "num_local_experts": 4,
                              "num_experts_per_tok": 2, "tie_word_embeddings": True, "head_dim": 6},
    "qwen2_moe_sparse_step": {"model_type": "qwen2_moe", "num_key_value_heads": 2, "num_experts": 4,
                              "num_experts_per_tok": 2, "moe_intermediate_size": 8,
                              "shared_expert_intermediate_size": 12, "decoder_sparse_step": 2,
                              "mlp_only_layers": [3]},
    "qwen2_moe_sliding_no_bias": {"model_type": "qwen2_moe", "num_key_value_heads": 2, "num_experts": 4,
                                  "num_experts_per_tok": 2, "moe_intermediate_size": 8,
                                  "shared_expert_intermediate_size": 12, "qkv_bias": False,
                                  "use_sliding_window": True, "sliding_window": 32, "max_window_layers": 3},
    "qwen3_moe_head_dim": {"model_type": "qwen3_moe", "num_key_value_heads": 2, "num_experts": 4,
                           "num_experts_per_tok": 2, "moe_intermediate_size": 8, "head_dim": 6},
    "qwen3_moe_bias_dense_first": {"model_type": "qwen3_moe", "num_key_value_heads": 2, "num_experts": 4,
                                   "num_experts_per_tok": 2, "moe_intermediate_size": 8, "attention_bias": True,
                                   "mlp_only_layers": [0]},
    "deepseek_v2_lite_like": dict(_MLA, model_type="deepseek_v2", n_shared_experts=2, q_lora_rank=None,
                                  first_k_dense_replace=1),
    "deepseek_v2_bias": dict(_MLA, model_type="deepseek_v2", n_shared_experts=1, q_lora_rank=12,
                             attention_bias=True, mlp_bias=True),
    "deepseek_v3_like": dict(_MLA, model_type="deepseek_v3", n_shared_experts=1, q_lora_rank=12,
                             first_k_dense_replace=1, n_group=2, topk_group=1),
    "deepseek_v3_no_q_lora": dict(_MLA, model_type="deepseek_v3", n_shared_experts=2, q_lora_rank=None,
                                  first_k_dense_replace=0, n_group=2, topk_group=1, attention_bias=True),
    "gpt_oss_default_layers": {"model_type": "gpt_oss", "num_key_value_heads": 2, "num_local_experts": 4,
                               "num_experts_per_tok": 2, "head_dim": 6},
    "gpt_oss_tied_no_bias": {"model_type": "gpt_oss", "num_key_value_heads": 2, "num_local_experts": 4,
                             "num_experts_per_tok": 2, "head_dim": 4, "attention_bias": False,
                             "tie_word_embeddings": True, "sliding_window": 16,
                             "layer_types": ["full_attention", "sliding_attention", "sliding_attention",
                                             "full_attention"]},
}


def snapshot(case: dict) -> dict:
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = dict(_BASE, **case)
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_config(config)
    return {"config": dict(cfg, model_type=model_type),
            "parameters": {n: list(p.shape) for n, p in model.named_parameters()},
            "layer_types": getattr(config, "layer_types", None),
            "sliding_window": getattr(config, "sliding_window", None),
            "transformers_version": transformers.__version__}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = Path(ap.parse_args(argv).out)
    data = {name: snapshot(case) for name, case in CASES.items()}
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, out)
    print(f"{out}: {len(data)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
