"""A model as a list of tensors plus the architecture facts the memory model needs."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

# Roles a tensor can play; formats decide per role what they keep in higher precision.
# "buffer" marks stored non-parameters (position_ids, rotary inv_freq, causal masks): bytes on disk, not weights.
ROLES = ("embedding", "attention", "mlp", "expert", "shared_expert", "router", "norm", "head", "other", "buffer")

# Bytes per element of the plain (unquantized) safetensors / GGUF float dtypes.
DTYPE_BYTES: dict[str, float] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75,
}


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor (or `count` identical ones, e.g. the experts of a layer).

    kind uses llama.cpp's tensor vocabulary (token_embd, output, attn_q, attn_k, attn_v, attn_qkv,
    attn_output, ffn_gate, ffn_up, ffn_down, ffn_*_exps, ffn_gate_inp, norm, ...) so that mixed
    GGUF recipes can apply their per-tensor rules to any source.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "BF16"
    role: str = "other"
    kind: str = ""
    layer: int | None = None
    count: int = 1
    nbytes: int | None = None  # exact stored bytes when a header says so; else derived from dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape) * self.count

    @property
    def stored_bytes(self) -> int:
        if self.nbytes is not None:
            return self.nbytes
        return int(self.numel * DTYPE_BYTES.get(self.dtype, 2))

    @property
    def is_vector(self) -> bool:
        return len(self.shape) <= 1


@dataclass(frozen=True)
class Architecture:
    """What the KV-cache, activation and speed formulas need, independent of where it came from."""

    model_type: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int = 0
    max_context: int = 0
    sliding_window: int | None = None
    # per layer: "full", "sliding" or "none" (no KV cache: recurrent / linear); empty means all "full"
    layer_attention: tuple[str, ...] = ()
    # Multi-head latent attention (DeepSeek-V2/V3): latent cache of kv_lora_rank + qk_rope_head_dim per token
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    num_experts: int = 0
    experts_per_token: int = 0
    num_shared_experts: int = 0
    moe_intermediate_size: int = 0
    tie_embeddings: bool = False
    encoder_only: bool = False  # BERT-style: no autoregressive decode, no KV cache kept
    gated_mlp: bool = True

    @property
    def attention_kinds(self) -> tuple[str, ...]:
        return self.layer_attention or ("full",) * self.num_layers

    @property
    def full_attention_layers(self) -> int:
        return sum(1 for k in self.attention_kinds if k == "full")

    @property
    def sliding_attention_layers(self) -> int:
        return sum(1 for k in self.attention_kinds if k == "sliding")

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0


@dataclass(frozen=True)
class Inventory:
    """A model: its tensors, its architecture (when known) and where the facts came from."""

    id: str
    source: str  # "safetensors" | "gguf" | "config" | "count"
    tensors: tuple[TensorInfo, ...]
    arch: Architecture | None = None
    quantization: str | None = None  # precision id the checkpoint is already stored in, if any
    notes: tuple[str, ...] = field(default=())

    @cached_property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors if t.role != "buffer")

    @cached_property
    def expert_parameters(self) -> int:
        return sum(t.numel for t in self.tensors if t.role == "expert")

    @cached_property
    def active_parameters(self) -> int:
        """Parameters touched per token: routed experts count only experts_per_token / num_experts."""
        a = self.arch
        if a is None or not a.is_moe or self.expert_parameters == 0:
            return self.parameters
        routed = self.expert_parameters * a.experts_per_token // a.num_experts
        return self.parameters - self.expert_parameters + routed

    @cached_property
    def stored_bytes(self) -> int:
        return sum(t.stored_bytes for t in self.tensors)

    @property
    def architecture(self) -> str:
        return self.arch.model_type if self.arch else "unknown"
