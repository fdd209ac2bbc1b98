"""A dense-model guess from a bare parameter count ("70B"), shaped like the Llama family and flagged as a guess."""
from __future__ import annotations

import math
import re
from decimal import Decimal

from quantcore.errors import BadInputError
from quantcore.model.bounds import check_inventory
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

# digits and exponent bounded: '1e400' and a 5,000-digit count are refused as absurd, never turned into inf
_COUNT = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?(?:e\d{1,4})?)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
MAX_PARAMETERS = 100 * 10**12
# Llama 3: a 128,256-token vocabulary, 8 KV heads (GQA), 128-wide heads (64 below 4096 hidden, as Llama 3.2 1B),
# MLP width ~3.5 x hidden in multiples of 256 (14,336 for 8B, 28,672 for 70B), depth ~ hidden / 128 (32 layers at
# 4096, 126 at 16,384), 131,072 tokens of context (3.1), tied embeddings in the small models (3.2 1B / 3B).
LLAMA3_VOCAB = 128_256
SMALL_VOCAB = 32_000  # Llama 2's, for models too small to carry Llama 3's
GUESS_KV_HEADS = 8
MLP_RATIO = 3.5
MLP_MULTIPLE = 256
DEPTH_PER_HIDDEN = 1 / 128
TIE_BELOW = 4 * 10**9
GUESS_MAX_CONTEXT = 131_072
# kept for callers of the first version of this module
GUESS_VOCAB = LLAMA3_VOCAB
GUESS_HEAD_DIM = 128


def parse_count(text: str) -> int | None:
    """'7B' -> 7_000_000_000, '1.5t', '350m', '7e9'; None when the text is not a count."""
    m = _COUNT.match(text)
    if not m:
        return None
    value = Decimal(m.group(1)) * _SCALE[m.group(2).lower()]  # exact: no float overflow
    if value > MAX_PARAMETERS:
        raise BadInputError(f"parameter count '{text.strip()}' is absurd (more than {MAX_PARAMETERS // 10**12}T)")
    return int(value.to_integral_value())


def _head_dim(h: int) -> int:
    return 64 if h < 4096 else 128


def _layer_params(h: int, inter: int) -> int:
    """Weights of one Llama block: q, o (h x h), k, v (kv_heads x head_dim rows), gate/up/down, two norms."""
    kv = min(GUESS_KV_HEADS, h // _head_dim(h)) * _head_dim(h)
    return 2 * h * h + 2 * h * kv + 3 * h * inter + 2 * h


def _shape(n: int, h: int) -> tuple[int, int, int, bool]:
    """(vocab, layers, intermediate, tied) of an n-parameter model with hidden size h."""
    tied = n < TIE_BELOW
    vocab = LLAMA3_VOCAB
    for candidate in (LLAMA3_VOCAB, SMALL_VOCAB):
        vocab = candidate
        if (1 if tied else 2) * vocab * h <= n // 4:  # embeddings under a quarter of the model
            break
    else:
        vocab = max(256, n // (10 * h))
    body = n - (1 if tied else 2) * vocab * h - h
    inter = max(MLP_MULTIPLE, round(MLP_RATIO * h / MLP_MULTIPLE) * MLP_MULTIPLE)
    layers = max(1, round(body / _layer_params(h, inter)))
    # the MLP width (a multiple of 256, rounded down) takes up what the whole layers leave
    per_layer_rest = _layer_params(h, 0)
    width = (body / layers - per_layer_rest) / (3 * h)
    inter = max(MLP_MULTIPLE, int(width // MLP_MULTIPLE) * MLP_MULTIPLE)
    return vocab, layers, inter, tied


def guess_shape(n: int) -> tuple[int, int, int, int, bool]:
    """(hidden, layers, intermediate, vocab, tied) for n parameters: the power-of-two hidden size whose depth is
    closest to Llama's hidden / 128."""
    best = None
    for e in range(8, 16):  # hidden 256 .. 32768
        h = 2**e
        vocab, layers, inter, tied = _shape(n, h)
        if (1 if tied else 2) * vocab * h + layers * _layer_params(h, inter) > n:
            continue
        miss = abs(math.log(layers / max(1.0, h * DEPTH_PER_HIDDEN)))
        if best is None or miss < best[0]:
            best = (miss, h, layers, inter, vocab, tied)
    if best is None:
        raise BadInputError(f"parameter count {n:,} is too small to guess a shape from")
    return best[1], best[2], best[3], best[4], best[5]


def from_parameter_count(n: int) -> Inventory:
    """A Llama-3-shaped dense model with exactly n parameters; every note says it is a guess."""
    if n < 50_000_000:
        raise BadInputError(f"parameter count {n:,} is too small to guess a shape from (at least 50M); "
                            "open the model's config.json or .safetensors instead")
    if n > MAX_PARAMETERS:
        raise BadInputError(f"parameter count {n:,} is absurd (more than 100T)")
    h, layers, inter, vocab, tied = guess_shape(n)
    hd = _head_dim(h)
    heads = h // hd
    kv_heads = min(GUESS_KV_HEADS, heads)
    tensors: list[TensorInfo] = [
        TensorInfo("model.embed_tokens.weight", (vocab, h), role="embedding", kind="token_embd")]
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors += [
            TensorInfo(p + "input_layernorm.weight", (h,), role="norm", kind="norm", layer=i),
            TensorInfo(p + "self_attn.q_proj.weight", (h, h), role="attention", kind="attn_q", layer=i),
            TensorInfo(p + "self_attn.k_proj.weight", (kv_heads * hd, h), role="attention", kind="attn_k", layer=i),
            TensorInfo(p + "self_attn.v_proj.weight", (kv_heads * hd, h), role="attention", kind="attn_v", layer=i),
            TensorInfo(p + "self_attn.o_proj.weight", (h, h), role="attention", kind="attn_output", layer=i),
            TensorInfo(p + "post_attention_layernorm.weight", (h,), role="norm", kind="norm", layer=i),
            TensorInfo(p + "mlp.gate_proj.weight", (inter, h), role="mlp", kind="ffn_gate", layer=i),
            TensorInfo(p + "mlp.up_proj.weight", (inter, h), role="mlp", kind="ffn_up", layer=i),
            TensorInfo(p + "mlp.down_proj.weight", (h, inter), role="mlp", kind="ffn_down", layer=i),
        ]
    tensors.append(TensorInfo("model.norm.weight", (h,), role="norm", kind="norm"))
    if not tied:
        tensors.append(TensorInfo("lm_head.weight", (vocab, h), role="head", kind="output"))
    rest = n - sum(t.numel for t in tensors)
    # What the whole shapes miss (under 1% of the model), so that the total is exactly n: rows of the hidden width,
    # quantized like any matrix, and the last few values as a vector.
    if rest >= h:
        tensors.append(TensorInfo("unassigned.weight", (rest // h, h), role="other", kind="other"))
    if rest % h:
        tensors.append(TensorInfo("unassigned.rest", (rest % h,), role="other", kind="other"))
    arch = Architecture(model_type="guess", num_layers=layers, hidden_size=h, num_heads=heads, num_kv_heads=kv_heads,
                        head_dim=hd, vocab_size=vocab, intermediate_size=inter, max_context=GUESS_MAX_CONTEXT,
                        tie_embeddings=tied)
    note = (f"a guess from a bare count of {n:,} parameters: a dense Llama-3-like model with {layers} layers, hidden "
            f"{h}, {heads} heads of {hd} with {kv_heads} KV heads (GQA), MLP {inter}, vocabulary {vocab:,}"
            f"{', tied embeddings' if tied else ''}; open the real config.json or weights for exact numbers")
    return check_inventory(Inventory(id=f"{n / 1e9:g}B (count)", source="count", tensors=tuple(tensors), arch=arch,
                                     notes=(note,)))
