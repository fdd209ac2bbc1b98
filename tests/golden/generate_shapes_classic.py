"""Generate golden tensor names and shapes for the classic families from transformers on the meta device (dev tool).

Usage: .venv/bin/python tests/golden/generate_shapes_classic.py --out tests/golden/shapes_classic.json
Each case is a bundled config cut to 2 layers, or one with a layout switch flipped (serial Falcon, OPT without
biases, GPT-2 with cross-attention, ...). Output: case -> {"config", "transformers_class", "transformers_version",
"parameters": {name: shape}} from named_parameters(), which lists a tied weight once.
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

# case -> (bundled file stem, overrides applied after cutting the model to 2 layers)
CASES: dict[str, tuple[str, dict]] = {
    "falcon-7b": ("tiiuae--falcon-7b", {}),
    "falcon-40b": ("tiiuae--falcon-40b", {}),
    "falcon-serial": ("tiiuae--falcon-7b", {"parallel_attn": False}),
    "falcon-mha-bias-untied": ("tiiuae--falcon-7b", {"multi_query": False, "bias": True,
                                                     "tie_word_embeddings": False, "ffn_hidden_size": 1000}),
    "falcon-7b-two-ln": ("tiiuae--falcon-7b", {"num_ln_in_parallel_attn": 2}),
    "falcon-40b-one-ln": ("tiiuae--falcon-40b", {"num_ln_in_parallel_attn": 1}),
    "bloom-560m": ("bigscience--bloom-560m", {}),
    "bloom-176b-n_embed": ("bigscience--bloom", {}),
    "bloom-untied": ("bigscience--bloom-560m", {"tie_word_embeddings": False}),
    "opt-125m": ("facebook--opt-125m", {}),
    "opt-350m": ("facebook--opt-350m", {}),
    "opt-350m-untied": ("facebook--opt-350m", {"tie_word_embeddings": False}),
    "opt-plain": ("facebook--opt-125m", {"tie_word_embeddings": False, "enable_bias": False,
                                          "layer_norm_elementwise_affine": False}),
    "opt-remove-final-ln": ("facebook--opt-125m", {"_remove_final_layer_norm": True}),
    "gpt2": ("openai-community--gpt2", {}),
    "gpt2-cross-inner-untied": ("openai-community--gpt2", {"add_cross_attention": True, "n_inner": 1000,
                                                            "tie_word_embeddings": False, "n_positions": 77}),
    "pythia-1b": ("EleutherAI--pythia-1b", {}),
    "neox-tied-no-bias": ("EleutherAI--pythia-1b", {"tie_word_embeddings": True, "attention_bias": False}),
    "bert-base": ("google-bert--bert-base-uncased", {}),
    "bert-decoder-cross": ("google-bert--bert-base-uncased", {"is_decoder": True, "add_cross_attention": True,
                                                              "type_vocab_size": 5}),
}


def case_config(stem: str, overrides: dict) -> dict:
    cfg = dict(json.loads((MODELS / f"{stem}.json").read_text())["config"])
    for key in ("num_hidden_layers", "n_layer"):
        if key in cfg:
            cfg[key] = 2
    cfg.update(overrides)
    return cfg


def shapes_with_transformers(config_dict: dict) -> tuple[dict[str, list[int]], str]:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    cfg = dict(config_dict)
    model_type = cfg.pop("model_type")
    auto = AutoModel if model_type == "bert" else AutoModelForCausalLM
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto.from_config(AutoConfig.for_model(model_type, **cfg))
    return {n: list(p.shape) for n, p in model.named_parameters()}, type(model).__name__


def main(argv: list[str]) -> int:
    import transformers

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    data = {}
    for case, (stem, overrides) in CASES.items():
        cfg = case_config(stem, overrides)
        shapes, cls = shapes_with_transformers(cfg)
        data[case] = {"config": cfg, "transformers_class": cls,
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
