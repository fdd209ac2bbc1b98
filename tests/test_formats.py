"""Precision catalog and exact weight bytes, checked against published file sizes, papers and the gguf package."""
from __future__ import annotations

import gc
import math
import time

import gguf
import numpy as np
import pytest
from gguf.quants import quantize

from quantcore.errors import QuantPlannerError, UnknownPrecisionError
from quantcore.formats import catalog as formats
from quantcore.formats import gguf_mix
from quantcore.formats.catalog import (
    PRECISIONS,
    bits_per_weight,
    get_precision,
    kv_bytes_per_element,
    kv_dtype_ids,
    precision_ids,
    tensor_bytes,
    weight_bytes,
)
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

GiB = 2**30
Q = gguf.GGMLQuantizationType

# DESIGN.md "Precision ids", in catalog order.
IDS = ("fp32 fp16 bf16 fp8 int8 nf4 fp4 gptq-4bit-g128 awq-4bit-g128 int4-g128 int3-g128 int2-g64 mxfp4 nvfp4 "
       "q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k ternary binary").split()


def llama(vocab: int, hidden: int, inter: int, layers: int, heads: int, kv_heads: int, *, experts: int = 0,
          tied: bool = False, name: str = "llama") -> Inventory:
    """A Llama-shaped inventory written out tensor by tensor (HF names, llama.cpp kinds)."""
    hd = hidden // heads
    ts = [TensorInfo("model.embed_tokens.weight", (vocab, hidden), "F16", "embedding", "token_embd")]
    for i in range(layers):
        p = f"model.layers.{i}."
        ts += [
            TensorInfo(p + "input_layernorm.weight", (hidden,), "F16", "norm", "norm", i),
            TensorInfo(p + "self_attn.q_proj.weight", (heads * hd, hidden), "F16", "attention", "attn_q", i),
            TensorInfo(p + "self_attn.k_proj.weight", (kv_heads * hd, hidden), "F16", "attention", "attn_k", i),
            TensorInfo(p + "self_attn.v_proj.weight", (kv_heads * hd, hidden), "F16", "attention", "attn_v", i),
            TensorInfo(p + "self_attn.o_proj.weight", (hidden, heads * hd), "F16", "attention", "attn_output", i),
            TensorInfo(p + "post_attention_layernorm.weight", (hidden,), "F16", "norm", "norm", i),
        ]
        if experts:
            e = p + "block_sparse_moe."
            ts += [
                TensorInfo(e + "gate.weight", (experts, hidden), "F16", "router", "ffn_gate_inp", i),
                TensorInfo(e + "experts.w1.weight", (inter, hidden), "F16", "expert", "ffn_gate_exps", i, experts),
                TensorInfo(e + "experts.w3.weight", (inter, hidden), "F16", "expert", "ffn_up_exps", i, experts),
                TensorInfo(e + "experts.w2.weight", (hidden, inter), "F16", "expert", "ffn_down_exps", i, experts),
            ]
        else:
            ts += [
                TensorInfo(p + "mlp.gate_proj.weight", (inter, hidden), "F16", "mlp", "ffn_gate", i),
                TensorInfo(p + "mlp.up_proj.weight", (inter, hidden), "F16", "mlp", "ffn_up", i),
                TensorInfo(p + "mlp.down_proj.weight", (hidden, inter), "F16", "mlp", "ffn_down", i),
            ]
    ts.append(TensorInfo("model.norm.weight", (hidden,), "F16", "norm", "norm"))
    if not tied:
        ts.append(TensorInfo("lm_head.weight", (vocab, hidden), "F16", "head", "output"))
    arch = Architecture("llama", layers, hidden, heads, kv_heads, hd, vocab, inter, num_experts=experts,
                        experts_per_token=2 if experts else 0, tie_embeddings=tied)
    return Inventory(name, "config", tuple(ts), arch)


@pytest.fixture(scope="module")
def llama1_7b() -> Inventory:
    # LLaMA-v1-7B / Llama-2-7B: vocab 32000, hidden 4096, MLP 11008, 32 layers, 32 heads (no GQA).
    inv = llama(32000, 4096, 11008, 32, 32, 32, name="llama-7b")
    assert inv.parameters == 6_738_415_616  # "6.74B": Llama-2-7b-hf safetensors metadata total
    return inv


@pytest.fixture(scope="module")
def llama3_8b() -> Inventory:
    # Meta-Llama-3-8B / Llama-3.1-8B: vocab 128256, hidden 4096, MLP 14336, 32 layers, 32 heads, 8 KV heads.
    inv = llama(128256, 4096, 14336, 32, 32, 8, name="llama-3-8b")
    assert inv.parameters == 8_030_261_248  # "8.03B": Meta-Llama-3-8B safetensors metadata total
    return inv


def matrix(rows: int, cols: int, kind: str = "attn_q", layer: int = 3, role: str = "attention") -> TensorInfo:
    return TensorInfo(f"model.layers.{layer}.x.{kind}.weight", (rows, cols), "F16", role, kind, layer)


def real_array(rows: int, cols: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((rows, cols)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ catalog

def test_catalog_ids_in_design_order():
    assert precision_ids() == tuple(IDS)
    assert tuple(p.id for p in PRECISIONS) == tuple(IDS)


@pytest.mark.parametrize("p", PRECISIONS, ids=lambda p: p.id)
def test_every_precision_is_documented(p):
    assert p.storage_bits >= p.nominal_bits
    assert p.source.strip() and p.keeps.strip() and p.label.strip()
    assert "\n" not in p.keeps and "\n" not in p.source
    assert p.family in formats.FAMILIES
    assert p.compute in formats.COMPUTES
    assert p.training in ("full", "qlora", "")
    assert p.block_size is None or p.block_size > 0


def test_training_roles_follow_the_tools():
    # Full fine-tuning weight dtypes; bitsandbytes Linear4bit (nf4, fp4) and Linear8bitLt serve as frozen QLoRA bases.
    assert {p.id for p in PRECISIONS if p.training == "full"} == {"fp32", "fp16", "bf16"}
    assert {p.id for p in PRECISIONS if p.training == "qlora"} == {"nf4", "fp4", "int8"}


def test_get_precision_is_case_insensitive_and_errors_name_every_id():
    assert get_precision("Q4_K_M") is get_precision("q4_k_m")
    assert get_precision(" NF4 ").id == "nf4"
    with pytest.raises(UnknownPrecisionError) as err:
        get_precision("q4_k_xl")
    msg = str(err.value)
    assert isinstance(err.value, QuantPlannerError)
    assert "\n" not in msg and "q4_k_xl" in msg
    assert all(pid in msg for pid in IDS)
    with pytest.raises(UnknownPrecisionError):
        weight_bytes(llama(320, 64, 128, 2, 4, 4), "int5")


def test_storage_bits_come_from_each_layout():
    bits = {p.id: p.storage_bits for p in PRECISIONS}
    assert bits["fp32"] == 32 and bits["fp16"] == bits["bf16"] == 16
    # OCP MX v1.0 (Table 1): MXFP4 = 32 E2M1 elements + one 8-bit E8M0 scale -> 4 + 8/32.
    assert bits["mxfp4"] == pytest.approx(4.25)
    # NVFP4: 16 E2M1 elements + one E4M3 scale (NVIDIA Blackwell docs; torchao NVFP4Tensor) -> 4 + 8/16.
    assert bits["nvfp4"] == pytest.approx(4.5)
    # BitNet b1.58: log2(3) bits of information per weight.
    assert get_precision("ternary").nominal_bits == pytest.approx(1.58, abs=0.01)


# ------------------------------------------------------------------------------------------------ bitsandbytes

def test_nf4_storage_matches_qlora_paper():
    # QLoRA (arXiv 2305.14314) §3 Double Quantization: constants cost 8/64 + 32/(64*256) = 0.127 bits per
    # parameter instead of 32/64 = 0.5, i.e. NF4 stores 4.127 bits per weight (research/quant.md §1.1).
    assert get_precision("nf4").storage_bits == pytest.approx(4.127, abs=5e-4)
    assert get_precision("nf4").block_size == 64


def test_nf4_block_counts_give_the_papers_65b_saving():
    # QLoRA §3: double quantization saves 0.373 bits per parameter, "approximately 3 GB for a 65B model",
    # against single-level fp32 absmax per block of 64 (4 + 32/64 bits).
    n_rows, n_cols = 8_125_000, 8_000  # 65e9 weights in one matrix
    t = TensorInfo("model.layers.0.mlp.up_proj.weight", (n_rows, n_cols), "F16", "mlp", "ffn_up", 0)
    single_level = n_rows * n_cols * (4 + 32 / 64) / 8
    saved = single_level - tensor_bytes(t, get_precision("nf4"))
    assert saved / 1e9 == pytest.approx(3.0, abs=0.05)
    assert 8 * saved / (n_rows * n_cols) == pytest.approx(0.373, abs=5e-4)


def test_bitsandbytes_keeps_embeddings_head_norms_biases_and_routers_16_bit():
    nf4 = get_precision("nf4")
    for t in (TensorInfo("model.embed_tokens.weight", (32000, 4096), role="embedding", kind="token_embd"),
              TensorInfo("lm_head.weight", (32000, 4096), role="head", kind="output"),
              TensorInfo("model.norm.weight", (4096,), role="norm", kind="norm"),
              TensorInfo("model.layers.0.self_attn.q_proj.bias", (4096,), role="attention", kind="attn_q_bias"),
              TensorInfo("model.layers.0.block_sparse_moe.gate.weight", (8, 4096), role="router",
                         kind="ffn_gate_inp")):
        assert tensor_bytes(t, nf4) == 2 * t.numel, t.name


# ------------------------------------------------------------------------------------------------ packed formats

def test_gptq_and_awq_bytes_equal_their_checkpoint_buffers():
    out, inp, g = 11008, 4096, 128
    t = matrix(out, inp, "ffn_up", role="mlp")
    # AutoGPTQ QuantLinear buffers: qweight int32 (in//32*bits, out), qzeros int32 (ceil(in/g), out//32*bits),
    # scales fp16 (ceil(in/g), out), g_idx int32 (in,).
    groups = math.ceil(inp / g)
    gptq = (inp // 32 * 4) * out * 4 + groups * (out // 32 * 4) * 4 + groups * out * 2 + inp * 4
    assert tensor_bytes(t, get_precision("gptq-4bit-g128")) == gptq
    # AutoAWQ WQLinear_GEMM buffers: qweight int32 (in, out//8), qzeros int32 (in//g, out//8), scales fp16 (in//g, out).
    awq = inp * (out // 8) * 4 + (inp // g) * (out // 8) * 4 + (inp // g) * out * 2
    assert tensor_bytes(t, get_precision("awq-4bit-g128")) == awq


def test_group_formats_count_groups_per_row():
    # A row of 4100 weights needs ceil(4100/128) = 33 groups of scales (GPTQ scales shape (ceil(in/g), out)).
    t = matrix(256, 4100)
    full = tensor_bytes(matrix(256, 4096), get_precision("int4-g128"))
    assert tensor_bytes(t, get_precision("int4-g128")) - full == 256 * 68  # one more 128-group (64 B + bf16 s, z)


def test_torchao_int4_and_nvfp4_bytes_equal_their_tensor_shapes():
    out, inp = 4096, 4096
    t = matrix(out, inp)
    # torchao Int4WeightOnlyConfig(group_size=128): packed uint4 (out*in/2 bytes) + scale_and_zero bf16 (in/128, out, 2)
    assert tensor_bytes(t, get_precision("int4-g128")) == out * inp // 2 + (inp // 128) * out * 2 * 2
    # torchao NVFP4Tensor: qdata uint8 (out, in/2), scale float8_e4m3fn (out, in/16), per_tensor_scale fp32 ()
    assert tensor_bytes(t, get_precision("nvfp4")) == out * inp // 2 + out * inp // 16 + 4


def test_mxfp4_bytes_equal_gguf_mxfp4_blocks():
    if not hasattr(Q, "MXFP4"):
        pytest.skip("installed gguf predates MXFP4")
    arr = real_array(8, 2880)  # gpt-oss hidden size: 90 blocks of 32
    assert tensor_bytes(matrix(8, 2880), get_precision("mxfp4")) == quantize(arr, Q.MXFP4).nbytes


def test_ternary_and_binary_blocks_equal_ggml_types():
    arr = real_array(4, 512)
    if hasattr(Q, "TQ1_0"):
        assert tensor_bytes(matrix(4, 512), get_precision("ternary")) == quantize(arr, Q.TQ1_0).nbytes
    if hasattr(Q, "Q1_0"):
        block, size = gguf.GGML_QUANT_SIZES[Q.Q1_0]
        assert get_precision("binary").storage_bits == 8 * size / block


# ------------------------------------------------------------------------------------------------ GGUF

@pytest.mark.parametrize("pid, qtype, published_bpw", [
    # research/quant.md §1.9 table (ggml-common.h static_asserts): bits per weight of each block type.
    ("q8_0", "Q8_0", 8.5), ("q6_k", "Q6_K", 6.5625), ("q4_0", "Q4_0", 4.5), ("q4_k_m", "Q4_K", 4.5),
    ("q5_k_m", "Q5_K", 5.5), ("q3_k_m", "Q3_K", 3.4375), ("q2_k", "Q2_K", 2.625),
])
def test_gguf_storage_bits_equal_ggml_quant_sizes(pid, qtype, published_bpw):
    block, size = gguf.GGML_QUANT_SIZES[Q[qtype]]
    p = get_precision(pid)
    assert p.storage_bits == 8 * size / block == published_bpw
    assert p.block_size == block


@pytest.mark.parametrize("pid, qtype", [("q8_0", "Q8_0"), ("q4_0", "Q4_0")])
@pytest.mark.parametrize("rows, cols", [(32, 512), (7, 4096), (3, 96)])
def test_gguf_bytes_equal_gguf_quantize_output(pid, qtype, rows, cols):
    arr = real_array(rows, cols)
    assert tensor_bytes(matrix(rows, cols), get_precision(pid)) == quantize(arr, Q[qtype]).nbytes


@pytest.mark.parametrize("pid, row, fallback", [
    # llama-quant.cpp tensor_type_fallback: Q4_K -> Q5_0, Q5_K -> Q5_1, Q2_K/Q3_K -> Q4_0 (row not a multiple of 256).
    ("q4_k_m", 4544, "Q5_0"), ("q5_k_m", 4544, "Q5_1"), ("q2_k", 2880, "Q4_0"), ("q3_k_m", 2880, "Q4_0"),
])
def test_k_quant_fallback_sizes_equal_gguf_quantize(pid, row, fallback):
    arr = real_array(5, row)
    assert tensor_bytes(matrix(5, row), get_precision(pid)) == quantize(arr, Q[fallback]).nbytes


def test_gguf_keeps_vectors_and_routers_f32():
    # convert_hf_to_gguf.py writes 1-D tensors and ffn_gate_inp as F32; llama-quantize leaves them alone.
    norm = TensorInfo("model.norm.weight", (4096,), "BF16", "norm", "norm")
    router = TensorInfo("model.layers.0.block_sparse_moe.gate.weight", (8, 4096), "BF16", "router", "ffn_gate_inp", 0)
    for pid in ("q8_0", "q4_k_m", "q2_k"):
        assert tensor_bytes(norm, get_precision(pid)) == 4 * 4096
        assert tensor_bytes(router, get_precision(pid)) == 4 * 8 * 4096


# Published llama-quantize sizes (research/quant.md §3.4, quantize.cpp help text; "G" = GiB, includes metadata).
LLAMA1_7B_GIB = {"q3_k_m": 3.07, "q4_0": 3.56, "q4_k_m": 3.80, "q5_k_m": 4.45, "q6_k": 5.15, "q8_0": 6.70}
# (its Q2_K 2.63G predates the current Q2_K recipe, PR #2707 era, so it is not compared.)
LLAMA3_8B_GIB = {"q2_k": 2.96, "q3_k_m": 3.74, "q4_0": 4.34, "q4_k_m": 4.58, "q5_k_m": 5.33, "q6_k": 6.14,
                 "q8_0": 7.96}


@pytest.mark.parametrize("pid", sorted(LLAMA1_7B_GIB))
def test_llama1_7b_gguf_sizes_match_llama_quantize(llama1_7b, pid):
    assert weight_bytes(llama1_7b, pid) / GiB == pytest.approx(LLAMA1_7B_GIB[pid], rel=0.015)


@pytest.mark.parametrize("pid", sorted(LLAMA3_8B_GIB))
def test_llama3_8b_gguf_sizes_match_llama_quantize(llama3_8b, pid):
    assert weight_bytes(llama3_8b, pid) / GiB == pytest.approx(LLAMA3_8B_GIB[pid], rel=0.015)


def test_q4_k_m_bits_per_weight_match_published(llama1_7b, llama3_8b):
    # research/quant.md §1.9: Q4_K_M ~ 4.84 bpw on LLaMA-v1-7B (3.80 GiB / 6.74e9), ~ 4.90 on Llama-3-8B (4.58 GiB
    # / 8.03e9)
    assert bits_per_weight(llama1_7b, "q4_k_m") == pytest.approx(4.84, rel=0.015)
    assert bits_per_weight(llama3_8b, "q4_k_m") == pytest.approx(4.90, rel=0.015)


def test_q4_k_m_recipe_on_llama3(llama3_8b):
    ctx = gguf_mix.context_for(llama3_8b)
    types = {t.name: ty for t, ty, _ in gguf_mix.tensor_types(llama3_8b.tensors, "q4_k_m", ctx)}
    assert types["lm_head.weight"] == "Q6_K" and types["model.embed_tokens.weight"] == "Q4_K"
    assert types["model.norm.weight"] == "F32"
    # use_more_bits(i, 32): layers 0-3, 28-31 and every third from 6 -> attn_v and ffn_down in Q6_K.
    more = [i for i in range(32) if types[f"model.layers.{i}.self_attn.v_proj.weight"] == "Q6_K"]
    assert more == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert more == [i for i in range(32) if types[f"model.layers.{i}.mlp.down_proj.weight"] == "Q6_K"]
    assert {types[f"model.layers.{i}.self_attn.q_proj.weight"] for i in range(32)} == {"Q4_K"}


def test_tied_embeddings_take_the_output_type():
    inv = llama(32000, 1024, 2816, 4, 8, 8, tied=True)
    ctx = gguf_mix.context_for(inv)
    types = {t.name: ty for t, ty, _ in gguf_mix.tensor_types(inv.tensors, "q4_k_m", ctx)}
    assert types["model.embed_tokens.weight"] == "Q6_K"


def test_eight_expert_models_bump_attention():
    # llama-quant.cpp: "for the 8-expert model, bumping this to Q8_0 trades just ~128MB" (attn_v, attn_k);
    # attn_output -> Q5_K for Q4_K_M.
    inv = llama(32000, 1024, 3584, 8, 8, 2, experts=8)
    ctx = gguf_mix.context_for(inv)
    types = {t.name: ty for t, ty, _ in gguf_mix.tensor_types(inv.tensors, "q4_k_m", ctx)}
    p = "model.layers.5.self_attn."
    assert types[p + "v_proj.weight"] == types[p + "k_proj.weight"] == "Q8_0"
    assert types[p + "o_proj.weight"] == "Q5_K"
    assert types["model.layers.5.block_sparse_moe.gate.weight"] == "F32"


# ------------------------------------------------------------------------------------------------ KV cache

def test_kv_cache_element_sizes():
    assert set(kv_dtype_ids()) == {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "q8_0", "q4_0"}
    assert kv_bytes_per_element("fp16") == 2 and kv_bytes_per_element("BF16") == 2
    assert kv_bytes_per_element("fp8") == 1 and kv_bytes_per_element("int4") == 0.5
    for dtype, qtype in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0)):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        assert kv_bytes_per_element(dtype) == size / block
    assert kv_bytes_per_element("q8_0") == 34 / 32 and kv_bytes_per_element("q4_0") == 18 / 32
    with pytest.raises(UnknownPrecisionError, match="q8_0"):
        kv_bytes_per_element("nf4")


# ------------------------------------------------------------------------------------------------ whole models

# torchao README (research/quant.md §3.5), Llama-3.1-8B model sizes in GB (decimal): bf16 16.1, float8 rowwise 9.1,
# int8 weight-only 9.1 (same layout as LLM.int8: int8 + one scale per row), nvfp4 6.05.
@pytest.mark.parametrize("pid, gb", [("bf16", 16.1), ("fp8", 9.1), ("int8", 9.1), ("nvfp4", 6.05)])
def test_torchao_llama31_8b_sizes(llama3_8b, pid, gb):
    assert weight_bytes(llama3_8b, pid) / 1e9 == pytest.approx(gb, rel=0.015)


def test_bits_per_weight_is_bytes_over_parameters(llama3_8b):
    for pid in IDS:
        assert bits_per_weight(llama3_8b, pid) == 8 * weight_bytes(llama3_8b, pid) / llama3_8b.parameters
    assert bits_per_weight(llama3_8b, "fp32") == 32 and bits_per_weight(llama3_8b, "BF16") == 16


def test_buffers_are_not_weights():
    inv = llama(320, 64, 128, 2, 4, 4)
    buf = TensorInfo("model.rotary_emb.inv_freq", (32,), "F32", "buffer", "buffer")
    with_buf = Inventory(inv.id, inv.source, inv.tensors + (buf,), inv.arch)
    for pid in IDS:
        assert weight_bytes(with_buf, pid) == weight_bytes(inv, pid)


def test_weight_bytes_memoized_per_inventory_object_and_fast(llama3_8b):
    for pid in IDS:
        weight_bytes(llama3_8b, pid)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for pid in IDS:
            bits_per_weight(llama3_8b, pid)
        best = min(best, time.perf_counter() - t0)
    assert best < 1e-3
    # an equal but distinct inventory gets its own entry, and the entry goes when the inventory does
    twin = llama(128256, 4096, 14336, 32, 32, 8, name="llama-3-8b")
    assert weight_bytes(twin, "q4_k_m") == weight_bytes(llama3_8b, "q4_k_m")
    key = id(twin)
    assert key in formats._CACHE
    del twin
    gc.collect()
    assert key not in formats._CACHE


def test_single_tensors_add_up_to_the_model(llama3_8b):
    for p in PRECISIONS:  # a dense model: a GGUF tensor's layer is its position among attn_v / ffn_down too
        pid = p.id
        assert sum(tensor_bytes(t, p, llama3_8b.arch) for t in llama3_8b.tensors) == weight_bytes(llama3_8b, pid)
