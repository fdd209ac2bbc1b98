"""Classify a tensor name (Hugging Face or GGUF spelling) into role, llama.cpp kind and layer index."""
from __future__ import annotations

import re

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blk|block|blocks|layer|decoder\.layers|encoder\.layer)\.(\d+)\.")
_EXPERT = re.compile(r"(?:experts?\.\d+\.|\.experts\.|_exps\.|block_sparse_moe\.experts)")

# (regex on the lower-cased name, role, kind); first match wins; order matters.
_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p), role, kind)
    for p, role, kind in (
        (r"(position_ids$|inv_freq$|masked_bias$|\.attn\.bias$|_float_tensor$)", "buffer", "buffer"),
        (r"(norm|ln_|layernorm|\.ln\d|_ln\b|ln_f|\.ln\.|norm_)", "norm", "norm"),
        (r"(shared_expert_gate)", "router", "ffn_gate_inp_shexp"),
        (r"(\.gate\.weight$|\.router\.|ffn_gate_inp|\.gate\.e_score_correction|\.router$|mlp\.gate\.bias$)", "router", "ffn_gate_inp"),
        (r"(shared_experts?\.|_shexp)", "shared_expert", "ffn_shexp"),
        (r"(embed_tokens|wte\.|word_embeddings|token_embd|tok_embeddings|embed_in\.|\.wte$|embeddings\.word)", "embedding", "token_embd"),
        (r"(embed_positions|wpe\.|position_embeddings|token_type_embeddings|pos_embd)", "embedding", "pos_embd"),
        (r"(lm_head|^output\.|embed_out|\.output\.weight$(?<!attention\.output\.weight))", "head", "output"),
        (r"(q_a_proj|attn_q_a\b)", "attention", "attn_q_a"),
        (r"(q_b_proj|attn_q_b\b)", "attention", "attn_q_b"),
        (r"(kv_a_proj|attn_kv_a)", "attention", "attn_kv_a_mqa"),
        (r"(kv_b_proj|attn_kv_b)", "attention", "attn_kv_b"),
        (r"(qkv|query_key_value|c_attn|wqkv|attn_qkv)", "attention", "attn_qkv"),
        (r"(q_proj|\.query\.|attn_q\.|\.wq\.)", "attention", "attn_q"),
        (r"(k_proj|\.key\.|attn_k\.|\.wk\.)", "attention", "attn_k"),
        (r"(v_proj|\.value\.|attn_v\.|\.wv\.)", "attention", "attn_v"),
        (r"(o_proj|out_proj|attn\.c_proj|attention\.dense|attn_output|self_attn\.dense|attention\.output\.dense|\.wo\.|self_attention\.dense)", "attention", "attn_output"),
        (r"(gate_up_proj)", "mlp", "ffn_gate_up"),
        (r"(gate_proj|\.w1\.|ffn_gate|wi_0)", "mlp", "ffn_gate"),
        (r"(up_proj|\.w3\.|ffn_up|c_fc|dense_h_to_4h|fc1|intermediate\.dense|fc_in|wi_1|\.wi\.)", "mlp", "ffn_up"),
        (r"(down_proj|\.w2\.|ffn_down|mlp\.c_proj|dense_4h_to_h|fc2|output\.dense|fc_out|\.wo$)", "mlp", "ffn_down"),
        (r"(attn|attention)", "attention", "attn_other"),
        (r"(mlp|ffn|feed_forward)", "mlp", "ffn_other"),
    )
)


def layer_of(name: str) -> int | None:
    """The block index in a tensor name ("model.layers.12.mlp..." -> 12), or None."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def classify(name: str) -> tuple[str, str]:
    """(role, kind) for a tensor name; experts' matrices get role "expert" and an _exps kind."""
    low = name.lower()
    role, kind = "other", "other"
    for pat, r, k in _RULES:
        if pat.search(low):
            role, kind = r, k
            break
    if role == "mlp" and _EXPERT.search(low):
        role, kind = "expert", kind + "_exps" if kind.startswith("ffn_") else kind
    elif role == "other" and _EXPERT.search(low):
        role = "expert"
    if low.endswith(".bias") and role not in ("norm",):
        kind = kind + "_bias" if not kind.endswith("_bias") else kind
    return role, kind
