"""Inference activation memory of transformers-style engines: the prefill peak; prompt chunking per engine."""
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
    """Peak transient memory of a transformers prefill (buffers are reused layer after layer), measured tensor by
    tensor in benchmarks/accuracy (golden cases in tests/golden/accuracy/transformers.json).

    q query tokens go through one forward: batch x tokens, or at most `chunk` for engines that split prompts
    (vLLM max_num_batched_tokens, SGLang chunked_prefill_size). a = act_bytes. Alive throughout, per token:
    the input embeddings (the model's forward keeps `inputs_embeds`), the layer's input (the loop variable),
    the residual after attention and the normed input of the block running: 4h (GPT-2-style absolute position
    embeddings, and Gemma's sqrt(h)-scaled embeddings, keep one more, 5h); rotary models also keep cos and sin
    (2 x tokens x head_dim). On top, the
    largest of
      MLP: gated act(gate), up and their product, 3I; a fused GELU MLP 2I; GPT-2's composite gelu_new 4I;
        MoE (transformers' grouped experts): per routed copy the gathered input h, the fused gate_up 2I_e, act
        and product 2I_e (k x (h + 4I_e)) + the shared experts' 3I;
      attention: SDPA/flash keeps q, k, v and its output (2Eq + 2Ekv) and the fp32 log-sum-exp (4 B x heads);
        eager keeps q and K, V repeated to every head (3Eq) and its scores three times at once: the a-byte
        product, its fp32 upcast and the fp32 softmax (heads x tokens x (a + 8));
      logits of the last position of each sequence: a-byte logits + generate()'s fp32 copy.
    """
    check_count("batch", batch)
    check_count("tokens", tokens)
    if batch == 0 or tokens == 0:
        return 0
    a = act_bytes
    q = batch * tokens if chunk is None else min(batch * tokens, chunk)
    h, nh, nkv, hd = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim
    eq, ekv = nh * hd, nkv * hd
    absolute = arch.model_type in _ABSOLUTE_POSITION_TYPES
    extra = absolute or arch.model_type in _SCALED_EMBEDDING_TYPES
    stream = (5 if extra else 4) * q * h * a + (0 if absolute else 2 * min(tokens, q) * hd * a)
    if flash_attention:
        attention = q * (2 * eq + 2 * ekv) * a + q * nh * FP32
    else:
        attention = 3 * q * eq * a + q * nh * tokens * (a + 2 * FP32)
    mlp = q * _mlp_peak_width(arch) * a
    logits = 0 if arch.encoder_only else batch * arch.vocab_size * (a + FP32 if a != FP32 else FP32)
    return stream + max(attention, mlp, logits)


_ABSOLUTE_POSITION_TYPES = frozenset({"gpt2", "gpt_bigcode", "opt", "bert", "roberta", "distilbert"})
_COMPOSITE_GELU_TYPES = frozenset({"gpt2", "gptj", "codegen"})
# Gemma multiplies the embeddings by sqrt(hidden) into a new tensor while the model still holds inputs_embeds
_SCALED_EMBEDDING_TYPES = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text"})


def _mlp_peak_width(arch: Architecture) -> int:
    """Intermediate values per token alive at the MLP's peak (see inference_activation_bytes)."""
    width = arch.intermediate_size or 4 * arch.hidden_size
    if arch.is_moe and arch.experts_per_token:
        ie = arch.moe_intermediate_size or width
        return arch.experts_per_token * (arch.hidden_size + 4 * ie) + arch.num_shared_experts * 3 * ie
    if arch.gated_mlp:
        return 3 * width
    return (4 if arch.model_type in _COMPOSITE_GELU_TYPES else 2) * width


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
