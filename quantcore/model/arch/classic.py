"""Classic dense families from config.json: Falcon (incl. RefinedWeb), BLOOM, OPT, GPT-2, GPT-NeoX and BERT.

Names and shapes follow transformers 5.x: the *ForCausalLM module tree (BertModel with its pooler for BERT),
Linear weights stored (out, in), GPT-2's Conv1D weights stored (in, out). Sizes (hidden, layers, heads, vocab,
intermediate) must be in the config, since transformers would silently fill them with a reference model's values;
switches and structure knobs (biases, tying, layouts, positions) take transformers' own defaults when absent.
Buffers (rotary inv_freq, position_ids, causal masks) are not parameters and are left out.
"""
from __future__ import annotations

from typing import Any

from quantcore.model.arch import register
from quantcore.model.arch._common import dtype_of as _dtype
from quantcore.model.arch._common import flag as _flag
from quantcore.model.arch._common import positive as _positive
from quantcore.model.inventory import Architecture, TensorInfo

Config = dict[str, Any]



# ---------------------------------------------------------------- config reading


def _size(cfg: Config, *keys: str) -> int:
    """The first present of `keys` (the usual name, then old aliases) as a positive int; KeyError names the first."""
    for key in keys:
        if cfg.get(key) is not None:
            return _positive(key, cfg[key])
    raise KeyError(keys[0])


def _opt_size(cfg: Config, key: str, default: int) -> int:
    """An optional size field; absent or null -> transformers' default."""
    return default if cfg.get(key) is None else _positive(key, cfg[key])








def _head_dim(hidden: int, heads: int) -> int:
    if hidden % heads:
        raise ValueError(f"hidden size {hidden} is not divisible by {heads} attention heads")
    return hidden // heads


# ---------------------------------------------------------------- tensor helpers


def _tensor(name: str, shape: tuple[int, ...], dtype: str, role: str, kind: str,
            layer: int | None = None) -> TensorInfo:
    return TensorInfo(name=name, shape=shape, dtype=dtype, role=role, kind=kind, layer=layer)


def _linear(prefix: str, out_f: int, in_f: int, bias: bool, dtype: str, role: str, kind: str,
            layer: int | None = None) -> list[TensorInfo]:
    """nn.Linear: weight (out, in) and, when present, bias (out,)."""
    ts = [_tensor(f"{prefix}.weight", (out_f, in_f), dtype, role, kind, layer)]
    if bias:
        ts.append(_tensor(f"{prefix}.bias", (out_f,), dtype, role, f"{kind}_bias", layer))
    return ts


def _conv1d(prefix: str, out_f: int, in_f: int, dtype: str, role: str, kind: str,
            layer: int | None = None) -> list[TensorInfo]:
    """GPT-2's Conv1D: weight stored (in, out), always with bias (out,)."""
    return [_tensor(f"{prefix}.weight", (in_f, out_f), dtype, role, kind, layer),
            _tensor(f"{prefix}.bias", (out_f,), dtype, role, f"{kind}_bias", layer)]


def _layernorm(prefix: str, size: int, dtype: str, layer: int | None = None,
               affine: bool = True) -> list[TensorInfo]:
    """nn.LayerNorm: weight and bias, or nothing when elementwise_affine is off."""
    if not affine:
        return []
    return [_tensor(f"{prefix}.weight", (size,), dtype, "norm", "norm", layer),
            _tensor(f"{prefix}.bias", (size,), dtype, "norm", "norm", layer)]


def _lm_head(name: str, vocab: int, width: int, tied: bool, dtype: str) -> list[TensorInfo]:
    """The untied output projection; a tied one is the embedding itself and adds no parameters."""
    return [] if tied else [_tensor(name, (vocab, width), dtype, "head", "output")]


# ---------------------------------------------------------------- Falcon


@register("falcon", "RefinedWeb", "RefinedWebModel")
def falcon(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """FalconForCausalLM. Falcon-7B: multi-query fused QKV, one LayerNorm; Falcon-40B: new_decoder_architecture
    with num_kv_heads groups and ln_attn/ln_mlp. "RefinedWeb" (old 40B code) always uses the grouped layout,
    "RefinedWebModel" (old 7B code) the original one; both spell sizes n_embed/n_layer/n_head/n_head_kv."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "hidden_size", "n_embed")
    layers = _size(cfg, "num_hidden_layers", "n_layer")
    heads = _size(cfg, "num_attention_heads", "n_head")
    vocab = _size(cfg, "vocab_size")
    hd = _head_dim(hidden, heads)
    legacy = cfg.get("model_type")
    new_arch = True if legacy == "RefinedWeb" else _flag(cfg, "new_decoder_architecture", False)
    if legacy == "RefinedWebModel":
        new_arch = False
    multi_query = _flag(cfg, "multi_query", True)
    parallel = _flag(cfg, "parallel_attn", True)
    bias = _flag(cfg, "bias", False)
    groups = _opt_size(cfg, "num_kv_heads", _opt_size(cfg, "n_head_kv", heads))
    ffn = _opt_size(cfg, "ffn_hidden_size", 4 * hidden)
    if new_arch:
        if heads % groups:
            raise ValueError(f"{heads} attention heads do not split into {groups} kv groups")
        kv_heads, qkv_out = groups, (heads + 2 * groups) * hd
    elif multi_query:
        kv_heads, qkv_out = 1, hidden + 2 * hd
    else:
        kv_heads, qkv_out = heads, 3 * hidden
    n_ln = cfg.get("num_ln_in_parallel_attn")
    if n_ln is None and new_arch:
        n_ln = 2

    ts = [_tensor("transformer.word_embeddings.weight", (vocab, hidden), dtype, "embedding", "token_embd")]
    for i in range(layers):
        p = f"transformer.h.{i}"
        if not parallel:
            ts += _layernorm(f"{p}.input_layernorm", hidden, dtype, i)
            ts += _layernorm(f"{p}.post_attention_layernorm", hidden, dtype, i)
        elif n_ln == 2:
            ts += _layernorm(f"{p}.ln_attn", hidden, dtype, i)
            ts += _layernorm(f"{p}.ln_mlp", hidden, dtype, i)
        else:
            ts += _layernorm(f"{p}.input_layernorm", hidden, dtype, i)
        ts += _linear(f"{p}.self_attention.query_key_value", qkv_out, hidden, bias, dtype, "attention", "attn_qkv", i)
        ts += _linear(f"{p}.self_attention.dense", hidden, hidden, bias, dtype, "attention", "attn_output", i)
        ts += _linear(f"{p}.mlp.dense_h_to_4h", ffn, hidden, bias, dtype, "mlp", "ffn_up", i)
        ts += _linear(f"{p}.mlp.dense_4h_to_h", hidden, ffn, bias, dtype, "mlp", "ffn_down", i)
    ts += _layernorm("transformer.ln_f", hidden, dtype)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts += _lm_head("lm_head.weight", vocab, hidden, tied, dtype)
    arch = Architecture(
        model_type="falcon", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=ffn,
        max_context=_opt_size(cfg, "max_position_embeddings", 2048), tie_embeddings=tied, gated_mlp=False)
    return arch, ts


# ---------------------------------------------------------------- BLOOM


@register("bloom")
def bloom(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """BloomForCausalLM: ALiBi (no position table), LayerNorm on the embeddings, biases everywhere, MLP 4h."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "hidden_size", "n_embed")
    layers = _size(cfg, "n_layer", "num_hidden_layers")
    heads = _size(cfg, "n_head", "num_attention_heads")
    vocab = _size(cfg, "vocab_size")
    hd = _head_dim(hidden, heads)
    ffn = 4 * hidden  # BloomMLP is hard-wired to 4 * hidden_size (n_inner is ignored)

    ts = [_tensor("transformer.word_embeddings.weight", (vocab, hidden), dtype, "embedding", "token_embd")]
    ts += _layernorm("transformer.word_embeddings_layernorm", hidden, dtype)
    for i in range(layers):
        p = f"transformer.h.{i}"
        ts += _layernorm(f"{p}.input_layernorm", hidden, dtype, i)
        ts += _linear(f"{p}.self_attention.query_key_value", 3 * hidden, hidden, True, dtype, "attention",
                      "attn_qkv", i)
        ts += _linear(f"{p}.self_attention.dense", hidden, hidden, True, dtype, "attention", "attn_output", i)
        ts += _layernorm(f"{p}.post_attention_layernorm", hidden, dtype, i)
        ts += _linear(f"{p}.mlp.dense_h_to_4h", ffn, hidden, True, dtype, "mlp", "ffn_up", i)
        ts += _linear(f"{p}.mlp.dense_4h_to_h", hidden, ffn, True, dtype, "mlp", "ffn_down", i)
    ts += _layernorm("transformer.ln_f", hidden, dtype)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts += _lm_head("lm_head.weight", vocab, hidden, tied, dtype)
    # ALiBi has no position table; BLOOM was trained on 2048-token sequences (BLOOM paper, sec. 3.5 / model card)
    arch = Architecture(
        model_type="bloom", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=ffn, max_context=_opt_size(cfg, "seq_length", 2048),
        tie_embeddings=tied, gated_mlp=False)
    return arch, ts


# ---------------------------------------------------------------- OPT


@register("opt")
def opt(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """OPTForCausalLM: learned positions with 2 extra rows, project_in/out when word_embed_proj_dim != hidden,
    a final LayerNorm only when do_layer_norm_before (OPT-350m has neither)."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "hidden_size")
    layers = _size(cfg, "num_hidden_layers")
    heads = _size(cfg, "num_attention_heads")
    vocab = _size(cfg, "vocab_size")
    ffn = _size(cfg, "ffn_dim")
    hd = _head_dim(hidden, heads)
    positions = _opt_size(cfg, "max_position_embeddings", 2048)
    proj = _opt_size(cfg, "word_embed_proj_dim", hidden)
    bias = _flag(cfg, "enable_bias", True)
    affine = _flag(cfg, "layer_norm_elementwise_affine", True)
    final_ln = _flag(cfg, "do_layer_norm_before", True) and not _flag(cfg, "_remove_final_layer_norm", False)

    d = "model.decoder"
    ts = [_tensor(f"{d}.embed_tokens.weight", (vocab, proj), dtype, "embedding", "token_embd"),
          _tensor(f"{d}.embed_positions.weight", (positions + 2, hidden), dtype, "embedding", "pos_embd")]
    if proj != hidden:
        ts.append(_tensor(f"{d}.project_out.weight", (proj, hidden), dtype, "other", "other"))
        ts.append(_tensor(f"{d}.project_in.weight", (hidden, proj), dtype, "other", "other"))
    if final_ln:
        ts += _layernorm(f"{d}.final_layer_norm", hidden, dtype, affine=affine)
    for i in range(layers):
        p = f"{d}.layers.{i}"
        for name, kind in (("k_proj", "attn_k"), ("v_proj", "attn_v"), ("q_proj", "attn_q"),
                           ("out_proj", "attn_output")):
            ts += _linear(f"{p}.self_attn.{name}", hidden, hidden, bias, dtype, "attention", kind, i)
        ts += _layernorm(f"{p}.self_attn_layer_norm", hidden, dtype, i, affine)
        ts += _linear(f"{p}.fc1", ffn, hidden, bias, dtype, "mlp", "ffn_up", i)
        ts += _linear(f"{p}.fc2", hidden, ffn, bias, dtype, "mlp", "ffn_down", i)
        ts += _layernorm(f"{p}.final_layer_norm", hidden, dtype, i, affine)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts += _lm_head("lm_head.weight", vocab, proj, tied, dtype)
    arch = Architecture(
        model_type="opt", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=ffn, max_context=positions, tie_embeddings=tied,
        gated_mlp=False)
    return arch, ts


# ---------------------------------------------------------------- GPT-2


@register("gpt2")
def gpt2(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """GPT2LMHeadModel: Conv1D weights stored (in, out), learned positions, n_inner (default 4h)."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "n_embd", "hidden_size")
    layers = _size(cfg, "n_layer", "num_hidden_layers")
    heads = _size(cfg, "n_head", "num_attention_heads")
    vocab = _size(cfg, "vocab_size")
    hd = _head_dim(hidden, heads)
    positions = _opt_size(cfg, "n_positions", _opt_size(cfg, "max_position_embeddings", 1024))
    inner = _opt_size(cfg, "n_inner", 4 * hidden)
    cross = _flag(cfg, "add_cross_attention", False)

    ts = [_tensor("transformer.wte.weight", (vocab, hidden), dtype, "embedding", "token_embd"),
          _tensor("transformer.wpe.weight", (positions, hidden), dtype, "embedding", "pos_embd")]
    for i in range(layers):
        p = f"transformer.h.{i}"
        ts += _layernorm(f"{p}.ln_1", hidden, dtype, i)
        ts += _conv1d(f"{p}.attn.c_attn", 3 * hidden, hidden, dtype, "attention", "attn_qkv", i)
        ts += _conv1d(f"{p}.attn.c_proj", hidden, hidden, dtype, "attention", "attn_output", i)
        ts += _layernorm(f"{p}.ln_2", hidden, dtype, i)
        if cross:
            ts += _conv1d(f"{p}.crossattention.c_attn", 2 * hidden, hidden, dtype, "attention", "attn_qkv", i)
            ts += _conv1d(f"{p}.crossattention.q_attn", hidden, hidden, dtype, "attention", "attn_q", i)
            ts += _conv1d(f"{p}.crossattention.c_proj", hidden, hidden, dtype, "attention", "attn_output", i)
            ts += _layernorm(f"{p}.ln_cross_attn", hidden, dtype, i)
        ts += _conv1d(f"{p}.mlp.c_fc", inner, hidden, dtype, "mlp", "ffn_up", i)
        ts += _conv1d(f"{p}.mlp.c_proj", hidden, inner, dtype, "mlp", "ffn_down", i)
    ts += _layernorm("transformer.ln_f", hidden, dtype)
    tied = _flag(cfg, "tie_word_embeddings", True)
    ts += _lm_head("lm_head.weight", vocab, hidden, tied, dtype)
    arch = Architecture(
        model_type="gpt2", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=inner, max_context=positions, tie_embeddings=tied,
        gated_mlp=False)
    return arch, ts


# ---------------------------------------------------------------- GPT-NeoX


@register("gpt_neox")
def gpt_neox(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """GPTNeoXForCausalLM: fused QKV with bias, two LayerNorms per layer, untied output (checkpoints call it
    embed_out; transformers 5 renames it lm_head). Parallel residual and rotary_pct change no parameter."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "hidden_size")
    layers = _size(cfg, "num_hidden_layers")
    heads = _size(cfg, "num_attention_heads")
    vocab = _size(cfg, "vocab_size")
    ffn = _size(cfg, "intermediate_size")
    hd = _head_dim(hidden, heads)
    bias = _flag(cfg, "attention_bias", True)

    ts = [_tensor("gpt_neox.embed_in.weight", (vocab, hidden), dtype, "embedding", "token_embd")]
    for i in range(layers):
        p = f"gpt_neox.layers.{i}"
        ts += _layernorm(f"{p}.input_layernorm", hidden, dtype, i)
        ts += _layernorm(f"{p}.post_attention_layernorm", hidden, dtype, i)
        ts += _linear(f"{p}.attention.query_key_value", 3 * hidden, hidden, bias, dtype, "attention", "attn_qkv", i)
        ts += _linear(f"{p}.attention.dense", hidden, hidden, bias, dtype, "attention", "attn_output", i)
        ts += _linear(f"{p}.mlp.dense_h_to_4h", ffn, hidden, True, dtype, "mlp", "ffn_up", i)
        ts += _linear(f"{p}.mlp.dense_4h_to_h", hidden, ffn, True, dtype, "mlp", "ffn_down", i)
    ts += _layernorm("gpt_neox.final_layer_norm", hidden, dtype)
    tied = _flag(cfg, "tie_word_embeddings", False)
    ts += _lm_head("lm_head.weight", vocab, hidden, tied, dtype)
    arch = Architecture(
        model_type="gpt_neox", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=ffn,
        max_context=_opt_size(cfg, "max_position_embeddings", 2048), tie_embeddings=tied, gated_mlp=False)
    return arch, ts


# ---------------------------------------------------------------- BERT


def _bert_attention(p: str, hidden: int, dtype: str, i: int) -> list[TensorInfo]:
    ts: list[TensorInfo] = []
    for name, kind in (("query", "attn_q"), ("key", "attn_k"), ("value", "attn_v")):
        ts += _linear(f"{p}.self.{name}", hidden, hidden, True, dtype, "attention", kind, i)
    ts += _linear(f"{p}.output.dense", hidden, hidden, True, dtype, "attention", "attn_output", i)
    ts += _layernorm(f"{p}.output.LayerNorm", hidden, dtype, i)
    return ts


@register("bert")
def bert(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """BertModel (what AutoModel builds): word, position and token-type embeddings, post-LN encoder layers and
    the pooler; the MLM/NSP heads are not part of it. An encoder: no KV cache."""
    dtype = _dtype(cfg)
    hidden = _size(cfg, "hidden_size")
    layers = _size(cfg, "num_hidden_layers")
    heads = _size(cfg, "num_attention_heads")
    vocab = _size(cfg, "vocab_size")
    ffn = _size(cfg, "intermediate_size")
    hd = _head_dim(hidden, heads)
    positions = _opt_size(cfg, "max_position_embeddings", 512)
    types = _opt_size(cfg, "type_vocab_size", 2)
    decoder = _flag(cfg, "is_decoder", False)
    cross = _flag(cfg, "add_cross_attention", False)
    if cross and not decoder:
        raise ValueError("add_cross_attention needs is_decoder (transformers refuses this BERT config)")

    ts = [_tensor("embeddings.word_embeddings.weight", (vocab, hidden), dtype, "embedding", "token_embd"),
          _tensor("embeddings.position_embeddings.weight", (positions, hidden), dtype, "embedding", "pos_embd"),
          _tensor("embeddings.token_type_embeddings.weight", (types, hidden), dtype, "embedding", "pos_embd")]
    ts += _layernorm("embeddings.LayerNorm", hidden, dtype)
    for i in range(layers):
        p = f"encoder.layer.{i}"
        ts += _bert_attention(f"{p}.attention", hidden, dtype, i)
        if cross:
            ts += _bert_attention(f"{p}.crossattention", hidden, dtype, i)
        ts += _linear(f"{p}.intermediate.dense", ffn, hidden, True, dtype, "mlp", "ffn_up", i)
        ts += _linear(f"{p}.output.dense", hidden, ffn, True, dtype, "mlp", "ffn_down", i)
        ts += _layernorm(f"{p}.output.LayerNorm", hidden, dtype, i)
    ts += _linear("pooler.dense", hidden, hidden, True, dtype, "other", "other")
    arch = Architecture(
        model_type="bert", num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=heads,
        head_dim=hd, vocab_size=vocab, intermediate_size=ffn, max_context=positions, tie_embeddings=False,
        encoder_only=not decoder, gated_mlp=False)
    return arch, ts
