"""Dense decoder families shaped like Llama (Llama, Mistral, Qwen2/3, Gemma 1/2/3): exact tensors from config.json."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantcore.model.arch import register
from quantcore.model.arch._common import dtype_of
from quantcore.model.arch._common import flag as _bool
from quantcore.model.bounds import config_int
from quantcore.model.inventory import Architecture, TensorInfo

_MISSING = object()

# config.json "torch_dtype" / "dtype" -> safetensors dtype name


@dataclass(frozen=True)
class DenseFamily:
    """What distinguishes one llama-like model_type, with the defaults of its transformers config class."""

    model_type: str
    tie_default: bool  # tie_word_embeddings when absent
    head_dim_default: int | None  # head_dim when absent; None: hidden_size // num_attention_heads
    kv_heads_default: int | None  # num_key_value_heads when absent; None: num_attention_heads
    max_context_default: int  # max_position_embeddings when absent
    qkv_bias: str  # "config" (attention_bias, o_proj too) | "always" (q/k/v only) | "never"
    mlp_bias: bool  # whether config "mlp_bias" applies
    qk_norm: bool  # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    sandwich_norms: bool  # pre/post feed-forward norms as well (Gemma 2, Gemma 3)
    sliding: str  # "none" | "all" (Mistral) | "upper" (Qwen: layers >= max_window_layers) | "pattern" (Gemma 2/3)
    sliding_window_default: int | None
    sliding_pattern_default: int = 0  # Gemma: every Nth layer is full attention


FAMILIES: dict[str, DenseFamily] = {
    f.model_type: f
    for f in (
        # Defaults below are those of transformers 5.x LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config,
        # GemmaConfig, Gemma2Config and Gemma3TextConfig.
        DenseFamily("llama", False, None, None, 2048, "config", True, False, False, "none", None),
        DenseFamily("mistral", False, None, 8, 131072, "never", False, False, False, "all", 4096),
        DenseFamily("qwen2", False, None, 32, 32768, "always", False, False, False, "upper", 4096),
        DenseFamily("qwen3", False, 128, 32, 32768, "config", False, True, False, "upper", 4096),
        DenseFamily("gemma", True, 256, 16, 8192, "config", False, False, False, "none", None),
        DenseFamily("gemma2", True, 256, 4, 8192, "config", False, False, True, "pattern", 4096, 2),
        DenseFamily("gemma3_text", True, 256, 4, 131072, "config", False, True, True, "pattern", 4096, 6),
    )
}


@register(*FAMILIES)
def build_llama_like(config: dict[str, Any]) -> tuple[Architecture, list[TensorInfo]]:
    """(Architecture, tensors) of the *ForCausalLM transformers builds for a llama-like config.json."""
    fam = FAMILIES[config["model_type"]]
    hidden = _int(config, "hidden_size")
    layers = _int(config, "num_hidden_layers")
    heads = _int(config, "num_attention_heads")
    inter = _int(config, "intermediate_size")
    vocab = _int(config, "vocab_size")
    # absent: the config class default; null: transformers falls back to one kv head per attention head
    kv_default = heads if fam.kv_heads_default is None or "num_key_value_heads" in config else fam.kv_heads_default
    kv_heads = _int(config, "num_key_value_heads", kv_default)
    head_dim = _int(config, "head_dim", hidden // heads if fam.head_dim_default is None else fam.head_dim_default)
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
    tie = _bool(config, "tie_word_embeddings", fam.tie_default)
    window, kinds = layer_attention(config, fam, layers)
    arch = Architecture(
        model_type=fam.model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        intermediate_size=inter,
        max_context=_int(config, "max_position_embeddings", fam.max_context_default),
        sliding_window=window if "sliding" in kinds else None,
        layer_attention=kinds,
        tie_embeddings=tie,
        gated_mlp=True,
    )
    dtype = dtype_of(config)
    tensors = [TensorInfo("model.embed_tokens.weight", (vocab, hidden), dtype, "embedding", "token_embd")]
    for i in range(layers):
        tensors += _layer_tensors(config, fam, arch, i, dtype)
    tensors.append(TensorInfo("model.norm.weight", (hidden,), dtype, "norm", "norm"))
    if not tie:
        tensors.append(TensorInfo("lm_head.weight", (vocab, hidden), dtype, "head", "output"))
    return arch, tensors


def layer_attention(config: dict[str, Any], fam: DenseFamily, layers: int) -> tuple[int | None, tuple[str, ...]]:
    """(sliding window, per-layer "full"/"sliding") as transformers assigns them for this family."""
    window = None
    if fam.sliding != "none":  # an explicit null turns the window off; absent means the class default
        window = _int(config, "sliding_window", None) if "sliding_window" in config else fam.sliding_window_default
    if fam.sliding == "upper" and not _bool(config, "use_sliding_window", False):
        window = None  # Qwen2Config/Qwen3Config drop the window unless use_sliding_window is set
    if fam.model_type == "gemma3_text" and window is not None and _bool(config, "use_bidirectional_attention", False):
        window = window // 2 + 1  # Gemma3TextConfig halves the window for bidirectional attention
    if window is None:
        return None, ("full",) * layers
    given = config.get("layer_types")
    if given is not None and fam.sliding != "all":
        if not isinstance(given, list) or len(given) != layers:
            raise ValueError(f"layer_types must list one entry per layer ({layers})")
        return window, tuple("sliding" if t == "sliding_attention" else "full" for t in given)
    if fam.sliding == "all":
        return window, ("sliding",) * layers
    if fam.sliding == "upper":
        first = _int(config, "max_window_layers", 28)
        return window, tuple("sliding" if i >= first else "full" for i in range(layers))
    every = _int(config, "sliding_window_pattern", fam.sliding_pattern_default)
    return window, tuple("full" if (i + 1) % every == 0 else "sliding" for i in range(layers))




def _layer_tensors(
    config: dict[str, Any], fam: DenseFamily, arch: Architecture, i: int, dtype: str
) -> list[TensorInfo]:
    h, inter = arch.hidden_size, arch.intermediate_size
    q_out, kv_out = arch.num_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    p = f"model.layers.{i}."
    attn_bias = fam.qkv_bias == "always" or (fam.qkv_bias == "config" and _bool(config, "attention_bias", False))
    o_bias = fam.qkv_bias == "config" and attn_bias
    mlp_bias = fam.mlp_bias and _bool(config, "mlp_bias", False)

    def t(name: str, shape: tuple[int, ...], role: str, kind: str) -> TensorInfo:
        return TensorInfo(p + name, shape, dtype, role, kind, i)

    out = [t("input_layernorm.weight", (h,), "norm", "norm")]
    for proj, kind, rows in (("q", "attn_q", q_out), ("k", "attn_k", kv_out), ("v", "attn_v", kv_out)):
        out.append(t(f"self_attn.{proj}_proj.weight", (rows, h), "attention", kind))
        if attn_bias:
            out.append(t(f"self_attn.{proj}_proj.bias", (rows,), "attention", kind + "_bias"))
    out.append(t("self_attn.o_proj.weight", (h, q_out), "attention", "attn_output"))
    if o_bias:
        out.append(t("self_attn.o_proj.bias", (h,), "attention", "attn_output_bias"))
    if fam.qk_norm:
        out.append(t("self_attn.q_norm.weight", (arch.head_dim,), "norm", "norm"))
        out.append(t("self_attn.k_norm.weight", (arch.head_dim,), "norm", "norm"))
    out.append(t("post_attention_layernorm.weight", (h,), "norm", "norm"))
    if fam.sandwich_norms:
        out.append(t("pre_feedforward_layernorm.weight", (h,), "norm", "norm"))
        out.append(t("post_feedforward_layernorm.weight", (h,), "norm", "norm"))
    mlp = (("gate", "ffn_gate", (inter, h)), ("up", "ffn_up", (inter, h)), ("down", "ffn_down", (h, inter)))
    for proj, kind, shape in mlp:
        out.append(t(f"mlp.{proj}_proj.weight", shape, "mlp", kind))
        if mlp_bias:
            out.append(t(f"mlp.{proj}_proj.bias", shape[:1], "mlp", kind + "_bias"))
    return out


def _int(config: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    """config[key] as an int; absent or null gives `default`, or KeyError when there is none."""
    if key not in config or config[key] is None:
        if default is _MISSING:
            raise KeyError(key)
        return default
    return config_int(key, config[key])
