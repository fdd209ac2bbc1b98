"""Assorted dense decoders from config.json: Cohere, OLMo, OLMo 2, Granite, StarCoder2, Phi-3, Phi and GPT-J."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from quantcore.model.arch import register
from quantcore.model.arch._common import dtype_of as _dtype
from quantcore.model.arch._common import flag as _flag
from quantcore.model.bounds import config_int
from quantcore.model.inventory import Architecture, TensorInfo

# Names and shapes follow transformers 5.x *ForCausalLM (Linear weights stored (out, in)). Sizes (hidden, layers,
# heads, vocab and, except GPT-J, intermediate) must be in the config: transformers would silently fill them in from
# a reference model. Switches and structure knobs take the family's transformers config defaults when absent.
# Quirks with no parameters of their own (Cohere logit_scale, OLMo clip_qkv, Granite multipliers, partial rotary)
# change nothing here. Buffers (rotary tables, masks) are not parameters and are left out.

Config = dict[str, Any]
Tensors = list[TensorInfo]

_MISSING = object()


# ---------------------------------------------------------------- config reading


def _int(cfg: Config, *keys: str, default: Any = _MISSING) -> int:
    """The first present (non-null) of `keys` as a positive int; `default` when none is, else KeyError."""
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"'{key}' must be an integer, not {value!r}")
            if value <= 0:
                raise ValueError(f"'{key}' must be positive, not {value}")
            return config_int(key, value)
    if default is _MISSING:
        raise KeyError(keys[0])
    return default






@dataclass(frozen=True)
class Dims:
    """The sizes one decoder config fixes, after aliases and defaults."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    intermediate: int
    max_context: int

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim


def decoder_dims(cfg: Config, max_context_default: int, kv_heads_default: int | None = None) -> Dims:
    """Sizes of a Llama-style config: explicit head_dim wins, else hidden // heads (transformers' getattr rule);
    absent num_key_value_heads means multi-head attention unless the family's config class says otherwise."""
    hidden = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", default=kv_heads_default or heads)
    if heads % kv_heads:
        raise ValueError(f"{heads} attention heads do not split into {kv_heads} key/value heads")
    head_dim = _int(cfg, "head_dim", default=hidden // heads)
    if head_dim <= 0:
        raise ValueError(f"hidden_size {hidden} is smaller than num_attention_heads {heads}")
    return Dims(
        layers=_int(cfg, "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        vocab=_int(cfg, "vocab_size"), intermediate=_int(cfg, "intermediate_size"),
        max_context=_int(cfg, "max_position_embeddings", default=max_context_default))


def all_layers(kind: str, layers: int) -> tuple[str, ...]:
    return (kind,) * layers


def window_layers(cfg: Config, layers: int) -> tuple[int | None, tuple[str, ...]]:
    """StarCoder2 / Phi-3: one sliding_window applies to every layer when set, none when null or absent."""
    window = _int(cfg, "sliding_window", default=None)
    return window, all_layers("sliding" if window else "full", layers)


def architecture(model_type: str, d: Dims, *, tied: bool, gated: bool, window: int | None = None,
                 kinds: tuple[str, ...] = ()) -> Architecture:
    return Architecture(
        model_type=model_type, num_layers=d.layers, hidden_size=d.hidden, num_heads=d.heads,
        num_kv_heads=d.kv_heads, head_dim=d.head_dim, vocab_size=d.vocab, intermediate_size=d.intermediate,
        max_context=d.max_context, sliding_window=window, layer_attention=kinds or all_layers("full", d.layers),
        tie_embeddings=tied, gated_mlp=gated)


# ---------------------------------------------------------------- tensor pieces


def _t(name: str, shape: tuple[int, ...], dtype: str, role: str, kind: str, layer: int | None) -> TensorInfo:
    return TensorInfo(name=name, shape=shape, dtype=dtype, role=role, kind=kind, layer=layer)


def linear(prefix: str, out_f: int, in_f: int, bias: bool, dtype: str, role: str, kind: str,
           layer: int | None = None) -> Tensors:
    """nn.Linear: weight (out, in) and, when it has one, bias (out,) with kind `<kind>_bias`."""
    ts = [_t(f"{prefix}.weight", (out_f, in_f), dtype, role, kind, layer)]
    if bias:
        ts.append(_t(f"{prefix}.bias", (out_f,), dtype, role, f"{kind}_bias", layer))
    return ts


def norm(prefix: str, shape: tuple[int, ...], bias: bool, dtype: str, layer: int | None = None) -> Tensors:
    """A norm's weight (RMSNorm, bias-free LayerNorm) and, for nn.LayerNorm, its bias."""
    ts = [_t(f"{prefix}.weight", shape, dtype, "norm", "norm", layer)]
    if bias:
        ts.append(_t(f"{prefix}.bias", shape, dtype, "norm", "norm", layer))
    return ts


def separate_qkvo(prefix: str, d: Dims, bias: bool, dtype: str, layer: int, out_name: str = "o_proj") -> Tensors:
    """q_proj, k_proj, v_proj and the output projection, all with or all without bias."""
    return (linear(f"{prefix}.q_proj", d.q_width, d.hidden, bias, dtype, "attention", "attn_q", layer)
            + linear(f"{prefix}.k_proj", d.kv_width, d.hidden, bias, dtype, "attention", "attn_k", layer)
            + linear(f"{prefix}.v_proj", d.kv_width, d.hidden, bias, dtype, "attention", "attn_v", layer)
            + linear(f"{prefix}.{out_name}", d.hidden, d.q_width, bias, dtype, "attention", "attn_output", layer))


def gated_mlp(prefix: str, d: Dims, bias: bool, dtype: str, layer: int) -> Tensors:
    """SwiGLU MLP: gate_proj, up_proj, down_proj."""
    return (linear(f"{prefix}.gate_proj", d.intermediate, d.hidden, bias, dtype, "mlp", "ffn_gate", layer)
            + linear(f"{prefix}.up_proj", d.intermediate, d.hidden, bias, dtype, "mlp", "ffn_up", layer)
            + linear(f"{prefix}.down_proj", d.hidden, d.intermediate, bias, dtype, "mlp", "ffn_down", layer))


def plain_mlp(prefix: str, up: str, down: str, d: Dims, bias: bool, dtype: str, layer: int) -> Tensors:
    """Two-matrix MLP (GELU): up then down projection."""
    return (linear(f"{prefix}.{up}", d.intermediate, d.hidden, bias, dtype, "mlp", "ffn_up", layer)
            + linear(f"{prefix}.{down}", d.hidden, d.intermediate, bias, dtype, "mlp", "ffn_down", layer))


def embedding(name: str, d: Dims, dtype: str) -> Tensors:
    return [_t(name, (d.vocab, d.hidden), dtype, "embedding", "token_embd", None)]


def lm_head(d: Dims, tied: bool, bias: bool, dtype: str) -> Tensors:
    """The output projection: a tied weight is the embedding itself (counted once); a bias is always its own."""
    ts = [] if tied else [_t("lm_head.weight", (d.vocab, d.hidden), dtype, "head", "output", None)]
    if bias:
        ts.append(_t("lm_head.bias", (d.vocab,), dtype, "head", "output_bias", None))
    return ts


# ---------------------------------------------------------------- families


@register("cohere")
def cohere(cfg: Config) -> tuple[Architecture, Tensors]:
    """CohereForCausalLM (Command-R): parallel attention + MLP after one bias-free LayerNorm, tied embeddings,
    optional per-head LayerNorm on q and k (weights shaped (heads, head_dim))."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 8192)
    # transformers keeps max_position_embeddings at 8192 for Command-R; the served context is model_max_length
    d = replace(d, max_context=max(d.max_context, _int(cfg, "model_max_length", default=0)))
    bias = _flag(cfg, "attention_bias", False)
    qk_norm = _flag(cfg, "use_qk_norm", False)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, bias, dtype, i)
        if qk_norm:
            ts += norm(f"{p}.self_attn.q_norm", (d.heads, d.head_dim), False, dtype, i)
            ts += norm(f"{p}.self_attn.k_norm", (d.kv_heads, d.head_dim), False, dtype, i)
        ts += gated_mlp(f"{p}.mlp", d, False, dtype, i)
        ts += norm(f"{p}.input_layernorm", (d.hidden,), False, dtype, i)
    ts += norm("model.norm", (d.hidden,), False, dtype)
    ts += lm_head(d, tied, False, dtype)
    return architecture("cohere", d, tied=tied, gated=True), ts


@register("olmo")
def olmo(cfg: Config) -> tuple[Architecture, Tensors]:
    """OlmoForCausalLM (OLMo 1): Llama layout but non-parametric LayerNorms, so no norm tensors at all."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 2048)
    bias = _flag(cfg, "attention_bias", False)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, bias, dtype, i)
        ts += gated_mlp(f"{p}.mlp", d, False, dtype, i)
    ts += lm_head(d, tied, False, dtype)
    return architecture("olmo", d, tied=tied, gated=True), ts


@register("olmo2")
def olmo2(cfg: Config) -> tuple[Architecture, Tensors]:
    """Olmo2ForCausalLM: RMSNorm after attention and after the MLP (no pre-norms), and q_norm / k_norm over the
    whole q and k projections (heads * head_dim wide, not per head)."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 2048)
    bias = _flag(cfg, "attention_bias", False)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, bias, dtype, i)
        ts += norm(f"{p}.self_attn.q_norm", (d.q_width,), False, dtype, i)
        ts += norm(f"{p}.self_attn.k_norm", (d.kv_width,), False, dtype, i)
        ts += gated_mlp(f"{p}.mlp", d, False, dtype, i)
        ts += norm(f"{p}.post_attention_layernorm", (d.hidden,), False, dtype, i)
        ts += norm(f"{p}.post_feedforward_layernorm", (d.hidden,), False, dtype, i)
    ts += norm("model.norm", (d.hidden,), False, dtype)
    ts += lm_head(d, tied, False, dtype)
    return architecture("olmo2", d, tied=tied, gated=True), ts


@register("granite")
def granite(cfg: Config) -> tuple[Architecture, Tensors]:
    """GraniteForCausalLM: Llama with scalar multipliers (no parameters); attention_bias and mlp_bias switches."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 2048)
    attn_bias = _flag(cfg, "attention_bias", False)
    mlp_bias = _flag(cfg, "mlp_bias", False)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, attn_bias, dtype, i)
        ts += gated_mlp(f"{p}.mlp", d, mlp_bias, dtype, i)
        ts += norm(f"{p}.input_layernorm", (d.hidden,), False, dtype, i)
        ts += norm(f"{p}.post_attention_layernorm", (d.hidden,), False, dtype, i)
    ts += norm("model.norm", (d.hidden,), False, dtype)
    ts += lm_head(d, tied, False, dtype)
    return architecture("granite", d, tied=tied, gated=True), ts


@register("starcoder2")
def starcoder2(cfg: Config) -> tuple[Architecture, Tensors]:
    """Starcoder2ForCausalLM: LayerNorms with bias, GELU MLP c_fc / c_proj, use_bias on every projection,
    tied embeddings by default, one sliding window on every layer."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 4096, kv_heads_default=2)  # Starcoder2Config: num_key_value_heads = 2
    bias = _flag(cfg, "use_bias", True)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, bias, dtype, i)
        ts += plain_mlp(f"{p}.mlp", "c_fc", "c_proj", d, bias, dtype, i)
        ts += norm(f"{p}.input_layernorm", (d.hidden,), True, dtype, i)
        ts += norm(f"{p}.post_attention_layernorm", (d.hidden,), True, dtype, i)
    ts += norm("model.norm", (d.hidden,), True, dtype)
    ts += lm_head(d, tied, False, dtype)
    window, kinds = window_layers(cfg, d.layers)
    return architecture("starcoder2", d, tied=tied, gated=False, window=window, kinds=kinds), ts


@register("phi3")
def phi3(cfg: Config) -> tuple[Architecture, Tensors]:
    """Phi3ForCausalLM: fused qkv_proj and gate_up_proj, no biases, RMSNorms, one sliding window on every layer."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 4096)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += linear(f"{p}.self_attn.o_proj", d.hidden, d.q_width, False, dtype, "attention", "attn_output", i)
        ts += linear(f"{p}.self_attn.qkv_proj", d.q_width + 2 * d.kv_width, d.hidden, False, dtype, "attention",
                     "attn_qkv", i)
        ts += linear(f"{p}.mlp.gate_up_proj", 2 * d.intermediate, d.hidden, False, dtype, "mlp", "ffn_gate_up", i)
        ts += linear(f"{p}.mlp.down_proj", d.hidden, d.intermediate, False, dtype, "mlp", "ffn_down", i)
        ts += norm(f"{p}.input_layernorm", (d.hidden,), False, dtype, i)
        ts += norm(f"{p}.post_attention_layernorm", (d.hidden,), False, dtype, i)
    ts += norm("model.norm", (d.hidden,), False, dtype)
    ts += lm_head(d, tied, False, dtype)
    window, kinds = window_layers(cfg, d.layers)
    return architecture("phi3", d, tied=tied, gated=True, window=window, kinds=kinds), ts


@register("phi")
def phi(cfg: Config) -> tuple[Architecture, Tensors]:
    """PhiForCausalLM (phi-1/1.5/2): parallel attention + MLP after one LayerNorm, biases on every projection,
    optional q/k LayerNorms (hidden // heads wide, whatever head_dim says), final_layernorm, lm_head bias."""
    dtype = _dtype(cfg)
    d = decoder_dims(cfg, 2048)
    qk_norm = _flag(cfg, "qk_layernorm", False)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("model.embed_tokens.weight", d, dtype)
    for i in range(d.layers):
        p = f"model.layers.{i}"
        ts += separate_qkvo(f"{p}.self_attn", d, True, dtype, i, out_name="dense")
        if qk_norm:
            ts += norm(f"{p}.self_attn.q_layernorm", (d.hidden // d.heads,), True, dtype, i)
            ts += norm(f"{p}.self_attn.k_layernorm", (d.hidden // d.heads,), True, dtype, i)
        ts += plain_mlp(f"{p}.mlp", "fc1", "fc2", d, True, dtype, i)
        ts += norm(f"{p}.input_layernorm", (d.hidden,), True, dtype, i)
    ts += norm("model.final_layernorm", (d.hidden,), True, dtype)
    ts += lm_head(d, tied, True, dtype)
    return architecture("phi", d, tied=tied, gated=False), ts


@register("gptj")
def gptj(cfg: Config) -> tuple[Architecture, Tensors]:
    """GPTJForCausalLM: parallel attention + MLP after ln_1, bias-free q/k/v/out_proj (multi-head only),
    fc_in / fc_out with biases, n_inner defaulting to 4 * n_embd, lm_head with a bias."""
    dtype = _dtype(cfg)
    hidden = _int(cfg, "n_embd", "hidden_size")
    heads = _int(cfg, "n_head", "num_attention_heads")
    if hidden % heads:
        raise ValueError(f"n_embd {hidden} is not divisible by n_head {heads}")
    d = Dims(layers=_int(cfg, "n_layer", "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=heads,
             head_dim=hidden // heads, vocab=_int(cfg, "vocab_size"),
             intermediate=_int(cfg, "n_inner", default=4 * hidden),
             max_context=_int(cfg, "n_positions", "max_position_embeddings", default=2048))
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts = embedding("transformer.wte.weight", d, dtype)
    for i in range(d.layers):
        p = f"transformer.h.{i}"
        ts += norm(f"{p}.ln_1", (d.hidden,), True, dtype, i)
        ts += separate_qkvo(f"{p}.attn", d, False, dtype, i, out_name="out_proj")
        ts += plain_mlp(f"{p}.mlp", "fc_in", "fc_out", d, True, dtype, i)
    ts += norm("transformer.ln_f", (d.hidden,), True, dtype)
    ts += lm_head(d, tied, True, dtype)
    return architecture("gptj", d, tied=tied, gated=False), ts
