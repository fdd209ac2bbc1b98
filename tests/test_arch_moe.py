"""Mixture-of-experts families from config.json against transformers' own counts and the publishers' figures."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from quantcore.errors import ModelFileError
from quantcore.model.arch import inventory_from_config, supported_families
from quantcore.model.inventory import Inventory

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"
# Golden counts: sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters()) on the meta device
# (tests/golden/generate_counts.py); shapes_moe.json: named_parameters() of tiny configs (generate_shapes_moe.py).
COUNTS = json.loads((ROOT / "tests" / "golden" / "counts_moe.json").read_text())
SHAPES = json.loads((ROOT / "tests" / "golden" / "shapes_moe.json").read_text())

FILES = {
    "mistralai/Mixtral-8x7B-v0.1": "mistralai--Mixtral-8x7B-v0.1.json",
    "mistralai/Mixtral-8x22B-v0.1": "mistralai--Mixtral-8x22B-v0.1.json",
    "Qwen/Qwen1.5-MoE-A2.7B": "Qwen--Qwen1.5-MoE-A2.7B.json",
    "Qwen/Qwen3-30B-A3B": "Qwen--Qwen3-30B-A3B.json",
    "Qwen/Qwen3-235B-A22B": "Qwen--Qwen3-235B-A22B.json",
    "deepseek-ai/DeepSeek-V2-Lite": "deepseek-ai--DeepSeek-V2-Lite.json",
    "deepseek-ai/DeepSeek-V3": "deepseek-ai--DeepSeek-V3.json",
    "openai/gpt-oss-20b": "openai--gpt-oss-20b.json",
    "openai/gpt-oss-120b": "openai--gpt-oss-120b.json",
}

# Half a unit of the last digit each publisher gave (bundle "published_source" quotes the wording).
TOTAL_TOLERANCE = {
    "mistralai/Mixtral-8x7B-v0.1": 0,  # Hub safetensors metadata: 46,702,792,704 exactly
    "mistralai/Mixtral-8x22B-v0.1": 0.5e9,  # Mistral AI: "141B"
    "Qwen/Qwen1.5-MoE-A2.7B": 0.05e9,  # model card: "14.3B"
    "Qwen/Qwen3-30B-A3B": 0.05e9,  # model card: "30.5B"
    "Qwen/Qwen3-235B-A22B": 0.5e9,  # model card: "235B"
    "deepseek-ai/DeepSeek-V2-Lite": 0.05e9,  # model card: "15.7B"
    "deepseek-ai/DeepSeek-V3": 0.5e9,  # model card: "671B" (the Hub's 685B add the MTP module)
    "openai/gpt-oss-20b": 0.005e9,  # gpt-oss model card, Table 1: "20.91B"
    "openai/gpt-oss-120b": 0.005e9,  # gpt-oss model card, Table 1: "116.83B"
}


def bundle(model_id: str) -> dict:
    return json.loads((MODELS / FILES[model_id]).read_text())


def inventory(model_id: str) -> Inventory:
    return inventory_from_config(bundle(model_id)["config"], model_id)


def embedding(inv: Inventory) -> int:
    return sum(t.numel for t in inv.tensors if t.kind == "token_embd")


def test_families_registered() -> None:
    assert {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt_oss"} <= set(supported_families())


@pytest.mark.parametrize("model_id", sorted(FILES))
def test_parameters_equal_transformers(model_id: str) -> None:
    assert inventory(model_id).parameters == COUNTS[model_id]["transformers_parameters"]


@pytest.mark.parametrize("model_id", sorted(FILES))
def test_parameters_agree_with_publisher(model_id: str) -> None:
    published = bundle(model_id)["published_parameters"]
    assert published is not None
    assert abs(inventory(model_id).parameters - published) <= TOTAL_TOLERANCE[model_id]


@pytest.mark.parametrize(
    ("model_id", "low", "high", "drop_embedding"),
    [
        # Mistral AI, "Mixtral of experts": "uses 12.9B parameters per token" (embeddings included)
        ("mistralai/Mixtral-8x7B-v0.1", 12.85e9, 12.95e9, False),
        # Mistral AI, Mixtral 8x22B announcement: "39B active parameters"
        ("mistralai/Mixtral-8x22B-v0.1", 38.5e9, 39.5e9, False),
        # Qwen1.5-MoE-A2.7B model card: "2.7B activated parameters"
        ("Qwen/Qwen1.5-MoE-A2.7B", 2.65e9, 2.75e9, False),
        # Qwen3-30B-A3B model card: "3.3B activated" (Qwen truncates: 3.35B reads 3.3B, as 30.53B reads 30.5B)
        ("Qwen/Qwen3-30B-A3B", 3.3e9, 3.4e9, False),
        # Qwen3-235B-A22B model card: "22B activated"
        ("Qwen/Qwen3-235B-A22B", 21.5e9, 22.5e9, False),
        # DeepSeek-V2-Lite model card: "2.4B activated"; DeepSeek counts without the input embedding table
        # (2.45B; with it, 2.66B could not read 2.4B) and truncates like Qwen
        ("deepseek-ai/DeepSeek-V2-Lite", 2.4e9, 2.5e9, True),
        # DeepSeek-V3 report: "37B activated for each token" (same convention as V2-Lite)
        ("deepseek-ai/DeepSeek-V3", 36.5e9, 37.5e9, True),
        # gpt-oss model card, Table 1: active 3.61B / 5.13B, which leave out the embedding (unembedding counted)
        ("openai/gpt-oss-20b", 3.605e9, 3.615e9, True),
        ("openai/gpt-oss-120b", 5.125e9, 5.135e9, True),
    ],
)
def test_active_parameters_agree_with_publisher(model_id: str, low: float, high: float,
                                                drop_embedding: bool) -> None:
    inv = inventory(model_id)
    active = inv.active_parameters - (embedding(inv) if drop_embedding else 0)
    assert low <= active < high


def test_gpt_oss_components_match_model_card() -> None:
    # gpt-oss model card, Table 1 (120b): MLP 114.71B, attention 0.96B, embed + unembed 1.16B
    inv = inventory("openai/gpt-oss-120b")
    by_role: dict[str, int] = {}
    for t in inv.tensors:
        by_role[t.role] = by_role.get(t.role, 0) + t.numel
    mlp = by_role["expert"] + by_role["router"]
    assert abs(mlp - 114.71e9) < 0.005e9
    assert abs(by_role["attention"] - 0.96e9) < 0.005e9
    assert abs(by_role["embedding"] + by_role["head"] - 1.16e9) < 0.005e9


@pytest.mark.parametrize("model_id", sorted(FILES))
def test_architecture_facts_follow_config(model_id: str) -> None:
    cfg = bundle(model_id)["config"]
    arch = inventory(model_id).arch
    assert arch is not None and arch.model_type == cfg["model_type"]
    assert arch.num_layers == cfg["num_hidden_layers"]
    assert arch.vocab_size == cfg["vocab_size"]
    assert arch.max_context == cfg["max_position_embeddings"]
    assert arch.experts_per_token == cfg["num_experts_per_tok"]
    assert arch.num_experts == (cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts"))
    assert arch.tie_embeddings is False
    if "kv_lora_rank" in cfg:  # MLA: the cache holds one latent per token; every head reads it
        assert arch.num_kv_heads == arch.num_heads == cfg["num_attention_heads"]
        assert (arch.kv_lora_rank, arch.qk_rope_head_dim) == (cfg["kv_lora_rank"], cfg["qk_rope_head_dim"])
        assert (arch.qk_nope_head_dim, arch.v_head_dim) == (cfg["qk_nope_head_dim"], cfg["v_head_dim"])
        assert arch.num_shared_experts == cfg["n_shared_experts"]
        assert arch.is_mla
    else:
        assert arch.num_kv_heads == cfg["num_key_value_heads"]
        assert arch.head_dim == cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
        assert not arch.is_mla


@pytest.mark.parametrize(("model_id", "sliding"), [("openai/gpt-oss-20b", 12), ("openai/gpt-oss-120b", 18)])
def test_gpt_oss_sliding_layers(model_id: str, sliding: int) -> None:
    cfg = bundle(model_id)["config"]
    arch = inventory(model_id).arch
    assert sliding == cfg["layer_types"].count("sliding_attention")
    assert arch.sliding_attention_layers == sliding
    assert arch.full_attention_layers == cfg["num_hidden_layers"] - sliding
    assert arch.sliding_window == cfg["sliding_window"] == 128


@pytest.mark.parametrize("model_id", ["mistralai/Mixtral-8x7B-v0.1", "Qwen/Qwen1.5-MoE-A2.7B", "Qwen/Qwen3-30B-A3B"])
def test_no_sliding_layers_when_config_turns_them_off(model_id: str) -> None:
    # Mixtral: "sliding_window": null; Qwen: "use_sliding_window": false
    arch = inventory(model_id).arch
    assert arch.sliding_attention_layers == 0 and arch.sliding_window is None


@pytest.mark.parametrize("model_id", ["deepseek-ai/DeepSeek-V2-Lite", "deepseek-ai/DeepSeek-V3"])
def test_deepseek_dense_layers_and_query_path(model_id: str) -> None:
    cfg = bundle(model_id)["config"]
    inv = inventory(model_id)
    moe_layers = {t.layer for t in inv.tensors if t.role == "expert"}
    assert moe_layers == set(range(cfg["first_k_dense_replace"], cfg["num_hidden_layers"]))
    kinds = {t.kind for t in inv.tensors}
    if cfg["q_lora_rank"] is None:  # V2-Lite: plain q_proj, no q_a/q_b
        assert "attn_q" in kinds and "attn_q_a" not in kinds
    else:
        q_a = next(t for t in inv.tensors if t.kind == "attn_q_a")
        assert q_a.shape == (cfg["q_lora_rank"], cfg["hidden_size"])


def test_qwen2_moe_shared_expert_has_its_own_size() -> None:
    cfg = bundle("Qwen/Qwen1.5-MoE-A2.7B")["config"]
    inv = inventory("Qwen/Qwen1.5-MoE-A2.7B")
    up = next(t for t in inv.tensors if t.name == "model.layers.0.mlp.shared_expert.up_proj.weight")
    assert up.shape == (cfg["shared_expert_intermediate_size"], cfg["hidden_size"]) and up.role == "shared_expert"
    gate = next(t for t in inv.tensors if t.name == "model.layers.0.mlp.shared_expert_gate.weight")
    assert gate.shape == (1, cfg["hidden_size"]) and gate.role == "router"


def test_experts_are_grouped_per_layer() -> None:
    inv = inventory("deepseek-ai/DeepSeek-V3")
    experts = [t for t in inv.tensors if t.role == "expert"]
    assert len(experts) == 2 * (61 - 3)  # gate_up + down per MoE layer, 256 experts each
    assert {t.count for t in experts} == {256}
    assert len(inv.tensors) < 1000


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_names_and_shapes_equal_transformers(case: str) -> None:
    golden = SHAPES[case]
    inv = inventory_from_config(golden["config"], case)
    ours = {t.name: [t.count, *t.shape] if t.count > 1 else list(t.shape) for t in inv.tensors}
    assert ours == golden["parameters"]


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_layer_kinds_equal_transformers(case: str) -> None:
    golden = SHAPES[case]
    arch = inventory_from_config(golden["config"], case).arch
    layers = golden["config"]["num_hidden_layers"]
    window = golden["sliding_window"]
    mt = golden["config"]["model_type"]
    if golden["layer_types"] is not None and window:  # qwen2_moe, gpt_oss: per-layer types
        expected = tuple("sliding" if t == "sliding_attention" else "full" for t in golden["layer_types"])
    elif mt in ("mixtral", "qwen3_moe") and window:  # one window for every layer
        expected = ("sliding",) * layers
    else:
        expected = ("full",) * layers
    assert arch.attention_kinds == expected
    assert arch.sliding_window == (window if "sliding" in expected else None)


def test_tied_embeddings_have_no_head() -> None:
    golden = SHAPES["gpt_oss_tied_no_bias"]
    inv = inventory_from_config(golden["config"])
    assert inv.arch.tie_embeddings and not any(t.role == "head" for t in inv.tensors)


def test_roles_and_kinds_of_an_moe_layer() -> None:
    inv = inventory("openai/gpt-oss-20b")
    by_name = {t.name: t for t in inv.tensors}
    p = "model.layers.1."
    assert (by_name[p + "mlp.router.weight"].role, by_name[p + "mlp.router.weight"].kind) == ("router", "ffn_gate_inp")
    assert by_name[p + "mlp.router.bias"].kind == "ffn_gate_inp_bias"
    assert (by_name[p + "mlp.experts.gate_up_proj"].role, by_name[p + "mlp.experts.gate_up_proj"].kind) == (
        "expert", "ffn_gate_up_exps")
    assert by_name[p + "mlp.experts.down_proj_bias"].kind == "ffn_down_exps_bias"
    assert by_name[p + "self_attn.sinks"].shape == (64,)
    assert all(t.layer == 1 for n, t in by_name.items() if n.startswith(p))
    assert by_name["lm_head.weight"].role == "head" and by_name["model.embed_tokens.weight"].role == "embedding"


def test_dtype_follows_config() -> None:
    cfg = copy.deepcopy(bundle("Qwen/Qwen3-30B-A3B")["config"])
    assert {t.dtype for t in inventory_from_config(cfg).tensors} == {"BF16"}
    cfg["torch_dtype"] = "float32"
    inv = inventory_from_config(cfg)
    assert {t.dtype for t in inv.tensors} == {"F32"}
    assert inv.stored_bytes == 4 * inv.parameters


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("mistralai/Mixtral-8x7B-v0.1", "num_local_experts"),
        ("mistralai/Mixtral-8x22B-v0.1", "hidden_size"),
        ("Qwen/Qwen1.5-MoE-A2.7B", "shared_expert_intermediate_size"),
        ("Qwen/Qwen3-30B-A3B", "moe_intermediate_size"),
        ("deepseek-ai/DeepSeek-V2-Lite", "q_lora_rank"),
        ("deepseek-ai/DeepSeek-V3", "kv_lora_rank"),
        ("openai/gpt-oss-20b", "head_dim"),
        ("openai/gpt-oss-120b", "num_experts_per_tok"),
    ],
)
def test_missing_field_is_a_model_file_error(model_id: str, field: str) -> None:
    cfg = copy.deepcopy(bundle(model_id)["config"])
    del cfg[field]
    with pytest.raises(ModelFileError, match=field):
        inventory_from_config(cfg, model_id)


@pytest.mark.parametrize(
    ("model_id", "field", "value"),
    [
        ("mistralai/Mixtral-8x7B-v0.1", "num_experts_per_tok", 9),  # more than the 8 experts
        ("Qwen/Qwen3-30B-A3B", "num_attention_heads", "32"),
        ("openai/gpt-oss-20b", "layer_types", ["sliding_attention"] * 3),
        ("deepseek-ai/DeepSeek-V3", "torch_dtype", "float8"),
    ],
)
def test_bad_field_is_a_model_file_error(model_id: str, field: str, value: object) -> None:
    cfg = copy.deepcopy(bundle(model_id)["config"])
    cfg[field] = value
    with pytest.raises(ModelFileError, match=field):
        inventory_from_config(cfg, model_id)
