"""Generate golden tensor names and shapes for the assorted families from transformers on the meta device (dev tool).

Usage: .venv/bin/python tests/golden/generate_shapes_assorted.py --out tests/golden/shapes_assorted.json
Each case is a bundled config cut to 2 layers (so the file stays small), optionally with switches flipped (biases,
qk-norms, tying, grouped kv heads, explicit head_dim, n_inner). Output: case -> {"stem", "overrides",
"transformers_class", "transformers_version", "parameters": {name: shape}} from named_parameters(), which lists a
tied weight once. Tests rebuild each config from the bundle + overrides, so the config itself is not repeated here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "resources" / "models"

_SMALL = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
          "vocab_size": 32100}  # above Phi3Config's default pad_token_id 32000

# case -> (bundled file stem, overrides applied after cutting the model to 2 layers), or (None, the whole config):
# the "-defaults" cases give only the sizes, so every switch takes the config class's own default.
CASES: dict[str, tuple[str | None, dict]] = {
    "command-r": ("CohereForAI--c4ai-command-r-v01", {}),
    "cohere-qk-norm-bias-untied-gqa": ("CohereForAI--c4ai-command-r-v01", {
        "use_qk_norm": True, "attention_bias": True, "tie_word_embeddings": False, "num_key_value_heads": 8}),
    "cohere-head-dim": ("CohereForAI--c4ai-command-r-v01", {"head_dim": 96, "use_qk_norm": True}),
    "olmo-7b-0424": ("allenai--OLMo-7B-0424-hf", {}),
    "olmo-1b-tied": ("allenai--OLMo-1B-hf", {}),
    "olmo-bias-gqa": ("allenai--OLMo-1B-hf", {"attention_bias": True, "num_key_value_heads": 4}),
    "olmo2-7b": ("allenai--OLMo-2-1124-7B", {}),
    "olmo2-gqa-bias-tied": ("allenai--OLMo-2-1124-7B", {
        "num_key_value_heads": 8, "attention_bias": True, "tie_word_embeddings": True}),
    "granite-8b": ("ibm-granite--granite-3.0-8b-base", {}),
    "granite-biases-untied": ("ibm-granite--granite-3.0-8b-base", {
        "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": False}),
    "starcoder2-3b": ("bigcode--starcoder2-3b", {}),
    "starcoder2-no-bias-untied": ("bigcode--starcoder2-7b", {"use_bias": False, "tie_word_embeddings": False}),
    "phi3-mini": ("microsoft--Phi-3-mini-4k-instruct", {}),
    "phi3-medium-gqa": ("microsoft--Phi-3-medium-4k-instruct", {}),
    "phi3-head-dim-tied": ("microsoft--Phi-3-mini-4k-instruct", {
        "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 96, "tie_word_embeddings": True}),
    "phi-2": ("microsoft--phi-2", {}),
    "phi-qk-layernorm-gqa-tied": ("microsoft--phi-2", {
        "qk_layernorm": True, "num_key_value_heads": 8, "tie_word_embeddings": True}),
    "gpt-j-6b": ("EleutherAI--gpt-j-6b", {}),
    "gptj-inner-tied": ("EleutherAI--gpt-j-6b", {"n_inner": 1000, "tie_word_embeddings": True}),
    **{f"{mt}-defaults": (None, {"model_type": mt, **_SMALL})
       for mt in ("cohere", "olmo", "olmo2", "granite", "starcoder2", "phi3", "phi")},
    "gptj-defaults": (None, {"model_type": "gptj", "n_embd": 256, "n_layer": 2, "n_head": 8, "vocab_size": 32100}),
}


def case_config(stem: str | None, overrides: dict) -> dict:
    if stem is None:
        return dict(overrides)
    cfg = dict(json.loads((MODELS / f"{stem}.json").read_text())["config"])
    for key in ("num_hidden_layers", "n_layer"):
        if key in cfg:
            cfg[key] = 2
    cfg.update(overrides)
    return cfg


def shapes_with_transformers(config_dict: dict) -> tuple[dict[str, list[int]], str]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = dict(config_dict)
    model_type = cfg.pop("model_type")
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **cfg))
    return {n: list(p.shape) for n, p in model.named_parameters()}, type(model).__name__


def main(argv: list[str]) -> int:
    import transformers

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    data = {}
    for case, (stem, overrides) in CASES.items():
        shapes, cls = shapes_with_transformers(case_config(stem, overrides))
        data[case] = {"stem": stem, "overrides": overrides, "transformers_class": cls,
                      "transformers_version": transformers.__version__, "parameters": shapes}
        print(f"{case}: {len(shapes)} tensors ({cls})", flush=True)
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
