"""llama.cpp's per-tensor type choice for GGUF mixtures (llama-quant.cpp) and GGUF block byte sizes."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Iterator

import gguf

from quantcore.errors import UnknownPrecisionError
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

# Our precision id -> llama.cpp's default tensor type for that file type (llama_ftype_get_default_type).
FTYPE_BASE: dict[str, str] = {
    "q8_0": "Q8_0", "q6_k": "Q6_K", "q5_k_m": "Q5_K", "q4_k_m": "Q4_K", "q4_0": "Q4_0", "q3_k_m": "Q3_K",
    "q2_k": "Q2_K",
}

# tensor_type_fallback: a row length that is not a multiple of the type's block takes a 32-block type instead;
# if that does not divide either, llama.cpp writes F16. (Q8_0/Q4_0/Q5_x have no fallback there and abort the
# quantization; we count them as F16, the closest thing to what a user could produce.)
FALLBACK: dict[str, str] = {
    "Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "TQ1_0": "Q4_0",
    "TQ2_0": "Q4_0",
}

# What convert_hf_to_gguf.py stores for tensors llama-quantize leaves alone (1-D tensors, norms, routers,
# position / token-type embeddings): F32.
UNQUANTIZED = "F32"

# Model types llama.cpp calls LLM_TYPE_70B (llama-model.cpp load_hparams): Llama-arch (Mistral converts to it)
# with 80 layers and GQA; Qwen2 and Deci with 80 layers. Their attn_v gets Q5_K instead of Q3_K/Q4_K.
_70B_NEEDS_GQA = {"llama": True, "mistral": True, "qwen2": False, "deci": False}

_ATTN_V_LIKE = ("attn_v", "attn_qkv", "attn_kv_b")  # category_is_attn_v


@cache
def block_layout(type_name: str) -> tuple[int, int]:
    """(weights per block, bytes per block) of a ggml tensor type, from gguf.GGML_QUANT_SIZES."""
    try:
        qtype = gguf.GGMLQuantizationType[type_name]
        return gguf.GGML_QUANT_SIZES[qtype]
    except KeyError:
        raise UnknownPrecisionError(
            f"ggml type {type_name} is unknown to the installed gguf package {getattr(gguf, '__version__', '')}; "
            "upgrade it with `pip install -U gguf`") from None


def type_bytes(type_name: str, rows: int, cols: int) -> int:
    """Bytes of `rows` rows of `cols` weights in a ggml type (a partial last block costs a whole block)."""
    block, size = block_layout(type_name)
    return rows * (-(-cols // block)) * size


@dataclass(frozen=True)
class MixContext:
    """The model facts llama-quantize's type choice looks at (quantize_state_impl + hparams)."""

    arch: str = ""
    n_layers: int = 1  # hparams.n_layer (n_ffn_down)
    n_attention_wv: int = 1  # number of attn_v-like tensors in the file
    n_expert: int = 0
    n_gqa: int = 1  # n_head / n_head_kv
    tied: bool = False  # no output.weight: token_embd doubles as the output and gets its type
    is_70b: bool = False


def context_for_arch(arch: Architecture | None, tied: bool | None = None, n_attention_wv: int | None = None,
                     n_layers: int | None = None) -> MixContext:
    """Context from architecture facts; the keyword arguments override what a file listing would tell."""
    if arch is None:
        return MixContext(n_layers=n_layers or 1, n_attention_wv=n_attention_wv or n_layers or 1, tied=bool(tied))
    layers = arch.num_layers or n_layers or 1
    gqa = arch.num_heads // arch.num_kv_heads if arch.num_kv_heads else 1
    needs_gqa = _70B_NEEDS_GQA.get(arch.model_type)
    is_70b = needs_gqa is not None and layers == 80 and (gqa > 1 or not needs_gqa)
    return MixContext(arch=arch.model_type, n_layers=layers,
                      n_attention_wv=layers if n_attention_wv is None else n_attention_wv,
                      n_expert=arch.num_experts, n_gqa=gqa, tied=arch.tie_embeddings if tied is None else tied,
                      is_70b=is_70b)


def context_for(inv: Inventory) -> MixContext:
    """Context as llama-quantize would see the converted file: it counts attn_v tensors and looks for output."""
    n_wv = sum(t.count for t in inv.tensors if category(t) in _ATTN_V_LIKE)
    tied = not any(t.kind == "output" for t in inv.tensors)
    layers = 1 + max((t.layer for t in inv.tensors if t.layer is not None), default=0)
    return context_for_arch(inv.arch, tied=tied, n_attention_wv=n_wv, n_layers=layers)


def category(t: TensorInfo) -> str:
    """llama.cpp's tensor_get_category, from our llama.cpp-style kind (the shared expert's name says which FFN)."""
    kind = t.kind
    if kind.endswith("_bias") or t.name.endswith("bias"):
        return "other"
    if kind in ("output", "token_embd") or kind in _ATTN_V_LIKE or kind in ("attn_k", "attn_q", "attn_output"):
        return kind
    if kind == "ffn_shexp":
        low = t.name.lower()  # e.g. mlp.shared_expert.down_proj.weight, blk.3.ffn_down_shexp.weight
        kind = next((f"ffn_{p}" for p in ("down", "gate", "up") if p in low), "other")
    if kind.startswith("ffn_up"):
        return "ffn_up"
    if kind.startswith("ffn_gate") and not kind.startswith("ffn_gate_inp"):
        return "ffn_gate"
    if kind.startswith("ffn_down"):
        return "ffn_down"
    return "other"


def quantizable(t: TensorInfo) -> bool:
    """tensor_allows_quantization: 2-D/3-D weights only; never norms, routers, position or token-type tables."""
    if len(t.shape) < 2 or t.role in ("norm", "buffer") or t.kind.endswith("_bias") or t.name.endswith("bias"):
        return False
    return t.kind not in ("ffn_gate_inp", "pos_embd")


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers and every third layer in between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def choose_type(ftype: str, cat: str, cols: int, ctx: MixContext, i_attention_wv: int, i_layer: int) -> str:
    """llama_tensor_get_type_impl for our seven ftypes (no imatrix, no user overrides), before the fallback.

    Rules (llama.cpp src/llama-quant.cpp):
    - output.weight, and token_embd when the embeddings are tied: Q8_0 for Falcon or when the row length is not a
      multiple of the base type's block; otherwise Q6_K (Q8_0 stays Q8_0). Untied token_embd keeps the base type.
    - attn_v-like (attn_v, fused attn_qkv, attn_kv_b): Q2_K -> Q4_K if n_head/n_head_kv >= 4 else Q3_K;
      Q3_K_M -> Q5_K for the first two such tensors, Q4_K after; Q4_K_M/Q5_K_M -> Q6_K where use_more_bits(i, n);
      70B models lift Q3_K/Q4_K to Q5_K; 8-expert models (Mixtral) take Q8_0 for every ftype.
    - attn_k: Q8_0 in 8-expert models.
    - ffn_down (dense: i = position among ffn_down tensors; MoE: the layer in the name): Q2_K -> Q3_K;
      Q3_K_M -> Q5_K for i < n/16, else Q4_K (Falcon: Q4_K only where use_more_bits, else Q3_K);
      Q4_K_M -> Q6_K where use_more_bits (Falcon: Q6_K for i < n/16, Q5_K where use_more_bits);
      Q5_K_M -> Q6_K where use_more_bits.
    - attn_output (not Falcon): 8-expert models -> Q5_K for Q2_K/Q3_K_M/Q4_K_M; otherwise Q2_K -> Q3_K, Q3_K_M -> Q4_K.
    - everything else (attn_q, ffn_gate, ffn_up, experts' gate/up, untied token_embd): the base type.
    In the current source the fused attn_qkv falls in the attn_v-like branch first, so its own Q4_K_M -> Q5_K rule
    is unreachable; we follow the code.
    """
    base = FTYPE_BASE[ftype]
    falcon = ctx.arch == "falcon"
    if cat == "output" or (ctx.tied and cat == "token_embd"):
        if falcon or cols % block_layout(base)[0]:
            return "Q8_0"
        return base if base == "Q8_0" else "Q6_K"
    if cat == "token_embd":
        return base
    if cat in _ATTN_V_LIKE:
        new = base
        if ftype == "q2_k":
            new = "Q4_K" if ctx.n_gqa >= 4 else "Q3_K"
        elif ftype == "q3_k_m":
            new = "Q5_K" if i_attention_wv < 2 else "Q4_K"
        elif ftype in ("q4_k_m", "q5_k_m") and use_more_bits(i_attention_wv, ctx.n_attention_wv):
            new = "Q6_K"
        if ctx.is_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        return "Q8_0" if ctx.n_expert == 8 else new
    if cat == "attn_k":
        return "Q8_0" if ctx.n_expert == 8 else base
    if cat == "ffn_down":
        n, i = ctx.n_layers, i_layer
        if ftype == "q2_k":
            return "Q3_K"
        if ftype == "q3_k_m":
            if i < n // 16:
                return "Q5_K"
            return "Q4_K" if not falcon or use_more_bits(i, n) else "Q3_K"
        if ftype == "q4_k_m":
            if falcon:
                return "Q6_K" if i < n // 16 else "Q5_K" if use_more_bits(i, n) else "Q4_K"
            return "Q6_K" if use_more_bits(i, n) else base
        if ftype == "q5_k_m" and use_more_bits(i, n):
            return "Q6_K"
        return base
    if cat == "attn_output" and not falcon:
        if ctx.n_expert == 8:
            return "Q5_K" if ftype in ("q2_k", "q3_k_m", "q4_k_m") else base
        return {"q2_k": "Q3_K", "q3_k_m": "Q4_K"}.get(ftype, base)
    return base


def with_fallback(type_name: str, cols: int) -> str:
    """tensor_type_fallback: a type whose block does not divide the row length is replaced (see FALLBACK)."""
    if cols % block_layout(type_name)[0] == 0:
        return type_name
    alt = FALLBACK.get(type_name)
    if alt is not None and cols % block_layout(alt)[0] == 0:
        return alt
    return "F16"


@dataclass(frozen=True)
class Slot:
    """One tensor as llama-quantize visits it: whether it is quantized, its category and its counter positions."""

    tensor: TensorInfo
    quantized: bool
    category: str
    cols: int  # row length (ne[0])
    rows: int  # rows of one copy
    i_attention_wv: int  # position among attn_v-like tensors (or the layer, for a tensor looked at alone)
    i_ffn_down: int  # position among ffn_down tensors (dense models)


def prepare(tensors: tuple[TensorInfo, ...] | list[TensorInfo], ordinals: bool = True) -> tuple[Slot, ...]:
    """Slots for tensors in file order, numbered as llama-quantize visits them (by layer, then name).

    Without ordinals each tensor's layer index stands in for its positions (a tensor looked at alone).
    """
    order = sorted(range(len(tensors)), key=lambda k: (tensors[k].layer if tensors[k].layer is not None else -1, k))
    i_wv = i_down = 0
    visit: dict[int, tuple[int, int]] = {}
    for k in order:  # the counters of quantize_state_impl
        t = tensors[k]
        if not quantizable(t):
            continue
        cat = category(t)
        visit[k] = (i_wv, i_down) if ordinals else (t.layer or 0, t.layer or 0)
        if cat in _ATTN_V_LIKE:
            i_wv += t.count
        elif cat == "ffn_down":
            i_down += t.count
    slots = []
    for k, t in enumerate(tensors):
        cols = max(t.shape[-1], 1) if t.shape else 1
        wv, down = visit.get(k, (0, 0))
        slots.append(Slot(t, k in visit, category(t), cols, (t.numel // max(t.count, 1)) // cols, wv, down))
    return tuple(slots)


def slot_types(slots: tuple[Slot, ...], ftype: str, ctx: MixContext) -> Iterator[tuple[Slot, str, int]]:
    """(slot, ggml type, copies) for every slot; a tensor with count > 1 may split over two types."""
    if ftype not in FTYPE_BASE:
        raise UnknownPrecisionError(f"'{ftype}' is not a GGUF mixture; use one of {', '.join(FTYPE_BASE)}")
    for s in slots:
        t = s.tensor
        if not s.quantized:
            yield s, UNQUANTIZED, t.count
            continue
        cat, cols = s.category, s.cols
        layer_from_name = ctx.n_expert > 1 and t.layer is not None
        i_layer = t.layer if layer_from_name else s.i_ffn_down
        per_copy = cat in _ATTN_V_LIKE or (cat == "ffn_down" and not layer_from_name)
        if not per_copy or t.count == 1:
            yield s, with_fallback(choose_type(ftype, cat, cols, ctx, s.i_attention_wv, i_layer), cols), t.count
            continue
        runs: dict[str, int] = {}
        for c in range(t.count):
            name = with_fallback(choose_type(ftype, cat, cols, ctx, s.i_attention_wv + c, s.i_ffn_down + c), cols)
            runs[name] = runs.get(name, 0) + 1
        for name, copies in runs.items():
            yield s, name, copies


def tensor_types(tensors: tuple[TensorInfo, ...] | list[TensorInfo], ftype: str, ctx: MixContext,
                 ordinals: bool = True) -> list[tuple[TensorInfo, str, int]]:
    """(tensor, ggml type, copies) for every tensor, in file order: what llama-quantize would write."""
    return [(s.tensor, ty, n) for s, ty, n in slot_types(prepare(tensors, ordinals), ftype, ctx)]


def slots_bytes(slots: tuple[Slot, ...], ftype: str, ctx: MixContext) -> int:
    """Total bytes of the slots quantized with llama.cpp's mixture for ftype."""
    return sum(type_bytes(ty, s.rows * n, s.cols) for s, ty, n in slot_types(slots, ftype, ctx))
