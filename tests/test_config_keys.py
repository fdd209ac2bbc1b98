"""Configs saved by transformers 5 (this venv's transformers) plan to the parameter count transformers itself builds:
attribute_map aliases, 5.x spellings (num_local_experts, rope_parameters, dtype) and multimodal text_config."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from quantcore.model.arch import inventory_from_config, supported_families  # noqa: E402
from quantcore.model.arch._keys import ATTRIBUTE_MAPS, with_aliases  # noqa: E402

_BASE = {"vocab_size": 128, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2}
_MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16}
# tiny configs, passed to transformers' config classes under their usual (often alias) names
TINY: dict[str, dict] = {
    "llama": {}, "mistral": {}, "qwen2": {}, "qwen3": {"head_dim": 8}, "gemma": {"head_dim": 8},
    "gemma2": {"head_dim": 8}, "gemma3_text": {"head_dim": 8}, "cohere": {}, "olmo": {}, "olmo2": {},
    "granite": {}, "starcoder2": {}, "phi3": {"pad_token_id": 0}, "phi": {}, "gpt_neox": {}, "opt": {"ffn_dim": 48},
    "falcon": {"new_decoder_architecture": True, "num_kv_heads": 2},
    "mixtral": _MOE, "qwen3_moe": _MOE, "gpt_oss": {**_MOE, "head_dim": 8},
    "qwen2_moe": {**_MOE, "shared_expert_intermediate_size": 24},
    "deepseek_v2": {**_MOE, "kv_lora_rank": 8, "q_lora_rank": 12, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4,
                    "v_head_dim": 8, "n_shared_experts": 1, "first_k_dense_replace": 1},
    "deepseek_v3": {**_MOE, "kv_lora_rank": 8, "q_lora_rank": 12, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4,
                    "v_head_dim": 8, "n_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 2,
                    "topk_group": 1},
    "gpt2": {}, "gptj": {"rotary_dim": 4}, "bloom": {}, "bert": {},
}


def _saved(config: object, tmp_path: Path) -> dict:
    """config.json exactly as transformers 5 writes it."""
    config.save_pretrained(tmp_path)  # type: ignore[attr-defined]
    return json.loads((tmp_path / "config.json").read_text())


def _transformers_count(config: object) -> int:
    from transformers import AutoModel, AutoModelForCausalLM

    auto = AutoModel if config.model_type == "bert" else AutoModelForCausalLM  # type: ignore[attr-defined]
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto.from_config(config)
    return sum(p.numel() for p in model.parameters())


def test_alias_table_is_transformers_attribute_map() -> None:
    from transformers import CONFIG_MAPPING

    for mt in supported_families():
        if mt in CONFIG_MAPPING:
            assert ATTRIBUTE_MAPS.get(mt, {}) == dict(CONFIG_MAPPING[mt].attribute_map), mt


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_config_saved_by_transformers_5_counts_like_transformers(model_type: str, tmp_path: Path) -> None:
    from transformers import AutoConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = AutoConfig.for_model(model_type, **_BASE, **TINY[model_type])
    data = _saved(config, tmp_path)
    assert inventory_from_config(data, model_type).parameters == _transformers_count(config)


def test_qwen3_moe_saved_by_transformers_5_spells_num_local_experts(tmp_path: Path) -> None:
    from transformers import Qwen3MoeConfig

    data = _saved(Qwen3MoeConfig(**_BASE, **_MOE), tmp_path)
    assert "num_local_experts" in data and "num_experts" not in data  # the 5.x spelling only
    inv = inventory_from_config(data, "qwen3_moe")
    assert inv.arch.num_experts == 4 and inv.arch.experts_per_token == 2
    legacy = {k: v for k, v in data.items() if k != "num_local_experts"} | {"num_experts": 4}  # a 4.x file
    assert inventory_from_config(legacy, "qwen3_moe").parameters == inv.parameters


def test_rope_parameters_and_dtype_spellings() -> None:
    cfg = with_aliases({"model_type": "llama", "rope_parameters": {"rope_type": "yarn", "rope_theta": 5e5,
                                                                    "factor": 8.0}, "dtype": "float16"})
    assert cfg["rope_theta"] == 5e5 and cfg["rope_scaling"]["rope_type"] == "yarn" and cfg["torch_dtype"] == "float16"


@pytest.mark.parametrize("outer", ["gemma3", "llava", "mistral3"])
def test_multimodal_config_plans_its_text_model(outer: str, tmp_path: Path) -> None:
    from transformers import AutoConfig

    inner_type = {"gemma3": "gemma3_text", "llava": "llama", "mistral3": "mistral"}[outer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = AutoConfig.for_model(inner_type, **_BASE, **TINY[inner_type])
        config = AutoConfig.for_model(outer, text_config=text.to_dict())
    data = _saved(config, tmp_path)
    assert isinstance(data["text_config"], dict)
    inv = inventory_from_config(data, outer)
    assert inv.parameters == _transformers_count(config.text_config)
    assert any("text model" in n for n in inv.notes) and inv.arch.model_type == inner_type
