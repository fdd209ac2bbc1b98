"""Dense llama-like families (llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text) against transformers and cards."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from quantcore.errors import ModelFileError
from quantcore.model.arch import inventory_from_config, supported_families
from quantcore.model.naming import classify, layer_of

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"
GOLDEN = ROOT / "tests" / "golden"

DENSE_IDS = (
    "meta-llama/Llama-3.1-8B",  # the app's default model
    "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-70b-hf",
    "meta-llama/Meta-Llama-3-8B", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-405B",
    "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B",
    "mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.3",
    "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-72B", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B",
    "google/gemma-7b", "google/gemma-2-9b", "google/gemma-2-27b", "google/gemma-3-1b-pt",
)
DENSE_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")

# How far the published figure in each bundle may be from the exact count: 0 where the source gives the exact
# number (the Hub's safetensors metadata), else half the unit it was rounded to (see each bundle's
# published_source: model card / paper / Hub page wording).
PUBLISHED_TOLERANCE = {
    "meta-llama/Llama-2-7b-hf": 0, "meta-llama/Llama-2-13b-hf": 0, "meta-llama/Llama-2-70b-hf": 0,
    "meta-llama/Meta-Llama-3-8B": 0, "meta-llama/Llama-3.1-8B": 0, "meta-llama/Llama-3.1-70B": 0,
    "meta-llama/Llama-3.1-405B": 0,
    "meta-llama/Llama-3.2-1B": 0, "meta-llama/Llama-3.2-3B": 0,
    "mistralai/Mistral-7B-v0.1": 0,
    "mistralai/Mistral-7B-Instruct-v0.3": 5_000_000,  # Hub page: 7.25B
    "Qwen/Qwen2.5-0.5B": 0, "Qwen/Qwen2.5-7B": 0,
    "Qwen/Qwen2.5-72B": 50_000_000, "Qwen/Qwen3-0.6B": 50_000_000, "Qwen/Qwen3-8B": 50_000_000,  # 72.7B 0.6B 8.2B
    "google/gemma-7b": 5_000_000, "google/gemma-2-9b": 5_000_000,  # Hub page: 8.54B, 9.24B
    "google/gemma-2-27b": 50_000_000,  # Hub page: 27.2B
    "google/gemma-3-1b-pt": 1_000_000,  # report: 302M + 698M, each rounded to 1M
}


def bundle(model_id: str) -> dict:
    return json.loads((MODELS / (model_id.replace("/", "--") + ".json")).read_text())


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def inventory(model_id: str):
    return inventory_from_config(bundle(model_id)["config"], model_id)


def embedding_and_head(inv) -> int:
    return sum(t.numel for t in inv.tensors if t.role in ("embedding", "head"))


def test_every_dense_family_is_registered():
    assert set(DENSE_TYPES) <= set(supported_families())


@pytest.mark.parametrize("model_id", DENSE_IDS)
def test_bundle_is_well_formed(model_id):
    b = bundle(model_id)
    assert b["id"] == model_id
    assert b["config"]["model_type"] in DENSE_TYPES
    assert b["published_source"]


@pytest.mark.parametrize("model_id", DENSE_IDS)
def test_parameters_equal_transformers(model_id):
    # Ground truth: tests/golden/counts_dense.json, sum(p.numel()) of transformers' *ForCausalLM on the meta device.
    assert inventory(model_id).parameters == golden("counts_dense.json")[model_id]["transformers_parameters"]


@pytest.mark.parametrize("model_id", DENSE_IDS)
def test_parameters_agree_with_published(model_id):
    published = bundle(model_id)["published_parameters"]
    assert abs(inventory(model_id).parameters - published) <= PUBLISHED_TOLERANCE[model_id]


def test_published_exact_counts_named_in_brief():
    # Hub safetensors metadata of each repo (model pages: 6.74B, 8.03B, 7.24B, 0.49B, 7.62B params).
    assert inventory("meta-llama/Llama-2-7b-hf").parameters == 6_738_415_616
    assert inventory("meta-llama/Meta-Llama-3-8B").parameters == 8_030_261_248
    assert inventory("mistralai/Mistral-7B-v0.1").parameters == 7_241_732_096
    assert inventory("Qwen/Qwen2.5-0.5B").parameters == 494_032_768
    assert inventory("Qwen/Qwen2.5-7B").parameters == 7_615_616_512


def test_llama32_counts_match_card_table():
    # Llama 3.2 model card table: "1B (1.23B)" and "3B (3.21B)" parameters, truncated to 0.01B.
    assert inventory("meta-llama/Llama-3.2-1B").parameters // 10_000_000 == 123
    assert inventory("meta-llama/Llama-3.2-3B").parameters // 10_000_000 == 321


@pytest.mark.parametrize(
    ("model_id", "non_embedding"),
    [
        ("google/gemma-7b", 7_751_248_896),  # Gemma paper (2024), Table 2
        ("google/gemma-2-9b", 8_324_201_984),  # Gemma 2 paper (2024), Table 2
        ("google/gemma-2-27b", 26_047_480_320),  # Gemma 2 paper (2024), Table 2
    ],
)
def test_gemma_non_embedding_parameters_match_papers_exactly(model_id, non_embedding):
    inv = inventory(model_id)
    assert inv.parameters - embedding_and_head(inv) == non_embedding


@pytest.mark.parametrize(
    ("model_id", "paper_embedding"),
    [("google/gemma-7b", 786_825_216), ("google/gemma-2-9b", 917_962_752), ("google/gemma-2-27b", 1_180_237_824)],
)
def test_gemma_embedding_differs_from_papers_only_by_padded_vocabulary(model_id, paper_embedding):
    # The papers (Table 2) count a 256,128-row embedding; the released checkpoints store 256,000 rows.
    inv = inventory(model_id)
    assert paper_embedding == 256_128 * inv.arch.hidden_size
    assert embedding_and_head(inv) == 256_000 * inv.arch.hidden_size


def test_gemma3_1b_split_matches_report():
    # Gemma 3 technical report, Table 1: 1B = 302M embedding + 698M non-embedding parameters.
    inv = inventory("google/gemma-3-1b-pt")
    assert abs(embedding_and_head(inv) - 302_000_000) <= 500_000
    assert abs(inv.parameters - embedding_and_head(inv) - 698_000_000) <= 500_000


@pytest.mark.parametrize(
    ("model_id", "non_embedding", "unit"),
    [
        ("Qwen/Qwen2.5-0.5B", 360_000_000, 10_000_000),  # model card: non-embedding 0.36B
        ("Qwen/Qwen2.5-7B", 6_530_000_000, 10_000_000),  # model card: non-embedding 6.53B
        ("Qwen/Qwen3-0.6B", 440_000_000, 10_000_000),  # model card: non-embedding 0.44B
        ("Qwen/Qwen3-8B", 6_950_000_000, 10_000_000),  # model card: non-embedding 6.95B
    ],
)
def test_qwen_non_embedding_parameters_match_cards(model_id, non_embedding, unit):
    inv = inventory(model_id)
    assert abs(inv.parameters - embedding_and_head(inv) - non_embedding) <= unit // 2


VARIANTS = sorted(p.stem for p in (GOLDEN / "dense_variants").glob("*.json"))


def test_variants_are_present():
    assert len(VARIANTS) >= 8


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_parameters_equal_transformers(name):
    # Small configs that exercise biases, defaults, sliding layouts and tying; golden from transformers.
    data = json.loads((GOLDEN / "dense_variants" / f"{name}.json").read_text())
    inv = inventory_from_config(data["config"], data["id"])
    assert inv.parameters == golden("counts_dense_variants.json")[data["id"]]["transformers_parameters"]


@pytest.mark.parametrize("model_id", DENSE_IDS)
def test_architecture_facts_follow_config(model_id):
    cfg = bundle(model_id)["config"]
    a = inventory(model_id).arch
    assert a.model_type == cfg["model_type"]
    assert a.num_layers == cfg["num_hidden_layers"] == len(a.attention_kinds)
    assert a.hidden_size == cfg["hidden_size"]
    assert a.num_heads == cfg["num_attention_heads"]
    assert a.num_kv_heads == cfg["num_key_value_heads"]
    assert a.head_dim == (cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])
    assert a.vocab_size == cfg["vocab_size"]
    assert a.intermediate_size == cfg["intermediate_size"]
    assert a.max_context == cfg["max_position_embeddings"]
    assert a.tie_embeddings == cfg.get("tie_word_embeddings", cfg["model_type"].startswith("gemma"))
    assert not a.is_moe and not a.is_mla and a.gated_mlp


@pytest.mark.parametrize("model_id", DENSE_IDS)
def test_tied_models_have_no_head_tensor(model_id):
    inv = inventory(model_id)
    heads = [t for t in inv.tensors if t.role == "head"]
    assert (heads == []) == inv.arch.tie_embeddings


def test_explicit_head_dim_differs_from_hidden_over_heads():
    # config.json: Qwen3-0.6B hidden 1024, 16 heads, head_dim 128; gemma-7b hidden 3072, 16 heads, head_dim 256.
    assert inventory("Qwen/Qwen3-0.6B").arch.head_dim == 128
    assert inventory("google/gemma-7b").arch.head_dim == 256
    q = next(t for t in inventory("google/gemma-7b").tensors if t.name.endswith("0.self_attn.q_proj.weight"))
    assert q.shape == (16 * 256, 3072)


def test_mistral_sliding_window_layers():
    # Mistral-7B-v0.1 config: sliding_window 4096 on every layer; v0.3 config: sliding_window null.
    v1 = inventory("mistralai/Mistral-7B-v0.1").arch
    assert (v1.sliding_window, v1.sliding_attention_layers, v1.full_attention_layers) == (4096, 32, 0)
    v3 = inventory("mistralai/Mistral-7B-Instruct-v0.3").arch
    assert (v3.sliding_window, v3.sliding_attention_layers) == (None, 0)


def test_gemma2_alternates_sliding_and_full():
    # Gemma 2: local (4096-token window) and global attention alternate, starting with local.
    a = inventory("google/gemma-2-9b").arch
    assert a.sliding_window == 4096
    assert a.attention_kinds[:4] == ("sliding", "full", "sliding", "full")
    assert (a.sliding_attention_layers, a.full_attention_layers) == (21, 21)


def test_gemma3_five_local_layers_per_global():
    # gemma-3-1b-pt config: sliding_window 512, sliding_window_pattern 6 (5 local then 1 global), 26 layers.
    a = inventory("google/gemma-3-1b-pt").arch
    assert a.sliding_window == 512
    assert [i for i, k in enumerate(a.attention_kinds) if k == "full"] == [5, 11, 17, 23]


def test_qwen_sliding_window_off_unless_enabled():
    # Qwen2.5 configs: use_sliding_window false, so sliding_window (131072 / 32768) is not applied.
    for model_id in ("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen3-8B"):
        a = inventory(model_id).arch
        assert a.sliding_window is None and a.full_attention_layers == a.num_layers


def test_qwen2_sliding_from_max_window_layers():
    data = json.loads((GOLDEN / "dense_variants" / "qwen2-sliding-upper.json").read_text())
    a = inventory_from_config(data["config"]).arch
    # config: 4 layers, use_sliding_window true, max_window_layers 2 -> layers 2 and 3 slide (Qwen2Config rule)
    assert a.attention_kinds == ("full", "full", "sliding", "sliding") and a.sliding_window == 128


def test_layer_types_are_read_when_given():
    data = json.loads((GOLDEN / "dense_variants" / "qwen3-bias-layer-types.json").read_text())
    a = inventory_from_config(data["config"]).arch
    assert a.attention_kinds == ("sliding", "full", "sliding")


@pytest.mark.parametrize(
    ("model_id", "dtype", "bytes_per"),
    [("meta-llama/Llama-2-7b-hf", "F16", 2), ("meta-llama/Llama-3.1-8B", "BF16", 2), ("google/gemma-2-9b", "F32", 4)],
)
def test_dtype_from_config(model_id, dtype, bytes_per):
    # config.json torch_dtype: Llama-2 float16, Llama-3.1 bfloat16, gemma-2-9b float32.
    inv = inventory(model_id)
    assert {t.dtype for t in inv.tensors} == {dtype}
    assert inv.stored_bytes == bytes_per * inv.parameters


def test_tensor_roles_agree_with_name_classifier():
    # A config-built inventory must label tensors as a safetensors-built one of the same model would.
    for model_id in DENSE_IDS:
        for t in inventory(model_id).tensors:
            assert (t.role, t.kind, t.layer) == (*classify(t.name), layer_of(t.name)), t.name


def test_qwen2_has_qkv_biases_only():
    names = {t.name for t in inventory("Qwen/Qwen2.5-0.5B").tensors if t.name.startswith("model.layers.0.")}
    assert {n for n in names if n.endswith(".bias")} == {
        f"model.layers.0.self_attn.{p}_proj.bias" for p in ("q", "k", "v")
    }


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("meta-llama/Llama-3.1-8B", "hidden_size"),
        ("mistralai/Mistral-7B-v0.1", "num_hidden_layers"),
        ("Qwen/Qwen2.5-7B", "num_attention_heads"),
        ("Qwen/Qwen3-8B", "intermediate_size"),
        ("google/gemma-7b", "vocab_size"),
        ("google/gemma-2-9b", "hidden_size"),
        ("google/gemma-3-1b-pt", "num_hidden_layers"),
    ],
)
def test_missing_required_field_is_model_file_error(model_id, field):
    cfg = copy.deepcopy(bundle(model_id)["config"])
    del cfg[field]
    with pytest.raises(ModelFileError, match=field):
        inventory_from_config(cfg, model_id)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("hidden_size", "4096"),  # a string, not an int
        ("num_key_value_heads", 7),  # 32 heads are not a multiple of 7
        ("num_attention_heads", 0),
        ("torch_dtype", "int3"),
        ("tie_word_embeddings", "yes"),
        ("intermediate_size", -1),
    ],
)
def test_bad_field_is_model_file_error(change, value):
    cfg = copy.deepcopy(bundle("meta-llama/Llama-3.1-8B")["config"])
    cfg[change] = value
    with pytest.raises(ModelFileError):
        inventory_from_config(cfg, "meta-llama/Llama-3.1-8B")


def test_gemma3_layer_types_with_wrong_length_is_model_file_error():
    cfg = copy.deepcopy(bundle("google/gemma-3-1b-pt")["config"])
    cfg["layer_types"] = ["sliding_attention"] * 3
    with pytest.raises(ModelFileError, match="layer_types"):
        inventory_from_config(cfg, "google/gemma-3-1b-pt")
