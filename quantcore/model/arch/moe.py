"""Mixture-of-experts families from config.json: Mixtral, Qwen2/Qwen3-MoE, DeepSeek-V2/V3 (MLA) and gpt-oss.

Tensor names and shapes follow transformers 5.x, which stores each layer's routed experts fused as 3-D
parameters (`mlp.experts.gate_up_proj`, `mlp.experts.down_proj`; gpt-oss adds their biases). One such
parameter becomes one TensorInfo per layer with the per-expert matrix as `shape` and `count` = experts.

Sizes (hidden, layers, heads, kv heads, vocab, intermediate sizes, expert counts, top-k, MLA ranks) must be in
the config: transformers would silently fill them with its reference model's values, which plans the wrong
model. Switches and structure knobs (biases, tying, sparse step, dense-layer lists, sliding settings) take
transformers' own defaults when absent.
"""
from __future__ import annotations

from typing import Any

from quantcore.model.arch import register
from quantcore.model.arch._common import dtype_of as _dtype
from quantcore.model.bounds import config_int
from quantcore.model.inventory import Architecture, TensorInfo

Config = dict[str, Any]

_LAYER_TYPES = {"full_attention": "full", "sliding_attention": "sliding"}


# ---------------------------------------------------------------- config reading


def _int(cfg: Config, key: str, default: int | None = None) -> int:
    """An integer field; absent or null -> default (KeyError when there is none); not an int -> TypeError."""
    if key not in cfg or cfg[key] is None:
        if default is None:
            raise KeyError(key)
        return default
    return config_int(key, cfg[key])




def _head_dim(cfg: Config, hidden: int, heads: int) -> int:
    """Explicit head_dim when the config gives one (Qwen3, gpt-oss), else hidden / heads."""
    return _int(cfg, "head_dim", hidden // heads)


def _layer_kinds(types: list[str], num_layers: int) -> tuple[str, ...]:
    """Map transformers' `layer_types` ("sliding_attention"/"full_attention") to "sliding"/"full"."""
    if not isinstance(types, list) or len(types) != num_layers:
        raise ValueError(f"'layer_types' must list one entry for each of the {num_layers} layers")
    try:
        return tuple(_LAYER_TYPES[t] for t in types)
    except KeyError as exc:
        raise ValueError(f"'layer_types' has an unknown entry {exc}") from None


# ---------------------------------------------------------------- tensor builders


def _linear(name: str, out_dim: int, in_dim: int, dtype: str, role: str, kind: str, layer: int | None,
            bias: bool = False) -> list[TensorInfo]:
    """An nn.Linear: weight (out, in) and, optionally, bias (out,)."""
    ts = [TensorInfo(f"{name}.weight", (out_dim, in_dim), dtype, role, kind, layer)]
    if bias:
        ts.append(TensorInfo(f"{name}.bias", (out_dim,), dtype, role, f"{kind}_bias", layer))
    return ts


def _norm(name: str, dim: int, dtype: str, layer: int | None) -> TensorInfo:
    return TensorInfo(f"{name}.weight", (dim,), dtype, "norm", "norm", layer)


def _ends(cfg: Config, hidden: int, vocab: int, dtype: str) -> tuple[list[TensorInfo], list[TensorInfo], bool]:
    """(embedding, final norm + lm_head, tied); a tied lm_head shares the embedding and is not listed."""
    tied = bool(cfg.get("tie_word_embeddings", False))
    head = [_norm("model.norm", hidden, dtype, None)]
    if not tied:
        head += _linear("lm_head", vocab, hidden, dtype, "head", "output", None)
    embed = [TensorInfo("model.embed_tokens.weight", (vocab, hidden), dtype, "embedding", "token_embd")]
    return embed, head, tied


def _layer_norms(p: str, hidden: int, dtype: str, i: int) -> list[TensorInfo]:
    return [_norm(f"{p}.input_layernorm", hidden, dtype, i), _norm(f"{p}.post_attention_layernorm", hidden, dtype, i)]


def _gqa(p: str, i: int, hidden: int, heads: int, kv_heads: int, head_dim: int, dtype: str,
         qkv_bias: bool, o_bias: bool) -> list[TensorInfo]:
    """q/k/v/o projections of grouped-query attention."""
    a = f"{p}.self_attn"
    return (_linear(f"{a}.q_proj", heads * head_dim, hidden, dtype, "attention", "attn_q", i, qkv_bias)
            + _linear(f"{a}.k_proj", kv_heads * head_dim, hidden, dtype, "attention", "attn_k", i, qkv_bias)
            + _linear(f"{a}.v_proj", kv_heads * head_dim, hidden, dtype, "attention", "attn_v", i, qkv_bias)
            + _linear(f"{a}.o_proj", hidden, heads * head_dim, dtype, "attention", "attn_output", i, o_bias))


def _gated_mlp(p: str, i: int, hidden: int, inter: int, dtype: str, role: str = "mlp",
               bias: bool = False) -> list[TensorInfo]:
    """gate/up/down SwiGLU projections (a dense MLP or a shared expert)."""
    shared = role == "shared_expert"  # the project's vocabulary (quantcore.model.naming) has one kind for shared experts
    gate, up, down = ("ffn_shexp",) * 3 if shared else ("ffn_gate", "ffn_up", "ffn_down")
    return (_linear(f"{p}.gate_proj", inter, hidden, dtype, role, gate, i, bias)
            + _linear(f"{p}.up_proj", inter, hidden, dtype, role, up, i, bias)
            + _linear(f"{p}.down_proj", hidden, inter, dtype, role, down, i, bias))


def _fused_experts(p: str, i: int, hidden: int, inter: int, experts: int, dtype: str) -> list[TensorInfo]:
    """transformers 5.x `*Experts`: gate_up_proj (E, 2*inter, hidden) and down_proj (E, hidden, inter)."""
    return [TensorInfo(f"{p}.experts.gate_up_proj", (2 * inter, hidden), dtype, "expert", "ffn_gate_up_exps", i,
                       experts),
            TensorInfo(f"{p}.experts.down_proj", (hidden, inter), dtype, "expert", "ffn_down_exps", i, experts)]


def _router(name: str, i: int, hidden: int, experts: int, dtype: str, bias: bool = False) -> list[TensorInfo]:
    return _linear(name, experts, hidden, dtype, "router", "ffn_gate_inp", i, bias)


def _moe_arch(model_type: str, *, layers: int, hidden: int, heads: int, kv_heads: int,
              head_dim: int, vocab: int, inter: int, max_ctx: int, experts: int, top_k: int, shared: int,
              moe_inter: int, tied: bool, sliding_window: int | None = None,
              kinds: tuple[str, ...] = (), **mla: int) -> Architecture:
    if not 0 < top_k <= experts:
        raise ValueError(f"'num_experts_per_tok' ({top_k}) must be between 1 and the number of experts ({experts})")
    if "sliding" not in kinds:
        sliding_window, kinds = None, ()
    return Architecture(
        model_type=model_type, num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim, vocab_size=vocab, intermediate_size=inter, max_context=max_ctx,
        sliding_window=sliding_window, layer_attention=kinds, num_experts=experts, experts_per_token=top_k,
        num_shared_experts=shared, moe_intermediate_size=moe_inter, tie_embeddings=tied, gated_mlp=True, **mla)


# ---------------------------------------------------------------- Mixtral


@register("mixtral")
def mixtral(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """MixtralForCausalLM: Mistral attention, every layer a top-k MoE of SwiGLU experts (no shared expert)."""
    dt = _dtype(cfg)
    layers, hidden = _int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size")
    heads, kv = _int(cfg, "num_attention_heads"), _int(cfg, "num_key_value_heads")
    vocab, inter = _int(cfg, "vocab_size"), _int(cfg, "intermediate_size")
    experts, top_k = _int(cfg, "num_local_experts"), _int(cfg, "num_experts_per_tok")
    hd = _head_dim(cfg, hidden, heads)
    embed, tail, tied = _ends(cfg, hidden, vocab, dt)
    tensors = list(embed)
    for i in range(layers):
        p = f"model.layers.{i}"
        tensors += _gqa(p, i, hidden, heads, kv, hd, dt, False, False)
        tensors += _router(f"{p}.mlp.gate", i, hidden, experts, dt)
        tensors += _fused_experts(f"{p}.mlp", i, hidden, inter, experts, dt)
        tensors += _layer_norms(p, hidden, dt, i)
    tensors += tail
    window = _int(cfg, "sliding_window", 0) or None  # Mistral v0.1-style: every layer slides when set
    arch = _moe_arch("mixtral", layers=layers, hidden=hidden, heads=heads, kv_heads=kv, head_dim=hd,
                     vocab=vocab, inter=inter, max_ctx=_int(cfg, "max_position_embeddings", 4096 * 32),
                     experts=experts, top_k=top_k, shared=0, moe_inter=inter, tied=tied,
                     sliding_window=window, kinds=("sliding",) * layers if window else ())
    return arch, tensors


# ---------------------------------------------------------------- Qwen2-MoE / Qwen3-MoE


def _qwen_sparse_layers(cfg: Config, layers: int) -> list[bool]:
    """Which layers are MoE: not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0 (transformers)."""
    step = _int(cfg, "decoder_sparse_step", 1)
    dense = set(cfg.get("mlp_only_layers") or [])
    return [i not in dense and (i + 1) % step == 0 for i in range(layers)]


def _qwen_moe(cfg: Config, qwen3: bool) -> tuple[Architecture, list[TensorInfo]]:
    dt = _dtype(cfg)
    layers, hidden = _int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size")
    heads, kv = _int(cfg, "num_attention_heads"), _int(cfg, "num_key_value_heads")
    vocab, moe_inter = _int(cfg, "vocab_size"), _int(cfg, "moe_intermediate_size")
    experts, top_k = _int(cfg, "num_experts"), _int(cfg, "num_experts_per_tok")
    hd = _head_dim(cfg, hidden, heads)
    sparse = _qwen_sparse_layers(cfg, layers)
    # dense layers use intermediate_size; it is read only when some layer is dense
    inter = _int(cfg, "intermediate_size") if not all(sparse) else _int(cfg, "intermediate_size", 0)
    shared_inter = 0 if qwen3 else _int(cfg, "shared_expert_intermediate_size")
    qkv_bias = bool(cfg.get("attention_bias", False)) if qwen3 else bool(cfg.get("qkv_bias", True))
    o_bias = qkv_bias if qwen3 else False
    embed, tail, tied = _ends(cfg, hidden, vocab, dt)
    tensors = list(embed)
    for i in range(layers):
        p = f"model.layers.{i}"
        tensors += _gqa(p, i, hidden, heads, kv, hd, dt, qkv_bias, o_bias)
        if qwen3:
            tensors += [_norm(f"{p}.self_attn.q_norm", hd, dt, i), _norm(f"{p}.self_attn.k_norm", hd, dt, i)]
        if sparse[i]:
            tensors += _router(f"{p}.mlp.gate", i, hidden, experts, dt)
            tensors += _fused_experts(f"{p}.mlp", i, hidden, moe_inter, experts, dt)
            if not qwen3:
                tensors += _gated_mlp(f"{p}.mlp.shared_expert", i, hidden, shared_inter, dt, "shared_expert")
                tensors += _linear(f"{p}.mlp.shared_expert_gate", 1, hidden, dt, "router", "ffn_gate_inp_shexp", i)
        else:
            tensors += _gated_mlp(f"{p}.mlp", i, hidden, inter, dt)
        tensors += _layer_norms(p, hidden, dt, i)
    tensors += tail
    window, kinds = _qwen_sliding(cfg, layers, qwen3)
    arch = _moe_arch("qwen3_moe" if qwen3 else "qwen2_moe", layers=layers, hidden=hidden, heads=heads,
                     kv_heads=kv, head_dim=hd, vocab=vocab, inter=inter,
                     max_ctx=_int(cfg, "max_position_embeddings", 32768), experts=experts, top_k=top_k,
                     shared=0 if qwen3 else 1, moe_inter=moe_inter, tied=tied, sliding_window=window, kinds=kinds)
    return arch, tensors


def _qwen_sliding(cfg: Config, layers: int, qwen3: bool) -> tuple[int | None, tuple[str, ...]]:
    """Sliding-window layers as transformers sets them up (off unless use_sliding_window is true)."""
    window = _int(cfg, "sliding_window", 4096)
    if qwen3:  # Qwen3MoeAttention applies config.sliding_window to every layer when enabled
        on = bool(cfg.get("use_sliding_window", False)) and cfg.get("sliding_window", 4096) is not None
        return (window, ("sliding",) * layers) if on else (None, ())
    if not cfg.get("use_sliding_window", False):  # transformers then sets sliding_window to 0: no sliding
        return None, ()
    if cfg.get("layer_types") is not None:
        return window, _layer_kinds(cfg["layer_types"], layers)
    max_window = _int(cfg, "max_window_layers", 28)  # Qwen2MoeConfig.__post_init__'s rule, quoted as is
    return window, tuple("sliding" if (i + 1) % 2 and i < max_window else "full" for i in range(layers))


@register("qwen2_moe")
def qwen2_moe(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """Qwen2MoeForCausalLM (Qwen1.5-MoE, Qwen2-57B-A14B): qkv biases, routed experts + one gated shared expert."""
    return _qwen_moe(cfg, qwen3=False)


@register("qwen3_moe")
def qwen3_moe(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """Qwen3MoeForCausalLM: per-head q_norm/k_norm, explicit head_dim, routed experts only."""
    return _qwen_moe(cfg, qwen3=True)


# ---------------------------------------------------------------- DeepSeek-V2 / V3 (MLA)


def _mla(p: str, i: int, hidden: int, heads: int, q_rank: int | None, kv_rank: int, nope: int, rope: int,
         v_dim: int, dtype: str, bias: bool) -> list[TensorInfo]:
    """Multi-head latent attention; q_lora_rank None (V2-Lite) means a plain q_proj."""
    a = f"{p}.self_attn"
    qk = nope + rope
    if q_rank is None:
        ts = _linear(f"{a}.q_proj", heads * qk, hidden, dtype, "attention", "attn_q", i)
    else:
        ts = (_linear(f"{a}.q_a_proj", q_rank, hidden, dtype, "attention", "attn_q_a", i, bias)
              + [_norm(f"{a}.q_a_layernorm", q_rank, dtype, i)]
              + _linear(f"{a}.q_b_proj", heads * qk, q_rank, dtype, "attention", "attn_q_b", i))
    return (ts
            + _linear(f"{a}.kv_a_proj_with_mqa", kv_rank + rope, hidden, dtype, "attention", "attn_kv_a_mqa", i, bias)
            + [_norm(f"{a}.kv_a_layernorm", kv_rank, dtype, i)]
            + _linear(f"{a}.kv_b_proj", heads * (nope + v_dim), kv_rank, dtype, "attention", "attn_kv_b", i)
            + _linear(f"{a}.o_proj", hidden, heads * v_dim, dtype, "attention", "attn_output", i, bias))


def _deepseek(cfg: Config, v3: bool) -> tuple[Architecture, list[TensorInfo]]:
    dt = _dtype(cfg)
    layers, hidden = _int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size")
    heads, vocab = _int(cfg, "num_attention_heads"), _int(cfg, "vocab_size")
    inter, moe_inter = _int(cfg, "intermediate_size"), _int(cfg, "moe_intermediate_size")
    experts, top_k = _int(cfg, "n_routed_experts"), _int(cfg, "num_experts_per_tok")
    n_shared = _int(cfg, "n_shared_experts")
    if "q_lora_rank" not in cfg:  # present in every DeepSeek config; null means no query compression
        raise KeyError("q_lora_rank")
    q_rank = None if cfg["q_lora_rank"] is None else _int(cfg, "q_lora_rank")
    kv_rank, rope = _int(cfg, "kv_lora_rank"), _int(cfg, "qk_rope_head_dim")
    nope, v_dim = _int(cfg, "qk_nope_head_dim"), _int(cfg, "v_head_dim")
    first_dense = _int(cfg, "first_k_dense_replace", 3 if v3 else 0)
    bias = bool(cfg.get("attention_bias", False))
    mlp_bias = False if v3 else bool(cfg.get("mlp_bias", False))
    # moe_layer_freq (DeepSeek's remote code) is ignored by transformers, which makes every layer from
    # first_k_dense_replace on an MoE layer; all published configs have moe_layer_freq = 1.
    embed, tail, tied = _ends(cfg, hidden, vocab, dt)
    tensors = list(embed)
    for i in range(layers):
        p = f"model.layers.{i}"
        tensors += _mla(p, i, hidden, heads, q_rank, kv_rank, nope, rope, v_dim, dt, bias)
        if i >= first_dense:
            tensors += _fused_experts(f"{p}.mlp", i, hidden, moe_inter, experts, dt)
            # V3's router also holds e_score_correction_bias (E,), a buffer in transformers, so not a parameter
            tensors += _router(f"{p}.mlp.gate", i, hidden, experts, dt)
            tensors += _gated_mlp(f"{p}.mlp.shared_experts", i, hidden, moe_inter * n_shared, dt, "shared_expert",
                                  mlp_bias)
        else:
            tensors += _gated_mlp(f"{p}.mlp", i, hidden, inter, dt, bias=mlp_bias)
        tensors += _layer_norms(p, hidden, dt, i)
    # DeepSeek-V3's checkpoint also holds the multi-token-prediction layer (num_nextn_predict_layers, ~14B of the
    # Hub's 685B); transformers does not build it, so neither do we.
    tensors += tail
    arch = _moe_arch("deepseek_v3" if v3 else "deepseek_v2", layers=layers, hidden=hidden, heads=heads,
                     kv_heads=heads, head_dim=nope + rope, vocab=vocab, inter=inter,
                     max_ctx=_int(cfg, "max_position_embeddings", 4096 if v3 else 2048), experts=experts,
                     top_k=top_k, shared=n_shared, moe_inter=moe_inter, tied=tied, kv_lora_rank=kv_rank,
                     qk_rope_head_dim=rope, qk_nope_head_dim=nope, v_head_dim=v_dim)
    return arch, tensors


@register("deepseek_v2")
def deepseek_v2(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """DeepseekV2ForCausalLM: MLA attention, first_k_dense_replace dense layers, routed + shared experts."""
    return _deepseek(cfg, v3=False)


@register("deepseek_v3")
def deepseek_v3(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """DeepseekV3ForCausalLM: as V2 with a sigmoid, bias-corrected router (the bias is a buffer, not counted)."""
    return _deepseek(cfg, v3=True)


# ---------------------------------------------------------------- gpt-oss


@register("gpt_oss")
def gpt_oss(cfg: Config) -> tuple[Architecture, list[TensorInfo]]:
    """GptOssForCausalLM: biased attention with per-head sinks, alternating sliding/full layers, biased experts."""
    dt = _dtype(cfg)
    layers, hidden = _int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size")
    heads, kv = _int(cfg, "num_attention_heads"), _int(cfg, "num_key_value_heads")
    vocab, inter = _int(cfg, "vocab_size"), _int(cfg, "intermediate_size")
    experts, top_k = _int(cfg, "num_local_experts"), _int(cfg, "num_experts_per_tok")
    if "head_dim" not in cfg:  # GptOssConfig defaults it to 64 (the released models' value), not hidden / heads
        raise KeyError("head_dim")
    hd = _head_dim(cfg, hidden, heads)
    bias = bool(cfg.get("attention_bias", True))
    embed, tail, tied = _ends(cfg, hidden, vocab, dt)
    tensors = list(embed)
    for i in range(layers):
        p = f"model.layers.{i}"
        tensors.append(TensorInfo(f"{p}.self_attn.sinks", (heads,), dt, "attention", "attn_sinks", i))
        tensors += _gqa(p, i, hidden, heads, kv, hd, dt, bias, bias)
        tensors += _router(f"{p}.mlp.router", i, hidden, experts, dt, bias=True)
        e = f"{p}.mlp.experts"  # GptOssExperts keeps (in, out) order: gate_up (E, hidden, 2*inter)
        tensors += [
            TensorInfo(f"{e}.gate_up_proj", (hidden, 2 * inter), dt, "expert", "ffn_gate_up_exps", i, experts),
            TensorInfo(f"{e}.gate_up_proj_bias", (2 * inter,), dt, "expert", "ffn_gate_up_exps_bias", i, experts),
            TensorInfo(f"{e}.down_proj", (inter, hidden), dt, "expert", "ffn_down_exps", i, experts),
            TensorInfo(f"{e}.down_proj_bias", (hidden,), dt, "expert", "ffn_down_exps_bias", i, experts),
        ]
        tensors += _layer_norms(p, hidden, dt, i)
    tensors += tail
    types = cfg.get("layer_types")
    kinds = (_layer_kinds(types, layers) if types is not None
             else tuple("sliding" if (i + 1) % 2 else "full" for i in range(layers)))
    arch = _moe_arch("gpt_oss", layers=layers, hidden=hidden, heads=heads, kv_heads=kv, head_dim=hd,
                     vocab=vocab, inter=inter, max_ctx=_int(cfg, "max_position_embeddings", 131072),
                     experts=experts, top_k=top_k, shared=0, moe_inter=inter, tied=tied,
                     sliding_window=_int(cfg, "sliding_window", 128), kinds=kinds)
    return arch, tensors
