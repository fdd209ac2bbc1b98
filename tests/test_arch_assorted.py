"""Assorted families (cohere, olmo, olmo2, granite, starcoder2, phi3, phi, gptj) against transformers and cards."""
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

TYPES = ("cohere", "olmo", "olmo2", "granite", "starcoder2", "phi3", "phi", "gptj")
IDS = (
    "CohereForAI/c4ai-command-r-v01", "allenai/OLMo-7B-0424-hf", "allenai/OLMo-1B-hf", "allenai/OLMo-2-1124-7B",
    "ibm-granite/granite-3.0-8b-base", "bigcode/starcoder2-3b", "bigcode/starcoder2-7b", "bigcode/starcoder2-15b",
    "microsoft/Phi-3-mini-4k-instruct", "microsoft/Phi-3-medium-4k-instruct", "microsoft/phi-2",
    "EleutherAI/gpt-j-6b",
)

# Interval [low, high] the exact count must lie in, given how each bundle's published figure was stated (see its
# published_source): rounded to a unit -> published +- unit/2; truncated -> [published, published + unit).
B = 1_000_000_000
PUBLISHED_INTERVAL = {
    "CohereForAI/c4ai-command-r-v01": (34_500_000_000, 35_500_000_000),  # card: "35 billion", rounded to 1B
    "allenai/OLMo-7B-0424-hf": (6_500_000_000, 7_500_000_000),  # card: "7B", rounded to 1B
    "allenai/OLMo-1B-hf": (500_000_000, 1_500_000_000),  # card: "1B", rounded to 1B
    "allenai/OLMo-2-1124-7B": (6_500_000_000, 7_500_000_000),  # card: "7B", rounded to 1B
    "ibm-granite/granite-3.0-8b-base": (7_500_000_000, 8_500_000_000),  # card: "8B", rounded to 1B
    "bigcode/starcoder2-3b": (2_500_000_000, 3_500_000_000),  # paper: "3B", rounded to 1B
    "bigcode/starcoder2-7b": (6_500_000_000, 7_500_000_000),  # paper: "7B", rounded to 1B
    # paper: "15B" is the size-class name, below the 15.66B the released (tied) model holds: only its floor holds
    "bigcode/starcoder2-15b": (15 * B, 16 * B),
    "microsoft/Phi-3-mini-4k-instruct": (3_750_000_000, 3_850_000_000),  # card: "3.8B", rounded to 0.1B
    "microsoft/Phi-3-medium-4k-instruct": (13_500_000_000, 14_500_000_000),  # card: "14B", rounded to 1B
    "microsoft/phi-2": (2_700_000_000, 2_800_000_000),  # card: "2.7 billion", truncated to 0.1B
    # card: exactly 6,053,381,344; transformers' GPTJForCausalLM holds 2,498,560 (0.04%) fewer
    "EleutherAI/gpt-j-6b": (6_053_381_344 - 2_500_000, 6_053_381_344),
}


def bundle(model_id: str) -> dict:
    return json.loads((MODELS / (model_id.replace("/", "--") + ".json")).read_text())


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def inventory(model_id: str):
    return inventory_from_config(bundle(model_id)["config"], model_id)


def tensor(inv, suffix: str):
    return next(t for t in inv.tensors if t.name.endswith(suffix))


SHAPES = golden("shapes_assorted.json")


def shape_case_config(case: str) -> dict:
    """The config transformers was built from for a shapes case (see tests/golden/generate_shapes_assorted.py)."""
    data = SHAPES[case]
    if data["stem"] is None:
        return dict(data["overrides"])
    cfg = dict(json.loads((MODELS / f"{data['stem']}.json").read_text())["config"])
    for key in ("num_hidden_layers", "n_layer"):
        if key in cfg:
            cfg[key] = 2
    cfg.update(data["overrides"])
    return cfg


def test_every_assorted_family_is_registered():
    assert set(TYPES) <= set(supported_families())


@pytest.mark.parametrize("model_id", IDS)
def test_bundle_is_well_formed(model_id):
    b = bundle(model_id)
    assert b["id"] == model_id
    assert b["config"]["model_type"] in TYPES
    assert b["published_source"] and isinstance(b["published_parameters"], int)


def test_every_family_has_a_bundle_and_golden_count():
    assert {bundle(m)["config"]["model_type"] for m in IDS} == set(TYPES)
    assert set(IDS) <= set(golden("counts_assorted.json"))


@pytest.mark.parametrize("model_id", IDS)
def test_parameters_equal_transformers(model_id):
    # Ground truth: tests/golden/counts_assorted.json, sum(p.numel()) of transformers' *ForCausalLM on the meta device.
    assert inventory(model_id).parameters == golden("counts_assorted.json")[model_id]["transformers_parameters"]


@pytest.mark.parametrize("model_id", IDS)
def test_parameters_agree_with_published(model_id):
    low, high = PUBLISHED_INTERVAL[model_id]
    published = bundle(model_id)["published_parameters"]
    assert low <= published <= high
    assert low <= inventory(model_id).parameters <= high


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_names_and_shapes_equal_transformers(case):
    # Ground truth: tests/golden/shapes_assorted.json, named_parameters() of transformers on the meta device, for
    # 2-layer cuts of the bundles with switches flipped, and for size-only configs that leave every switch default.
    got = {t.name: list(t.shape) for t in inventory_from_config(shape_case_config(case), case).tensors}
    assert got == SHAPES[case]["parameters"]


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_tensor_roles_agree_with_name_classifier(case):
    # A config-built inventory must label tensors as a safetensors-built one of the same model would.
    for t in inventory_from_config(shape_case_config(case), case).tensors:
        assert (t.role, t.kind, t.layer) == (*classify(t.name), layer_of(t.name)), t.name


@pytest.mark.parametrize("model_id", [m for m in IDS if m != "EleutherAI/gpt-j-6b"])
def test_architecture_facts_follow_config(model_id):
    cfg = bundle(model_id)["config"]
    a = inventory(model_id).arch
    assert a.model_type == cfg["model_type"]
    assert a.num_layers == cfg["num_hidden_layers"] == len(a.attention_kinds)
    assert a.hidden_size == cfg["hidden_size"]
    assert a.num_heads == cfg["num_attention_heads"]
    assert a.num_kv_heads == cfg["num_key_value_heads"]
    assert a.head_dim == cfg["hidden_size"] // cfg["num_attention_heads"]
    assert a.vocab_size == cfg["vocab_size"]
    assert a.intermediate_size == cfg["intermediate_size"]
    assert not a.is_moe and not a.is_mla and not a.encoder_only
    assert a.gated_mlp == (cfg["model_type"] not in ("starcoder2", "phi"))


def test_gptj_facts_follow_its_own_field_names():
    # gpt-j-6b config: n_embd 4096, n_head 16, n_layer 28, n_positions 2048, n_inner null (-> 4 * n_embd).
    a = inventory("EleutherAI/gpt-j-6b").arch
    assert (a.hidden_size, a.num_heads, a.num_kv_heads, a.head_dim, a.num_layers) == (4096, 16, 16, 256, 28)
    assert (a.intermediate_size, a.max_context, a.vocab_size) == (16384, 2048, 50400)
    assert not a.gated_mlp and not a.tie_embeddings


@pytest.mark.parametrize(
    ("model_id", "tied"),
    [  # config.json tie_word_embeddings, or the config class default where absent (Starcoder2Config: true)
        ("CohereForAI/c4ai-command-r-v01", True), ("ibm-granite/granite-3.0-8b-base", True),
        ("allenai/OLMo-1B-hf", True), ("bigcode/starcoder2-15b", True), ("allenai/OLMo-7B-0424-hf", False),
        ("allenai/OLMo-2-1124-7B", False), ("microsoft/Phi-3-mini-4k-instruct", False),
        ("microsoft/phi-2", False), ("EleutherAI/gpt-j-6b", False),
    ],
)
def test_tied_models_have_no_head_weight(model_id, tied):
    inv = inventory(model_id)
    assert inv.arch.tie_embeddings == tied
    assert any(t.name == "lm_head.weight" for t in inv.tensors) == (not tied)


def test_phi_and_gptj_keep_their_lm_head_bias():
    for model_id, vocab in (("microsoft/phi-2", 51200), ("EleutherAI/gpt-j-6b", 50400)):
        assert tensor(inventory(model_id), "lm_head.bias").shape == (vocab,)


def test_sliding_window_on_every_layer_for_starcoder2_and_phi3():
    # starcoder2 configs: sliding_window 4096 (paper: 16,384 context, 4,096 window); Phi-3 4k: sliding_window 2047.
    for model_id, window, layers, context in (
        ("bigcode/starcoder2-3b", 4096, 30, 16384), ("bigcode/starcoder2-15b", 4096, 40, 16384),
        ("microsoft/Phi-3-mini-4k-instruct", 2047, 32, 4096), ("microsoft/Phi-3-medium-4k-instruct", 2047, 40, 4096),
    ):
        a = inventory(model_id).arch
        assert (a.sliding_window, a.sliding_attention_layers, a.full_attention_layers) == (window, layers, 0)
        assert a.max_context == context


@pytest.mark.parametrize("model_id", ["CohereForAI/c4ai-command-r-v01", "allenai/OLMo-2-1124-7B", "microsoft/phi-2"])
def test_families_without_window_attend_fully(model_id):
    a = inventory(model_id).arch
    assert a.sliding_window is None and a.full_attention_layers == a.num_layers


def test_sliding_window_null_means_full_attention():
    cfg = copy.deepcopy(bundle("bigcode/starcoder2-3b")["config"])
    cfg["sliding_window"] = None
    a = inventory_from_config(cfg).arch
    assert a.sliding_window is None and a.sliding_attention_layers == 0


def test_grouped_kv_heads_from_config():
    # config.json: granite-3.0-8b 32 heads / 8 kv heads; Phi-3-medium 40 / 10; starcoder2-15b 48 / 4.
    assert inventory("ibm-granite/granite-3.0-8b-base").arch.num_kv_heads == 8
    medium = inventory("microsoft/Phi-3-medium-4k-instruct")
    assert medium.arch.num_kv_heads == 10
    assert tensor(medium, "layers.0.self_attn.qkv_proj.weight").shape == ((40 + 2 * 10) * 128, 5120)
    assert inventory("bigcode/starcoder2-15b").arch.num_kv_heads == 4


def test_command_r_context_is_model_max_length():
    # Command-R v01 config: max_position_embeddings 8192 but model_max_length 131072 (card: 128K context).
    assert inventory("CohereForAI/c4ai-command-r-v01").arch.max_context == 131072


def test_olmo_has_no_norm_tensors():
    # OLMo 1 uses LayerNorm without learnable weight or bias (OlmoLayerNorm).
    assert not [t for t in inventory("allenai/OLMo-7B-0424-hf").tensors if t.role == "norm"]


def test_olmo2_qk_norm_spans_whole_projection():
    inv = inventory("allenai/OLMo-2-1124-7B")  # 32 heads x 128 = 4096 wide q_norm and k_norm
    assert tensor(inv, "layers.0.self_attn.q_norm.weight").shape == (4096,)
    assert tensor(inv, "layers.0.self_attn.k_norm.weight").shape == (4096,)


@pytest.mark.parametrize(
    ("model_id", "dtype", "bytes_per"),
    [("CohereForAI/c4ai-command-r-v01", "F16", 2), ("ibm-granite/granite-3.0-8b-base", "BF16", 2),
     ("bigcode/starcoder2-3b", "F32", 4), ("microsoft/phi-2", "F16", 2)],
)
def test_dtype_from_config(model_id, dtype, bytes_per):
    # config.json torch_dtype: command-r float16, granite bfloat16, starcoder2 float32, phi-2 float16.
    inv = inventory(model_id)
    assert {t.dtype for t in inv.tensors} == {dtype}
    assert inv.stored_bytes == bytes_per * inv.parameters


def test_missing_dtype_defaults_to_bf16():
    # gpt-j-6b's config.json names no torch_dtype.
    assert {t.dtype for t in inventory("EleutherAI/gpt-j-6b").tensors} == {"BF16"}


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("CohereForAI/c4ai-command-r-v01", "hidden_size"),
        ("allenai/OLMo-7B-0424-hf", "num_hidden_layers"),
        ("allenai/OLMo-2-1124-7B", "intermediate_size"),
        ("ibm-granite/granite-3.0-8b-base", "vocab_size"),
        ("bigcode/starcoder2-7b", "num_attention_heads"),
        ("microsoft/Phi-3-mini-4k-instruct", "intermediate_size"),
        ("microsoft/phi-2", "hidden_size"),
        ("EleutherAI/gpt-j-6b", "n_embd"),
        ("EleutherAI/gpt-j-6b", "n_layer"),
    ],
)
def test_missing_required_field_is_model_file_error(model_id, field):
    cfg = copy.deepcopy(bundle(model_id)["config"])
    del cfg[field]
    with pytest.raises(ModelFileError, match=field):
        inventory_from_config(cfg, model_id)


@pytest.mark.parametrize(
    ("model_id", "change", "value"),
    [
        ("CohereForAI/c4ai-command-r-v01", "use_qk_norm", "yes"),
        ("allenai/OLMo-2-1124-7B", "num_key_value_heads", 7),  # 32 heads do not split into 7 groups
        ("ibm-granite/granite-3.0-8b-base", "hidden_size", "4096"),
        ("bigcode/starcoder2-3b", "sliding_window", -1),
        ("microsoft/Phi-3-mini-4k-instruct", "torch_dtype", "int4"),
        ("microsoft/phi-2", "num_attention_heads", 0),
        ("EleutherAI/gpt-j-6b", "n_head", 15),  # 4096 is not divisible by 15
    ],
)
def test_bad_field_is_model_file_error(model_id, change, value):
    cfg = copy.deepcopy(bundle(model_id)["config"])
    cfg[change] = value
    with pytest.raises(ModelFileError):
        inventory_from_config(cfg, model_id)
