"""Training states: trainable tensors (full or LoRA), optimizer states, and the per-inventory memo of those tallies."""
from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from typing import Any, Callable

from quantcore.errors import BadInputError
from quantcore.model.inventory import Inventory
from quantcore.planner.workload import ALL_LINEAR

FP32 = 4
BF16 = 2
MAIN_GRAD_BYTES = 4  # fp32 main gradients: Megatron-LM's "bf16 param, fp32 grads = 18 B/param" (2 + 4 + 12)
ADAM8_MIN_SIZE = 4096  # bitsandbytes Optimizer8bit min_8bit_size: smaller tensors keep 32-bit states
ADAM8_BLOCK = 256  # bitsandbytes blockwise 8-bit states: one fp32 absmax per 256 values per state

# LoRA target synonyms: a model with fused or MLA projections gets the adapter on the tensor that holds the target.
_TARGET_SYNONYMS: dict[str, tuple[str, ...]] = {
    "attn_q": ("attn_q", "attn_qkv", "attn_q_a", "attn_q_b"),
    "attn_k": ("attn_k", "attn_qkv", "attn_kv_a_mqa", "attn_kv_b"),
    "attn_v": ("attn_v", "attn_qkv", "attn_kv_a_mqa", "attn_kv_b"),
    "ffn_gate": ("ffn_gate", "ffn_gate_up"),
    "ffn_up": ("ffn_up", "ffn_gate_up"),
    "ffn_gate_exps": ("ffn_gate_exps", "ffn_gate_up_exps"),
    "ffn_up_exps": ("ffn_up_exps", "ffn_gate_up_exps"),
}
_ALL_LINEAR_ROLES = ("attention", "mlp", "shared_expert")



def optimizer_state_bytes(shapes: Counter[tuple[int, ...]], optimizer: str, master_weights: bool,
                          state_bytes: int = FP32) -> int:
    """Optimizer states of the trainable tensors (shape -> how many), plus an fp32 master copy when mixed precision.

    adamw: two fp32 moments, 8 B/param (llm-analysis: 12 B/param with the master copy); state_bytes=2 when torch
      keeps them in the parameters' bf16 (torch.optim creates its states with zeros_like(param)).
    adamw8bit: bitsandbytes blockwise 8-bit moments, 2 B/param + 2 fp32 absmax per 256 values; tensors under
      4096 values keep fp32 moments (Optimizer8bit min_8bit_size).
    sgd: one fp32 momentum buffer, 4 B/param.
    adafactor: factored second moments, rows + cols fp32 values per matrix, full for vectors, no first moment
      (Shazeer & Stern 2018; transformers' Adafactor with beta1=None).
    """
    total = 0
    for shape, count in shapes.items():
        n = math.prod(shape)
        if optimizer == "adamw":
            per = 2 * state_bytes * n
        elif optimizer == "adamw8bit":
            per = 2 * FP32 * n if n < ADAM8_MIN_SIZE else 2 * n + 2 * FP32 * -(-n // ADAM8_BLOCK)
        elif optimizer == "sgd":
            per = state_bytes * n
        elif optimizer == "adafactor":
            per = state_bytes * (math.prod(shape[:-2]) * (shape[-2] + shape[-1]) if len(shape) >= 2 else n)
        else:
            raise BadInputError(f"unknown optimizer {optimizer!r}; choose adamw, adamw8bit, sgd or adafactor")
        if master_weights:
            per += FP32 * n
        total += per * count
    return total


def trainable_shapes(inv: Inventory) -> Counter[tuple[int, ...]]:
    """Every parameter tensor's shape, for full fine-tuning."""
    def build() -> Counter[tuple[int, ...]]:
        c: Counter[tuple[int, ...]] = Counter()
        for t in inv.tensors:
            if t.role != "buffer":
                c[tuple(t.shape)] += t.count
        return c
    return memo(inv, ("full",), build)


def lora_shapes(inv: Inventory, targets: tuple[str, ...], rank: int) -> Counter[tuple[int, ...]]:
    """The A (rank x d_in) and B (d_out x rank) matrices LoRA adds to each targeted matrix (r*(d_in+d_out) each)."""
    def build() -> Counter[tuple[int, ...]]:
        c: Counter[tuple[int, ...]] = Counter()
        for t in inv.tensors:
            if _is_lora_target(t.role, t.kind, t.shape, targets):
                lead, d_out, d_in = math.prod(t.shape[:-2]), t.shape[-2], t.shape[-1]
                c[(rank, d_in)] += t.count * lead
                c[(d_out, rank)] += t.count * lead
        return c
    return memo(inv, ("lora", targets, rank), build)


def _is_lora_target(role: str, kind: str, shape: tuple[int, ...], targets: tuple[str, ...]) -> bool:
    if len(shape) < 2 or role in ("buffer", "norm") or kind.endswith("_bias"):
        return False
    if ALL_LINEAR in targets and role in _ALL_LINEAR_ROLES:
        return True
    return any(kind in _TARGET_SYNONYMS.get(t, (t,)) for t in targets)


def numel(shapes: Counter[tuple[int, ...]]) -> int:
    return sum(math.prod(s) * n for s, n in shapes.items())


def largest_tensor(inv: Inventory) -> int:
    """Values in the largest single parameter tensor (DeepSpeed's largest_layer_params for ZeRO-3 gathers)."""
    return memo(inv, ("largest",), lambda: max(
        (math.prod(t.shape) for t in inv.tensors if t.role != "buffer"), default=0))


# Facts derived from one inventory (shape tallies, optimizer bytes) are kept for the last few inventories, keyed by
# identity: hashing an Inventory would walk all its tensors on every call.
_CACHE: OrderedDict[int, tuple[Inventory, dict[Any, Any]]] = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


def memo(inv: Inventory, key: Any, build: Callable[[], Any]) -> Any:
    with _LOCK:
        entry = _CACHE.get(id(inv))
        if entry is None or entry[0] is not inv:
            entry = (inv, {})
            _CACHE[id(inv)] = entry
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(id(inv))
        facts = entry[1]
        if key in facts:
            return facts[key]
    value = build()
    with _LOCK:
        facts[key] = value
    return value
