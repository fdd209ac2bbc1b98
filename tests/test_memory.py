"""Memory model (quantcore.planner.memory, quantcore.planner.workload) against published figures from peers, papers and docs."""
from __future__ import annotations

import math
import time
from dataclasses import replace

import gguf
import pytest

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.formats import catalog as formats
from quantcore.model.inventory import Architecture, Inventory, TensorInfo
from quantcore.planner.activations import inference_activation_bytes
from quantcore.planner.train_activations import Trainables, training_activations
from quantcore.planner.memory import (
    CUDA_CONTEXT_BYTES,
    MemoryBreakdown,
    kv_cache_bytes,
    max_batch,
    max_context,
    memory_breakdown,
    overhead_bytes,
)
from quantcore.planner.workload import Workload

GiB = 2**30


def llama_like(layers: int, hidden: int, inter: int, heads: int, kv_heads: int, vocab: int, *, head_dim: int = 0,
               tied: bool = False, max_context: int = 4096, model_type: str = "llama") -> Inventory:
    """A decoder-only model tensor by tensor, as transformers' LlamaForCausalLM lays it out."""
    hd = head_dim or hidden // heads
    t = [TensorInfo("model.embed_tokens.weight", (vocab, hidden), role="embedding", kind="token_embd")]
    for i in range(layers):
        p = f"model.layers.{i}."
        t += [TensorInfo(p + "self_attn.q_proj.weight", (heads * hd, hidden), role="attention", kind="attn_q", layer=i),
              TensorInfo(p + "self_attn.k_proj.weight", (kv_heads * hd, hidden), role="attention", kind="attn_k", layer=i),
              TensorInfo(p + "self_attn.v_proj.weight", (kv_heads * hd, hidden), role="attention", kind="attn_v", layer=i),
              TensorInfo(p + "self_attn.o_proj.weight", (hidden, heads * hd), role="attention", kind="attn_output",
                         layer=i),
              TensorInfo(p + "mlp.gate_proj.weight", (inter, hidden), role="mlp", kind="ffn_gate", layer=i),
              TensorInfo(p + "mlp.up_proj.weight", (inter, hidden), role="mlp", kind="ffn_up", layer=i),
              TensorInfo(p + "mlp.down_proj.weight", (hidden, inter), role="mlp", kind="ffn_down", layer=i),
              TensorInfo(p + "input_layernorm.weight", (hidden,), role="norm", kind="norm", layer=i),
              TensorInfo(p + "post_attention_layernorm.weight", (hidden,), role="norm", kind="norm", layer=i)]
    t.append(TensorInfo("model.norm.weight", (hidden,), role="norm", kind="norm"))
    if not tied:
        t.append(TensorInfo("lm_head.weight", (vocab, hidden), role="head", kind="output"))
    arch = Architecture(model_type=model_type, num_layers=layers, hidden_size=hidden, num_heads=heads,
                        num_kv_heads=kv_heads, head_dim=hd, vocab_size=vocab, intermediate_size=inter,
                        max_context=max_context, tie_embeddings=tied)
    return Inventory(id=f"test-{model_type}", source="config", tensors=tuple(t), arch=arch)


def states(m: MemoryBreakdown) -> int:
    """Model states in the DeepSpeed / Megatron sense: parameters, gradients and optimizer states."""
    return m.weights + m.gradients + m.optimizer


# Mistral-7B-v0.1 config.json (zephyr-7b-alpha is a fine-tune of it): hidden_size 4096, intermediate_size 14336,
# num_hidden_layers 32, num_attention_heads 32, num_key_value_heads 8, vocab_size 32000, untied, 32768 positions.
@pytest.fixture(scope="module")
def mistral7b() -> Inventory:
    return llama_like(32, 4096, 14336, 32, 8, 32000, max_context=32768, model_type="mistral")


@pytest.fixture(scope="module")
def small() -> Inventory:
    # Llama-3.2-1B config.json: 16 layers, hidden 2048, intermediate 8192, 32 heads, 8 KV heads, vocab 128256, tied.
    return llama_like(16, 2048, 8192, 32, 8, 128256, tied=True, max_context=131072)


# ---------------------------------------------------------------------------------------------------- KV cache

def test_llama7b_kv_cache_matches_llm_analysis():
    # decapoda llama-7b config: 32 layers, hidden 4096, 32 heads (MHA), head_dim 128.
    arch = Architecture("llama", 32, 4096, 32, 32, 128, 32000, intermediate_size=11008)
    # llm-analysis examples/llama summary (research/planners.md §5 #1): 0.5 MiB per token in fp16 ...
    assert kv_cache_bytes(arch, 1, 1, "fp16") == 524_288
    # ... and kv_cache_memory_per_gpu 285.21 MB for 512 prompt + 32 generated tokens.
    assert kv_cache_bytes(arch, 544, 1, "fp16") == 285_212_672
    assert kv_cache_bytes(arch, 544, 3, "fp16") == 3 * 285_212_672


def test_qwen3_head_dim_doubles_the_naive_kv_cache():
    # Qwen3-0.6B config.json: 28 layers, hidden 1024, 16 heads, 8 KV heads, explicit head_dim 128, 40960 positions.
    real = Architecture("qwen3", 28, 1024, 16, 8, 128, 151936, intermediate_size=3072)
    naive = replace(real, head_dim=1024 // 16)  # what hidden/heads tools assume
    ctx = 40960
    # unsloth PR #4757 table (research/planners.md §4.2): naive 2.19 GB vs correct 4.38 GB (GiB, fp16 KV).
    assert abs(kv_cache_bytes(real, ctx, 1, "fp16") / GiB - 4.38) < 0.006
    assert abs(kv_cache_bytes(naive, ctx, 1, "fp16") / GiB - 2.19) < 0.006
    assert kv_cache_bytes(real, ctx, 1, "fp16") == 2 * kv_cache_bytes(naive, ctx, 1, "fp16")


def gemma3_27b() -> Architecture:
    # google/gemma-3-27b config.json: 62 layers, hidden 5376, 32 heads, 16 KV heads, head_dim 128,
    # sliding_window 1024, sliding_window_pattern 6 (five local layers, then one global), 131072 positions.
    kinds = tuple("full" if (i + 1) % 6 == 0 else "sliding" for i in range(62))
    return Architecture("gemma3", 62, 5376, 32, 16, 128, 262208, intermediate_size=21504, max_context=131072,
                        sliding_window=1024, layer_attention=kinds)


def test_gemma3_sliding_window_kv_cache():
    arch = gemma3_27b()
    assert arch.full_attention_layers == 10 and arch.sliding_attention_layers == 52
    ctx = 131072
    # unsloth PR #4757 table: Gemma-3 27B KV cache 10.41 GB correct vs 81.38 GB naive (every layer full, head_dim
    # taken as hidden/heads = 168).
    assert abs(kv_cache_bytes(arch, ctx, 1, "fp16") / GiB - 10.41) < 0.006
    naive = replace(arch, head_dim=5376 // 32, layer_attention=(), sliding_window=None)
    assert abs(kv_cache_bytes(naive, ctx, 1, "fp16") / GiB - 81.38) < 0.006
    # below the window every layer holds every token
    assert kv_cache_bytes(arch, 512, 1, "fp16") == 62 * 2 * 16 * 128 * 2 * 512


def test_deepseek_v3_mla_latent_cache():
    # deepseek-ai/DeepSeek-V3 config.json: 61 layers, kv_lora_rank 512, qk_rope_head_dim 64, 163840 positions.
    arch = Architecture("deepseek_v3", 61, 7168, 128, 128, 192, 129280, intermediate_size=18432,
                        max_context=163840, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128,
                        v_head_dim=128, num_experts=256, experts_per_token=8, num_shared_experts=1,
                        moe_intermediate_size=2048)
    # (512 + 64) x 61 layers x 2 B = 70,272 B per token: one latent per token, not a K and a V.
    assert kv_cache_bytes(arch, 1, 1, "bf16") == 70_272
    # unsloth PR #4757 table: DeepSeek-V3.1 (same attention config) 10.72 GB at its 163840-token context.
    assert abs(kv_cache_bytes(arch, 163840, 1, "bf16") / GiB - 10.72) < 0.006


def test_block_quantized_kv_rounds_each_row_to_whole_ggml_blocks():
    # Block sizes from the gguf package's own table: Q8_0 = 34 bytes per 32 values, Q4_0 = 18 per 32.
    q8_block, q8_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0]
    q4_block, q4_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_0]
    arch = Architecture("llama", 2, 64, 1, 1, 40, 100)  # a 40-value K row: 2 blocks, not 1.25
    assert kv_cache_bytes(arch, 10, 1, "q8_0") == 2 * 2 * 10 * math.ceil(40 / q8_block) * q8_bytes
    assert kv_cache_bytes(arch, 10, 1, "q4_0") == 2 * 2 * 10 * math.ceil(40 / q4_block) * q4_bytes
    qwen = Architecture("qwen3", 28, 1024, 16, 8, 128, 151936)  # 1024-value rows are whole blocks
    assert kv_cache_bytes(qwen, 100, 1, "q8_0") == 2 * 28 * 100 * (1024 // q8_block) * q8_bytes
    assert kv_cache_bytes(qwen, 100, 1, "fp8") * 2 == kv_cache_bytes(qwen, 100, 1, "fp16")


def test_layers_without_attention_and_encoders_hold_no_kv():
    hybrid = Architecture("hybrid", 4, 256, 4, 4, 64, 1000, layer_attention=("none", "none", "none", "full"))
    assert kv_cache_bytes(hybrid, 100, 1, "fp16") == 1 * 2 * 4 * 64 * 100 * 2
    bert = Architecture("bert", 6, 384, 12, 12, 32, 30522, encoder_only=True)
    assert kv_cache_bytes(bert, 512, 8, "fp16") == 0


# ---------------------------------------------------------------------------------------------------- training

def t0_3b_like() -> Inventory:
    """2,783M parameters whose largest tensor has 65M: the figures DeepSpeed printed for bigscience/T0_3B."""
    t = (TensorInfo("shared.weight", (65_000, 1000), role="embedding", kind="token_embd"),
         TensorInfo("blocks", (10_000, 1000), role="mlp", kind="ffn_up", count=271),
         TensorInfo("rest", (8_000, 1000), role="mlp", kind="ffn_down"))
    # T5-XL shapes (T0_3B config.json: d_model 2048, 32 heads of 64, d_ff 5120, 24 layers, vocab 32128)
    arch = Architecture("t5", 24, 2048, 32, 32, 64, 32128, intermediate_size=5120)
    inv = Inventory(id="T0_3B", source="count", tensors=t, arch=arch)
    assert inv.parameters == 2_783_000_000
    return inv


@pytest.mark.parametrize("gpus, published_gib", [(1, 46.91), (2, 23.58)])
def test_zero3_model_states_match_deepspeed_estimator(gpus, published_gib):
    # transformers DeepSpeed docs, estimate_zero3_model_states_mem_needs_all_live(T0_3B), "per GPU" column without
    # offload: 46.91 GB on 1 GPU, 23.58 GB on 2 (DeepSpeed prints GiB): 18 B/param / GPUs + 4 x largest layer.
    # The docs give the counts rounded to 1M parameters, so allow 0.02 GiB.
    w = Workload(mode="full", zero_stage=3, data_parallel=gpus, engine="none", context=512)
    m = memory_breakdown(t0_3b_like(), "fp16", w)
    assert abs(states(m) / GiB - published_gib) < 0.02


@pytest.mark.parametrize("pid, per_param, distributed", [("bf16", 18, (6, 12)), ("fp32", 16, (8, 8))])
def test_model_states_per_parameter_match_megatron(small, pid, per_param, distributed):
    # Megatron-LM README, distributed optimizer table (bytes per parameter, d = data-parallel size):
    #   bf16 param, fp32 grads: 18 non-distributed, 6 + 12/d distributed; fp32 param, fp32 grads: 16 and 8 + 8/d.
    n = small.parameters
    base = Workload(mode="full", engine="none", context=256)
    assert states(memory_breakdown(small, pid, base)) == per_param * n
    d = 4
    sharded = memory_breakdown(small, pid, replace(base, zero_stage=1, data_parallel=d))  # ZeRO-1 = that optimizer
    fixed, shared = distributed
    assert states(sharded) == fixed * n + math.ceil(shared * n / d)


def test_accelerate_estimate_memory_zephyr(mistral7b):
    # accelerate estimate-memory for HuggingFaceH4/zephyr-7b-alpha (model-sizer-bot, discussion #21; research §2.1):
    # float16 total 13.74 GB, "Training using Adam" 54.98 GB; float32 27.49 GB and 109.96 GB (all GiB).
    # accelerate sizes a meta-device model including its rotary cos/sin buffers, so its totals run ~1.9% above the
    # 7,241,732,096 parameters; compare the weights with 2.5% and the per-parameter ratios exactly.
    assert mistral7b.parameters == 7_241_732_096
    w = Workload(mode="full", engine="none", context=256)
    fp16 = memory_breakdown(mistral7b, "fp16", w)
    fp32 = memory_breakdown(mistral7b, "fp32", w)
    assert 0 < 13.74 - fp16.weights / GiB < 0.025 * 13.74
    assert 0 < 27.49 - fp32.weights / GiB < 0.025 * 27.49
    # fp32 training: accelerate's peak is model + gradients + 2 Adam moments = 4 x model; so are our model states.
    assert states(fp32) / fp32.weights == pytest.approx(109.96 / 27.49, abs=0.01)
    # mixed precision: accelerate shows the largest single item, the two fp32 Adam moments (2 x fp32 size); ours are
    # the optimizer line without the fp32 master copy.
    moments = fp16.optimizer - 4 * mistral7b.parameters
    assert moments / fp16.weights == pytest.approx(54.98 / 13.74, abs=0.01)


def mt0_large() -> Inventory:
    """bigscience/mt0-large (mT5-large config.json: d_model 1024, 16 heads x 64, d_ff 2816 gated, 24 + 24 layers,
    vocab 250112, untied lm_head), tensor by tensor as transformers builds MT5ForConditionalGeneration."""
    d, ff, v = 1024, 2816, 250112
    t = [TensorInfo("shared.weight", (v, d), role="embedding", kind="token_embd"),
         TensorInfo("lm_head.weight", (v, d), role="head", kind="output"),
         TensorInfo("encoder.final_layer_norm.weight", (d,), role="norm", kind="norm"),
         TensorInfo("decoder.final_layer_norm.weight", (d,), role="norm", kind="norm"),
         TensorInfo("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", (32, 16),
                    role="attention", kind="attn_other", layer=0),
         TensorInfo("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", (32, 16),
                    role="attention", kind="attn_other", layer=0)]
    for stack, attentions, norms in (("encoder", 1, 2), ("decoder", 2, 3)):
        for i in range(24):
            p = f"{stack}.block.{i}."
            for a in range(attentions):
                for kind in ("attn_q", "attn_k", "attn_v", "attn_output"):
                    t.append(TensorInfo(f"{p}attn{a}.{kind}", (d, d), role="attention", kind=kind, layer=i))
            t += [TensorInfo(p + "wi_0", (ff, d), role="mlp", kind="ffn_gate", layer=i),
                  TensorInfo(p + "wi_1", (ff, d), role="mlp", kind="ffn_up", layer=i),
                  TensorInfo(p + "wo", (d, ff), role="mlp", kind="ffn_down", layer=i),
                  TensorInfo(p + "norms", (d,), role="norm", kind="norm", layer=i, count=norms)]
    arch = Architecture("mt5", 48, d, 16, 16, 64, v, intermediate_size=ff)
    return Inventory(id="mt0-large", source="config", tensors=tuple(t), arch=arch)


def test_lora_adapter_count_matches_peft():
    # PEFT README quicktour: mt0-large with LoraConfig(r=8) on its default targets q and v prints
    # "trainable params: 2359296 || all params: 1231940608".
    inv = mt0_large()
    w = Workload(mode="lora", lora_rank=8, lora_targets=("attn_q", "attn_v"), engine="none", context=128)
    m = memory_breakdown(inv, "fp32", w)
    trainable = m.adapters // 4  # peft keeps adapters in fp32 (measured: tests/golden/accuracy, lora-* cases)
    assert trainable == 2_359_296
    assert inv.parameters + trainable == 1_231_940_608
    assert m.gradients == 4 * trainable  # fp32 gradients of the adapters only; the base is frozen


def test_lora_below_full_and_qlora_below_lora(small):
    base = Workload(engine="hf", context=1024, batch=2)
    full = memory_breakdown(small, "bf16", replace(base, mode="full"))
    lora = memory_breakdown(small, "bf16", replace(base, mode="lora"))
    qlora = memory_breakdown(small, "nf4", replace(base, mode="qlora"))
    assert qlora.total < lora.total < full.total
    assert lora.weights == full.weights and qlora.weights < lora.weights
    assert lora.optimizer < full.optimizer / 100 and lora.gradients < full.gradients / 100
    # LoRA and QLoRA default to gradient checkpointing (recompute "auto"); a full fine-tune does not
    assert lora.activations < full.activations
    no_ckpt = memory_breakdown(small, "bf16", replace(base, mode="lora", recompute="none"))
    assert lora.activations < no_ckpt.activations


def test_optimizer_choices_order(small):
    def opt(name: str) -> int:
        return memory_breakdown(small, "bf16", Workload(mode="full", optimizer=name, context=64)).optimizer
    n = small.parameters
    assert opt("adamw") == 12 * n
    assert opt("sgd") == 8 * n  # momentum + master copy
    assert 6 * n < opt("adamw8bit") < 6.1 * n  # 2 B of 8-bit moments + absmax + master copy (norms stay fp32)
    assert 4 * n < opt("adafactor") < 4.1 * n  # master copy + factored second moments


def test_recompute_and_flash_attention_shrink_training_activations(small):
    arch, tr = small.arch, Trainables(full=True)

    def kept(s: int, recompute: str, flash: bool) -> int:
        return training_activations(arch, 1, s, recompute, flash, 2, tr).kept
    # eager attention keeps heads x s^2 scores per layer (fp32 softmax + its bf16 copy): quadratic in s;
    # selective recomputation and flash attention keep none, so doubling s at most doubles what they keep
    assert kept(4096, "none", False) > 3 * kept(2048, "none", False) - 2 * kept(1024, "none", False)
    assert kept(4096, "selective", False) == kept(4096, "none", True) <= 2 * kept(2048, "none", True)
    assert kept(2048, "full", False) < kept(2048, "selective", False) < kept(2048, "none", False)
    # checkpointing keeps each layer's input (2 B x hidden per token) + the loss's fp32 log-softmax
    per_token = arch.num_layers * 2 * arch.hidden_size + 4 * arch.vocab_size
    assert kept(2048, "full", True) >= 2048 * per_token


def test_zero_stages_shard_progressively(small):
    w = Workload(mode="full", engine="none", context=128, data_parallel=8)
    m = [memory_breakdown(small, "bf16", replace(w, zero_stage=z)) for z in range(4)]
    assert m[1].optimizer < m[0].optimizer and m[1].gradients == m[0].gradients
    assert m[2].gradients < m[1].gradients and m[2].weights == m[1].weights
    assert m[3].weights < m[2].weights
    assert [states(x) for x in m] == sorted((states(x) for x in m), reverse=True)


# ---------------------------------------------------------------------------------------------------- inference

def test_inference_breakdown_lines(small):
    w = Workload(context=8192, batch=2, kv_dtype="fp16", engine="none")
    m = memory_breakdown(small, "bf16", w)
    assert m.weights == formats.weight_bytes(small, "bf16")
    assert m.kv_cache == kv_cache_bytes(small.arch, 8192, 2, "fp16")
    assert m.gradients == m.optimizer == m.adapters == m.overhead == 0
    assert m.total == sum(v for k, v in m.as_dict().items() if k != "total")
    assert list(m.as_dict()) == ["weights", "kv_cache", "activations", "gradients", "optimizer", "adapters",
                                 "overhead", "total"]


def test_eager_attention_scores_dominate_long_prefill(small):
    arch = small.arch
    eager = inference_activation_bytes(arch, 1, 16384, flash_attention=False)
    flash = inference_activation_bytes(arch, 1, 16384, flash_attention=True)
    # heads x tokens^2 scores, with the fp32 softmax beside them, are at least 6 B per score
    assert eager >= arch.num_heads * 16384**2 * 6
    assert flash < eager / 20
    # an engine that prefills in chunks of 512 tokens needs far less than a whole 16k prompt at once
    assert inference_activation_bytes(arch, 1, 16384, True, chunk=512) < flash / 16
    # the fp32 logits of the last position count at least batch x vocab x 4 bytes
    assert inference_activation_bytes(arch, 64, 1, True) >= 64 * arch.vocab_size * 4


def test_tensor_parallel_split():
    m = MemoryBreakdown(weights=10, kv_cache=7, activations=5, gradients=3, optimizer=1, adapters=0, overhead=100)
    t = m.for_tensor_parallel(4)
    assert (t.weights, t.kv_cache, t.activations, t.gradients, t.optimizer, t.overhead) == (3, 2, 2, 1, 1, 100)
    assert m.for_tensor_parallel(1) is m
    with pytest.raises(BadInputError):
        m.for_tensor_parallel(0)


def test_vllm_overhead_is_the_share_it_never_uses(small):
    vram = 80 * GiB
    w = Workload(engine="vllm", context=4096)
    # vLLM keeps weights + activations + KV within gpu_memory_utilization (default 0.9) x VRAM minus the context
    assert overhead_bytes(w, vram) == math.ceil(0.1 * vram) + CUDA_CONTEXT_BYTES
    assert overhead_bytes(replace(w, gpu_memory_utilization=0.5), vram) == math.ceil(0.5 * vram) + CUDA_CONTEXT_BYTES
    assert overhead_bytes(w, None) == CUDA_CONTEXT_BYTES
    assert overhead_bytes(replace(w, overhead_bytes=123), vram) == 123
    m = memory_breakdown(small, "bf16", w, vram)
    assert m.total - m.overhead <= 0.9 * vram - CUDA_CONTEXT_BYTES


# ---------------------------------------------------------------------------------------------------- searches

@pytest.mark.parametrize("engine", ["hf", "vllm", "llamacpp", "sglang"])
def test_totals_grow_with_context_and_batch(small, engine):
    w = Workload(engine=engine, flash_attention=engine != "llamacpp")
    gpu = 24 * GiB
    totals = [memory_breakdown(small, "bf16", replace(w, context=c), gpu).total
              for c in (1, 2, 100, 511, 512, 513, 2047, 2048, 2049, 8191, 8192, 8193, 70000)]
    assert totals == sorted(totals)
    totals = [memory_breakdown(small, "bf16", replace(w, batch=b), gpu).total for b in (1, 2, 3, 7, 8, 64, 300)]
    assert totals == sorted(totals)


def test_max_context_and_max_batch(small):
    w = Workload(engine="hf", context=4096)
    budgets = [3 * GiB, 4 * GiB, 6 * GiB, 12 * GiB]
    contexts = [max_context(small, "bf16", w, b) for b in budgets]
    assert contexts == sorted(contexts) and contexts[-1] > contexts[1] > 0
    c = contexts[2]
    assert memory_breakdown(small, "bf16", replace(w, context=c)).total <= budgets[2]
    assert memory_breakdown(small, "bf16", replace(w, context=c + 1)).total > budgets[2]
    assert max_context(small, "bf16", w, 10**12) == small.arch.max_context  # capped at the model's limit
    assert max_context(small, "bf16", w, 1000) == 0
    batches = [max_batch(small, "bf16", w, b) for b in budgets]
    assert batches == sorted(batches) and batches[-1] > 1
    n = batches[-1]
    assert memory_breakdown(small, "bf16", replace(w, batch=n)).total <= budgets[-1]
    assert memory_breakdown(small, "bf16", replace(w, batch=n + 1)).total > budgets[-1]
    assert max_batch(small, "bf16", w, 1000) == 0


def test_breakdown_is_fast(mistral7b):
    w = Workload(mode="lora", context=2048)
    memory_breakdown(mistral7b, "bf16", w)  # warm the per-inventory caches
    start = time.perf_counter()
    for _ in range(200):
        memory_breakdown(mistral7b, "bf16", w)
        memory_breakdown(mistral7b, "nf4", Workload(context=4096))
    assert (time.perf_counter() - start) / 400 < 200e-6


# ---------------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("field, value", [
    ("mode", "pretrain"), ("optimizer", "adam"), ("recompute", "some"), ("engine", "tgi"),
    ("batch", 0), ("batch", 65537), ("batch", 2.5), ("context", 0), ("context", 16_777_217),
    ("zero_stage", -1), ("zero_stage", 4), ("lora_rank", 0), ("lora_rank", 4097),
    ("data_parallel", 0), ("data_parallel", 4097), ("tensor_parallel", 0), ("tensor_parallel", 5000),
    ("gpu_memory_utilization", 0.0), ("gpu_memory_utilization", 1.2), ("overhead_bytes", -1),
    ("lora_targets", ("attn_z",)), ("flash_attention", "yes"),
])
def test_workload_rejects_bad_fields(field, value):
    with pytest.raises(BadInputError) as e:
        Workload(**{field: value})
    assert "\n" not in str(e.value)


def test_workload_rejects_unknown_kv_dtype_and_empty_lora_targets():
    with pytest.raises(QuantPlannerError):
        Workload(kv_dtype="fp7")
    with pytest.raises(BadInputError):
        Workload(mode="lora", lora_targets=())
    assert Workload(lora_targets=("q_proj", "v_proj")).lora_targets == ("attn_q", "attn_v")
    assert Workload(lora_targets="all-linear").lora_targets == ("all-linear",)


def test_breakdown_rejects_wrong_training_precision_and_missing_arch(small):
    with pytest.raises(BadInputError, match="bf16"):
        memory_breakdown(small, "nf4", Workload(mode="full"))
    with pytest.raises(BadInputError, match="nf4"):
        memory_breakdown(small, "bf16", Workload(mode="qlora"))
    bare = Inventory(id="bare", source="count", tensors=small.tensors, arch=None)
    with pytest.raises(BadInputError):
        memory_breakdown(bare, "bf16", Workload())
    with pytest.raises(BadInputError, match="attn_q"):
        memory_breakdown(small, "bf16", Workload(mode="lora", lora_targets=("attn_kv_b",)))
