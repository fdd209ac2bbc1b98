"""Activation memory: one layer's prefill transient in inference, and what training keeps for backward."""
from __future__ import annotations

from quantcore.errors import BadInputError
from quantcore.model.inventory import Architecture

GiB = 2**30
FP32 = 4
# llama.cpp prompt processing runs in physical batches of n_ubatch tokens (common/common.h default 512).
LLAMACPP_UBATCH = 512


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInputError(f"{name} must be a whole number, 0 or more, not {value!r}")



def inference_activation_bytes(arch: Architecture, batch: int, tokens: int, flash_attention: bool,
                               chunk: int | None = None, act_bytes: int = 2) -> int:
    """Peak transient memory of one layer's prefill (buffers are reused layer after layer).

    q query tokens go through one forward: batch x tokens, or at most `chunk` for engines that split prompts
    (llama.cpp n_ubatch, vLLM max_num_batched_tokens, SGLang chunked_prefill_size). Peak =
      residual stream: the layer input kept for the residual add + its normed copy, 2 x q x hidden
        (hf-mem warm-up peak counts T*H once; transformers' LlamaDecoderLayer holds both `residual` and the norm output)
      + the largest of
        attention: Q, K, V projections q x (heads + 2 kv_heads) x head_dim and the output q x heads x head_dim
          (hf-mem's attention transient), plus
          flash/SDPA: the fp32 log-sum-exp, q x heads x 4 B (llm-analysis counts O(s) extra with flash attention);
          eager: scores q x heads x tokens at act_bytes + the fp32 softmax + the cast back, because transformers'
            `softmax(attn_weights, dtype=torch.float32).to(query.dtype)` holds all three at once (llm-analysis
            counts 2 x heads x s^2 x b x bytes for scores + softmax), plus repeat_kv's expanded K and V under GQA;
        MLP: 3 (gated: gate, up, act(gate) x up) or 2 intermediates of q x intermediate; MoE uses
          (experts_per_token + shared experts) x moe_intermediate (hf-mem: 2*T*ffn*d x top_k);
        logits of the last position of each sequence: bf16 logits + the fp32 copy generate() makes
          (`outputs.logits[:, -1].to(dtype=torch.float32)`); they come after the last layer, so they join the max.
    """
    check_count("batch", batch)
    check_count("tokens", tokens)
    if batch == 0 or tokens == 0:
        return 0
    q = batch * tokens if chunk is None else min(batch * tokens, chunk)
    h, nh, nkv, hd = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim
    residual = 2 * q * h * act_bytes
    attention = q * (nh + 2 * nkv) * hd * act_bytes + q * nh * hd * act_bytes
    if flash_attention:
        attention += q * nh * FP32
    else:
        per_score = act_bytes + FP32 + (act_bytes if act_bytes != FP32 else 0)
        attention += q * nh * tokens * per_score
        if nkv < nh:
            attention += 2 * q * nh * hd * act_bytes
    mlp = (3 if arch.gated_mlp else 2) * q * _mlp_width(arch) * act_bytes
    logits = 0 if arch.encoder_only else batch * arch.vocab_size * (act_bytes + FP32 if act_bytes != FP32 else FP32)
    return residual + max(attention, mlp, logits)


def training_activation_bytes(arch: Architecture, batch: int, tokens: int, recompute: str = "none",
                              flash_attention: bool = True, act_bytes: int = 2) -> int:
    """Activations kept for the backward pass (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
    Transformer Models", as in llm-analysis), per layer in 16-bit with s tokens, b sequences, h hidden, a heads:
      no recompute:            s*b*h*(34 + 5*a*s/h)
      selective recompute, or flash attention (no s^2 scores are stored):  34*s*b*h
      full recompute:          2*s*b*h per layer (its checkpointed input) + one layer's activations while it is
                               recomputed during backward.
    Plus the loss: transformers' ForCausalLMLoss upcasts the logits (`logits.float()`) and cross_entropy keeps its
    fp32 log-softmax for backward, so s*b*vocab x (act_bytes + 4 + 4) bytes. fp32 training doubles the 16-bit terms.
    """
    check_count("batch", batch)
    check_count("tokens", tokens)
    if batch == 0 or tokens == 0:
        return 0
    s, b, h, a = tokens, batch, arch.hidden_size, arch.num_heads
    sbh = s * b * h
    one_layer = 34 * sbh + (0 if flash_attention else 5 * a * s * s * b)
    if recompute == "none":
        layers = arch.num_layers * one_layer
    elif recompute == "selective":
        layers = arch.num_layers * 34 * sbh
    elif recompute == "full":
        layers = arch.num_layers * 2 * sbh + one_layer
    else:
        raise BadInputError(f"unknown recompute {recompute!r}; choose none, selective or full")
    layers = layers * act_bytes // 2
    loss = s * b * arch.vocab_size * ((act_bytes + 2 * FP32) if act_bytes != FP32 else 2 * FP32)
    return layers + loss


def _mlp_width(arch: Architecture) -> int:
    width = arch.intermediate_size or 4 * arch.hidden_size
    if arch.is_moe and arch.experts_per_token:
        routed = (arch.experts_per_token + arch.num_shared_experts) * (arch.moe_intermediate_size or width)
        width = max(width, routed)
    return width


def prefill_chunk_tokens(engine: str, gpu_memory_bytes: int | None = None) -> int | None:
    """Most prompt tokens one forward pass takes under this engine's defaults; None = the whole prompt at once."""
    if engine == "llamacpp":
        return LLAMACPP_UBATCH
    if engine == "vllm":
        # vLLM EngineArgs.get_batch_defaults, OpenAI server: 8192 on GPUs with >= 70 GiB (except A100), else 2048.
        return 2048 if gpu_memory_bytes is not None and gpu_memory_bytes < 70 * GiB else 8192
    if engine == "sglang":
        # SGLang ServerArgs: chunked_prefill_size 2048 below 35 GiB, 8192 below 160 GiB, else 16384; 4096 if unknown.
        if gpu_memory_bytes is None:
            return 4096
        return 2048 if gpu_memory_bytes < 35 * GiB else 8192 if gpu_memory_bytes < 160 * GiB else 16384
    return None
