"""config.json keys read the way transformers' config classes read them: attribute_map aliases, 4.x and 5.x
spellings, and the text model nested in a multimodal config (text_config)."""
from __future__ import annotations

from typing import Any

# model_type -> {alias: canonical attribute}: the `attribute_map` of transformers' config class (5.x). A config may
# spell a value either way (Qwen3-MoE's expert count is `num_experts` in 4.x files and `num_local_experts` in files
# saved by transformers 5); tests/test_config_keys.py checks this table against transformers' own classes.
ATTRIBUTE_MAPS: dict[str, dict[str, str]] = {
    "bloom": {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"},
    "deepseek_v2": {"num_experts": "n_routed_experts"},
    "deepseek_v3": {"num_local_experts": "n_routed_experts", "num_mtp_layers": "num_nextn_predict_layers"},
    "gpt2": {"hidden_size": "n_embd", "max_position_embeddings": "n_positions", "num_attention_heads": "n_head",
             "num_hidden_layers": "n_layer"},
    "gpt_oss": {"num_experts": "num_local_experts"},
    "gptj": {"max_position_embeddings": "n_positions", "hidden_size": "n_embd", "num_attention_heads": "n_head",
             "num_hidden_layers": "n_layer"},
    "mixtral": {"num_experts": "num_local_experts"},
    "qwen3_moe": {"num_experts": "num_local_experts"},
}
# Spellings that changed between transformers 4.x and 5.x for one value, tried in this order.
RENAMED: dict[str, tuple[str, ...]] = {
    "dtype": ("dtype", "torch_dtype"),  # 5.x saves `dtype`
}
# Multimodal model_type -> the model_type its text_config defaults to when it names none (transformers' defaults).
TEXT_DEFAULTS: dict[str, str] = {"gemma3": "gemma3_text", "llava": "llama", "llava_next": "llama",
                                 "mistral3": "mistral", "paligemma": "gemma", "qwen2_vl": "qwen2",
                                 "qwen2_5_vl": "qwen2", "idefics3": "llama", "aya_vision": "cohere"}
# Top-level keys a nested text model inherits when its own text_config leaves them out.
_INHERITED = ("dtype", "torch_dtype", "tie_word_embeddings", "quantization_config")


def with_aliases(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` where every attribute_map alias and its canonical key both hold the value given under
    either name (the canonical spelling wins if both are given), and renamed keys are present under each name."""
    out = dict(config)
    for alias, canonical in ATTRIBUTE_MAPS.get(str(config.get("model_type")), {}).items():
        value = out.get(canonical) if out.get(canonical) is not None else out.get(alias)
        if value is not None:
            out[canonical] = value
            out[alias] = value
    for names in RENAMED.values():
        value = next((out[n] for n in names if out.get(n) is not None), None)
        if value is not None:
            for n in names:
                out.setdefault(n, value)
                if out[n] is None:
                    out[n] = value
    rope = out.get("rope_parameters")
    if isinstance(rope, dict) and out.get("rope_theta") is None and "rope_theta" in rope:  # 5.x nests rope_theta
        out["rope_theta"] = rope["rope_theta"]
    if isinstance(rope, dict) and out.get("rope_scaling") is None and rope.get("rope_type") not in (None, "default"):
        out["rope_scaling"] = rope
    return out


def spelled_aliases(config: dict[str, Any]) -> list[str]:
    """The keys of attribute_map pairs a config gives under one name only (gpt2's `n_positions`): with_aliases
    copies their values to the other name, so they are checked under the name the file uses, for an error that
    names it."""
    aliases = ATTRIBUTE_MAPS.get(str(config.get("model_type")), {})
    out = []
    for alias, canonical in aliases.items():
        given = [k for k in (canonical, alias) if config.get(k) is not None]
        if len(given) == 1:
            out.append(given[0])
    return out


def text_model(config: dict[str, Any], supported: set[str]) -> tuple[dict[str, Any], str] | None:
    """(the text model's config, a note) for a multimodal config whose model_type we do not build but whose
    text_config (or its transformers default) we do; None otherwise."""
    inner = config.get("text_config")
    outer = str(config.get("model_type"))
    if not isinstance(inner, dict):
        return None
    inner = dict(inner)
    inner.setdefault("model_type", TEXT_DEFAULTS.get(outer))
    if not isinstance(inner.get("model_type"), str) or inner["model_type"] not in supported:
        return None  # a model_type that is not text (a list, a number) names nothing we build
    for key in _INHERITED:
        if inner.get(key) is None and config.get(key) is not None:
            inner[key] = config[key]
    note = (f"multimodal config ({outer}): planned its text model (text_config, model_type "
            f"{inner['model_type']}); the vision / audio towers and projector are not counted")
    return inner, note
