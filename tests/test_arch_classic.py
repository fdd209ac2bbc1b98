"""Falcon, BLOOM, OPT, GPT-2, GPT-NeoX and BERT from config.json against transformers, model cards and real files."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from quantcore.errors import ModelFileError
from quantcore.model.arch import inventory_from_config, supported_families
from quantcore.model.inventory import Inventory

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"
# counts_classic.json: sum(p.numel() for p in model.parameters()) of AutoModelForCausalLM (AutoModel for BERT)
# built on the meta device by tests/golden/generate_counts.py; shapes_classic.json: named_parameters() of 2-layer
# cuts and layout variants of the bundled configs (tests/golden/generate_shapes_classic.py).
COUNTS = json.loads((ROOT / "tests" / "golden" / "counts_classic.json").read_text())
SHAPES = json.loads((ROOT / "tests" / "golden" / "shapes_classic.json").read_text())

MODEL_IDS = (
    "tiiuae/falcon-7b", "tiiuae/falcon-40b", "bigscience/bloom", "bigscience/bloom-560m", "facebook/opt-125m",
    "facebook/opt-350m", "facebook/opt-66b", "openai-community/gpt2", "openai-community/gpt2-xl",
    "EleutherAI/gpt-neox-20b", "EleutherAI/pythia-1b", "google-bert/bert-base-uncased",
    "sentence-transformers/all-MiniLM-L6-v2",
)

# How far the published figure may be from the true count, from the wording the publisher used
# (each bundle's "published_source" quotes it).
PUBLISHED_TOLERANCE = {
    "tiiuae/falcon-7b": 0.5e9,  # model card: "7B parameters"
    "tiiuae/falcon-40b": 5e9,  # model card: "40B parameters", a size label given to one significant figure
    "bigscience/bloom": 0,  # model card: "176,247,271,424 parameters"
    "bigscience/bloom-560m": 0,  # model card: "559,214,592 parameters"
    "facebook/opt-125m": 0.5e6,  # OPT paper Table 1: "125M"
    "facebook/opt-350m": 25e6,  # OPT paper Table 1: "350M", a size label on a 50M grid, not a count
    "facebook/opt-66b": 0.5e9,  # OPT paper Table 1: "66B"
    "openai-community/gpt2": 0.5e6,  # model card: "124M parameters"
    "openai-community/gpt2-xl": 0.1e9,  # model card: "the 1.5B parameter version", rounded down
    "EleutherAI/gpt-neox-20b": 0,  # model card: "Parameters 20554567680"
    "EleutherAI/pythia-1b": 0,  # Pythia model card: 1,011,781,632 total params
    "google-bert/bert-base-uncased": 1e6,  # BERT paper: "Total Parameters=110M"
}


def bundle(model_id: str) -> dict:
    return json.loads((MODELS / (model_id.replace("/", "--") + ".json")).read_text())


def config(model_id: str) -> dict:
    return bundle(model_id)["config"]


def inventory(model_id: str) -> Inventory:
    return inventory_from_config(config(model_id), model_id)


def numel(inv: Inventory, **match: object) -> int:
    return sum(t.numel for t in inv.tensors if all(getattr(t, k) == v for k, v in match.items()))


def test_families_registered() -> None:
    assert {"falcon", "RefinedWeb", "RefinedWebModel", "bloom", "opt", "gpt2", "gpt_neox", "bert"} <= set(
        supported_families())


def test_every_bundled_model_has_a_golden_count() -> None:
    assert set(MODEL_IDS) <= set(COUNTS)
    for model_id in MODEL_IDS:
        assert bundle(model_id)["id"] == model_id


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_parameters_equal_transformers(model_id: str) -> None:
    assert inventory(model_id).parameters == COUNTS[model_id]["transformers_parameters"]


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_TOLERANCE))
def test_parameters_agree_with_published(model_id: str) -> None:
    published = bundle(model_id)["published_parameters"]
    assert isinstance(published, int)
    assert abs(inventory(model_id).parameters - published) <= PUBLISHED_TOLERANCE[model_id]


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_names_and_shapes_equal_transformers(case: str) -> None:
    golden = SHAPES[case]
    inv = inventory_from_config(golden["config"], case)
    assert {t.name: list(t.shape) for t in inv.tensors} == golden["parameters"]
    assert all(t.count == 1 for t in inv.tensors)


def test_published_breakdowns() -> None:
    # BLOOM model card: "3,596,615,680 embedding parameters"; bloom-560m card: "256,901,120 embedding parameters"
    assert numel(inventory("bigscience/bloom"), kind="token_embd") == 3_596_615_680
    assert numel(inventory("bigscience/bloom-560m"), kind="token_embd") == 256_901_120
    # Pythia model card: Pythia-1B has 805,736,448 non-embedding params (input and output embeddings excluded)
    pythia = inventory("EleutherAI/pythia-1b")
    assert pythia.parameters - numel(pythia, role="embedding") - numel(pythia, role="head") == 805_736_448


def test_falcon_layouts_follow_the_config() -> None:
    c7, c40 = config("tiiuae/falcon-7b"), config("tiiuae/falcon-40b")
    a7, a40 = inventory("tiiuae/falcon-7b").arch, inventory("tiiuae/falcon-40b").arch
    assert c7["multi_query"] and not c7["new_decoder_architecture"] and a7.num_kv_heads == 1
    assert a7.head_dim == c7["hidden_size"] // c7["num_attention_heads"] == 64
    assert c40["new_decoder_architecture"] and a40.num_kv_heads == c40["num_kv_heads"] == 8
    assert (a40.num_layers, a40.num_heads, a40.head_dim) == (c40["num_hidden_layers"], 128, 64)
    assert a7.tie_embeddings and a40.tie_embeddings and not a7.gated_mlp
    assert a7.max_context == 2048  # FalconConfig.max_position_embeddings default; the config does not set it
    names40 = {t.name for t in inventory("tiiuae/falcon-40b").tensors}
    assert "transformer.h.59.ln_mlp.weight" in names40 and "transformer.h.0.input_layernorm.weight" not in names40
    assert "lm_head.weight" not in names40


# tiiuae's config.json files before the October 2023 switch to transformers' Falcon classes (remote "RW" code).
OLD_FALCON_7B = {"alibi": False, "apply_residual_connection_post_layernorm": False, "architectures": ["RWForCausalLM"],
                 "attention_dropout": 0.0, "bias": False, "bos_token_id": 11, "eos_token_id": 11,
                 "hidden_dropout": 0.0, "hidden_size": 4544, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
                 "model_type": "RefinedWebModel", "multi_query": True, "n_head": 71, "n_layer": 32,
                 "parallel_attn": True, "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 65024}
OLD_FALCON_40B = {"alibi": False, "apply_residual_connection_post_layernorm": False, "architectures": ["RWForCausalLM"],
                  "attention_dropout": 0.0, "bias": False, "bos_token_id": 11, "eos_token_id": 11,
                  "hidden_dropout": 0.0, "hidden_size": 8192, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
                  "model_type": "RefinedWeb", "n_head": 128, "n_head_kv": 8, "n_layer": 60, "parallel_attn": True,
                  "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 65024}


def test_refinedweb_spellings_are_falcon() -> None:
    old7 = inventory_from_config(OLD_FALCON_7B, "old-7b")
    old40 = inventory_from_config(OLD_FALCON_40B, "old-40b")
    assert old7.parameters == COUNTS["tiiuae/falcon-7b"]["transformers_parameters"]
    assert old40.parameters == COUNTS["tiiuae/falcon-40b"]["transformers_parameters"]
    assert (old7.arch.model_type, old7.arch.num_kv_heads, old40.arch.num_kv_heads) == ("falcon", 1, 8)


def test_bloom_alibi_and_aliases() -> None:
    cfg, inv = config("bigscience/bloom"), inventory("bigscience/bloom")
    assert (inv.arch.hidden_size, inv.arch.num_layers) == (cfg["n_embed"], cfg["n_layer"])
    assert inv.arch.num_heads == inv.arch.num_kv_heads == cfg["num_attention_heads"]
    assert inv.arch.head_dim == 128 and inv.arch.intermediate_size == 4 * cfg["n_embed"]
    assert not any(t.kind == "pos_embd" for t in inv.tensors)  # ALiBi: no position table
    assert numel(inv, name="transformer.word_embeddings_layernorm.weight") == cfg["n_embed"]
    assert inventory("bigscience/bloom-560m").tensors[0].dtype == "F16"  # torch_dtype float16


def test_opt_positions_and_projections() -> None:
    c125, c350 = config("facebook/opt-125m"), config("facebook/opt-350m")
    t125 = {t.name: t.shape for t in inventory("facebook/opt-125m").tensors}
    t350 = {t.name: t.shape for t in inventory("facebook/opt-350m").tensors}
    assert t125["model.decoder.embed_positions.weight"] == (c125["max_position_embeddings"] + 2, 768)
    assert "model.decoder.project_in.weight" not in t125 and "model.decoder.final_layer_norm.weight" in t125
    assert t350["model.decoder.embed_tokens.weight"] == (50272, c350["word_embed_proj_dim"])
    assert t350["model.decoder.project_in.weight"] == (1024, 512)
    assert t350["model.decoder.project_out.weight"] == (512, 1024)
    assert not c350["do_layer_norm_before"] and "model.decoder.final_layer_norm.weight" not in t350


def test_gpt2_conv1d_and_positions() -> None:
    cfg, inv = config("openai-community/gpt2-xl"), inventory("openai-community/gpt2-xl")
    shapes = {t.name: t.shape for t in inv.tensors}
    assert shapes["transformer.h.0.attn.c_attn.weight"] == (1600, 3 * 1600)  # Conv1D: (in, out)
    assert shapes["transformer.h.47.mlp.c_proj.weight"] == (4 * 1600, 1600)
    assert shapes["transformer.wpe.weight"] == (cfg["n_positions"], cfg["n_embd"])
    assert (inv.arch.num_heads, inv.arch.head_dim, inv.arch.max_context) == (cfg["n_head"], 64, 1024)
    assert inv.tensors[0].dtype == "BF16"  # no torch_dtype in the config: the documented default


def test_gpt_neox_untied_output() -> None:
    cfg, inv = config("EleutherAI/gpt-neox-20b"), inventory("EleutherAI/gpt-neox-20b")
    assert not inv.arch.tie_embeddings and numel(inv, role="head") == cfg["vocab_size"] * cfg["hidden_size"]
    assert (inv.arch.num_heads, inv.arch.num_kv_heads, inv.arch.head_dim) == (64, 64, 96)
    assert inv.arch.intermediate_size == cfg["intermediate_size"] and inv.arch.max_context == 2048
    assert {t.layer for t in inv.tensors if t.layer is not None} == set(range(cfg["num_hidden_layers"]))


def test_bert_is_an_encoder_with_pooler() -> None:
    cfg, inv = config("google-bert/bert-base-uncased"), inventory("google-bert/bert-base-uncased")
    assert inv.arch.encoder_only and not inv.arch.gated_mlp and not any(t.role == "head" for t in inv.tensors)
    shapes = {t.name: t.shape for t in inv.tensors}
    assert shapes["pooler.dense.weight"] == (768, 768)
    assert shapes["embeddings.token_type_embeddings.weight"] == (cfg["type_vocab_size"], 768)
    assert (inv.arch.num_heads, inv.arch.head_dim, inv.arch.max_context) == (12, 64, cfg["max_position_embeddings"])


def test_minilm_matches_the_real_safetensors_header(minilm_dir: Path) -> None:
    from safetensors import safe_open

    real_config = json.loads((minilm_dir / "config.json").read_text())
    assert config("sentence-transformers/all-MiniLM-L6-v2") == real_config
    with safe_open(str(minilm_dir / "model.safetensors"), "np") as fh:
        header = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    # embeddings.position_ids is an int64 buffer saved by old transformers, not a parameter
    del header["embeddings.position_ids"]
    inv = inventory_from_config(real_config, "all-MiniLM-L6-v2")
    assert inv.parameters == sum(math.prod(s) for s in header.values())
    assert {t.name: t.shape for t in inv.tensors} == header


MALFORMED = [
    ("tiiuae/falcon-7b", "num_attention_heads"),
    ("tiiuae/falcon-40b", "hidden_size"),
    ("bigscience/bloom", "n_layer"),
    ("facebook/opt-125m", "ffn_dim"),
    ("openai-community/gpt2", "n_embd"),
    ("EleutherAI/pythia-1b", "intermediate_size"),
    ("google-bert/bert-base-uncased", "vocab_size"),
]


@pytest.mark.parametrize("model_id,field", MALFORMED)
def test_missing_size_is_a_model_file_error(model_id: str, field: str) -> None:
    cfg = copy.deepcopy(config(model_id))
    del cfg[field]
    with pytest.raises(ModelFileError, match=field):
        inventory_from_config(cfg, model_id)


@pytest.mark.parametrize("change", [
    {"hidden_size": "768"}, {"num_attention_heads": 7}, {"torch_dtype": "int4"}, {"num_hidden_layers": 0},
    {"is_decoder": "no"}, {"add_cross_attention": True},
])
def test_bad_field_is_a_model_file_error(change: dict) -> None:
    cfg = {**config("google-bert/bert-base-uncased"), **change}
    with pytest.raises(ModelFileError):
        inventory_from_config(cfg, "bert")


def test_falcon_kv_groups_must_divide_heads() -> None:
    with pytest.raises(ModelFileError, match="kv groups"):
        inventory_from_config({**config("tiiuae/falcon-40b"), "num_kv_heads": 7}, "falcon")
