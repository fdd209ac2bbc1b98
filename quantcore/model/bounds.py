"""One table of sane ranges for every size a model source or the command line can give, checked before use.

Every reader (config.json families, safetensors and GGUF headers, Hub answers, count guesses, workload numbers on
the command line) checks its numbers against this table before it allocates or multiplies anything, so an absurd
value (10**30 layers, a negative expert count, a NaN context, an F4 tensor of 2**124 elements) is refused with a
message that names the field and the range, instead of allocating until killed or planning 1e60 bytes.
The ranges are far beyond any released model (largest seen: 126 layers, hidden 53,248, 256k vocabulary, 10M
context, 384 experts, about 2 T parameters); they exist to stop nonsense, not to judge models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from quantcore.errors import ModelFileError, QuantPlannerError


@dataclass(frozen=True)
class Bound:
    """An inclusive range of whole numbers for one kind of field."""

    what: str
    lo: int
    hi: int


LAYERS = Bound("layers", 1, 10_000)
HIDDEN = Bound("hidden sizes", 1, 1 << 20)  # hidden, intermediate, head_dim, MLA ranks and rope dims
HEADS = Bound("attention heads", 1, 1 << 14)
VOCAB = Bound("vocabulary sizes", 1, 1 << 24)
CONTEXT = Bound("context lengths", 1, 1 << 30)
WINDOW = Bound("sliding windows", 0, 1 << 30)
EXPERTS = Bound("expert counts", 0, 1 << 16)
BYTES = Bound("byte counts", 0, 1 << 55)  # 32 PiB
PARAMETERS = Bound("parameter counts", 0, 10**15)
DIMENSION = Bound("tensor dimensions", 0, 1 << 40)
ELEMENTS = Bound("tensor element counts", 0, 1 << 48)
TENSORS = Bound("tensors per model", 1, 10_000_000)
BITS = Bound("quantization bits", 1, 16)
OTHER = Bound("config numbers", 0, 1 << 32)  # any other integer a config.json family reads

# config.json keys (transformers' names and their old aliases) -> their range; keys not listed get OTHER
CONFIG_KEYS: dict[str, Bound] = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "n_layers", "num_layers", "max_window_layers",
                     "first_k_dense_replace"), LAYERS),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model", "intermediate_size", "n_inner", "ffn_dim", "head_dim",
                     "moe_intermediate_size", "shared_expert_intermediate_size", "kv_lora_rank", "q_lora_rank",
                     "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "word_embed_proj_dim",
                     "rotary_dim", "partial_rotary_factor_dim"), HIDDEN),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_key_value_heads", "num_kv_heads", "n_head_kv",
                     "multi_query_group_num"), HEADS),
    "vocab_size": VOCAB,
    **dict.fromkeys(("max_position_embeddings", "n_positions", "n_ctx", "seq_length", "model_max_length"), CONTEXT),
    "sliding_window": WINDOW,
    **dict.fromkeys(("num_local_experts", "num_experts", "n_routed_experts", "n_shared_experts",
                     "num_experts_per_tok", "moe_topk", "n_group", "topk_group"), EXPERTS),
}

MAX_FLOAT = 1e15  # floats a source may give (GPU rates, prices, fractions): finite and below this


def show(value: Any) -> str:
    """A short, printable form of any value in an error message (never a 4,000-digit number or a 1 MB string)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if abs(value) < 10**15:
            return f"{value:,}"
        return f"{'-' if value < 0 else ''}a {value.bit_length()}-bit number"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def message(field: str, value: Any, bound: Bound) -> str:
    """'<field> = <value> is out of range: <what> must be <lo> to <hi>' (or 'must be a whole number')."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"'{field}' must be a whole number ({bound.what}: {bound.lo:,} to {bound.hi:,}), not {show(value)}"
    return f"'{field}' = {show(value)} is out of range: {bound.what} must be {bound.lo:,} to {bound.hi:,}"


def within(value: Any, bound: Bound) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and bound.lo <= value <= bound.hi


def check(value: Any, bound: Bound, field: str, where: str = "",
          error: type[QuantPlannerError] = ModelFileError) -> int:
    """value when it is a whole number inside `bound`; else `error` naming the field and the range."""
    if within(value, bound):
        return int(value)
    raise error((f"{where}: " if where else "") + message(field, value, bound))


def config_int(key: str, value: Any) -> int:
    """A config.json integer checked against its key's range (ValueError / TypeError, as the family readers raise,
    with the field and the range in the message)."""
    bound = CONFIG_KEYS.get(key, OTHER)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(message(key, value, bound))
    if not bound.lo <= value <= bound.hi and not (value == 0 and bound.lo == 1 and key in _ZERO_MEANS_NONE):
        raise ValueError(message(key, value, bound))
    return value


# keys where transformers reads 0 as "none" (checked by the family that reads them)
_ZERO_MEANS_NONE = frozenset({"q_lora_rank", "max_window_layers", "first_k_dense_replace", "n_shared_experts"})


def check_float(value: Any, field: str, where: str = "", lo: float = 0.0, hi: float = MAX_FLOAT,
                error: type[QuantPlannerError] = ModelFileError) -> float:
    """A finite number in [lo, hi] (ints accepted, bools not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise error((f"{where}: " if where else "") + f"'{field}' must be a number from {lo:g} to {hi:g}, "
                    f"not {show(value)}")
    return float(value)


def check_architecture(arch: Any, where: str) -> None:
    """Every Architecture field a plan multiplies, against the table (vocab, intermediate and context may be 0:
    unknown)."""
    sizes = (("num_layers", LAYERS), ("hidden_size", HIDDEN), ("num_heads", HEADS), ("num_kv_heads", HEADS),
             ("head_dim", HIDDEN))
    for name, bound in sizes:
        check(getattr(arch, name), bound, name, where)
    optional = (("vocab_size", VOCAB), ("intermediate_size", HIDDEN), ("max_context", CONTEXT),
                ("kv_lora_rank", HIDDEN), ("qk_rope_head_dim", HIDDEN), ("qk_nope_head_dim", HIDDEN),
                ("v_head_dim", HIDDEN), ("num_experts", EXPERTS), ("experts_per_token", EXPERTS),
                ("num_shared_experts", EXPERTS), ("moe_intermediate_size", HIDDEN))
    for name, bound in optional:
        value = getattr(arch, name)
        if value != 0 or isinstance(value, bool):
            check(value, bound, name, where)
    if arch.sliding_window is not None:
        check(arch.sliding_window, CONTEXT, "sliding_window", where)
    if arch.experts_per_token > max(arch.num_experts, 0):
        raise ModelFileError(f"{where}: {arch.experts_per_token:,} experts per token but only "
                             f"{arch.num_experts:,} experts")
    kinds = arch.layer_attention
    if kinds and (len(kinds) != arch.num_layers or any(k not in ("full", "sliding", "none") for k in kinds)):
        raise ModelFileError(f"{where}: per-layer attention kinds do not match the {arch.num_layers:,} layers")
    for name in ("tie_embeddings", "encoder_only", "gated_mlp"):
        if not isinstance(getattr(arch, name), bool):
            raise ModelFileError(f"{where}: '{name}' must be true or false, not {show(getattr(arch, name))}")


def check_tensors(tensors: Any, where: str) -> None:
    """Tensor count, every shape, element and byte count, and the totals, against the table."""
    check(len(tensors), TENSORS, "number of tensors", where)
    params = stored = 0
    for t in tensors:
        if not isinstance(t.name, str) or not isinstance(t.dtype, str):
            raise ModelFileError(f"{where}: a tensor has a name or dtype that is not text")
        numel = 1
        for d in t.shape:
            check(d, DIMENSION, f"{t.name} shape", where)
            numel *= d
        check(t.count, Bound("stacked copies", 1, EXPERTS.hi), f"{t.name} count", where)
        check(numel * t.count, ELEMENTS, f"{t.name} elements", where)
        if t.nbytes is not None:
            check(t.nbytes, BYTES, f"{t.name} bytes", where)
        params += numel * t.count
        stored += t.stored_bytes
    check(params, PARAMETERS, "total parameters", where)
    check(stored, BYTES, "total stored bytes", where)


def check_inventory(inv: Any, where: str | None = None) -> Any:
    """The inventory itself when its architecture and tensors are inside the table; else ModelFileError."""
    where = where or str(inv.id)
    check_tensors(inv.tensors, where)
    if inv.arch is not None:
        check_architecture(inv.arch, where)
    return inv
