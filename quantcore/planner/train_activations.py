"""Training activations as transformers + peft really keep them: the tensors autograd saves for backward, per
architecture, and the transients of the backward pass that set the step's peak.

Measured term by term on CPU (benchmarks/accuracy/hf_measure.py: saved-tensor hooks and a live-storage tracker;
golden cases in tests/golden/accuracy/transformers.json). Per layer and token, with a = bytes of the compute dtype
(2 for bf16/fp16 and autocast, 4 for fp32), h hidden, Eq = heads x head_dim, Ekv = kv_heads x head_dim, I the
MLP width, H heads, s tokens:
  RMSNorm (Llama, Qwen, Mistral...): its fp32 upcast input, 4h (pow and mul need it), + the normalised a*h the
    weight product needs when the norm weight trains; Gemma's (1 + w) norm keeps both in fp32 (4h + 4h).
    LayerNorm (GPT-2, NeoX...): its input a*h.
  a linear's input (a*h, or a*I for the down projection) when its weight trains; peft keeps one fp32 copy (4 B)
    of each distinct input an adapter reads (x.to(lora_A.weight.dtype)) and the rank-r output of A (4r).
  SDPA / flash attention: rotated q and k, v, the output (a*(2Eq + 2Ekv)) and the fp32 log-sum-exp (4H); the
    output projection reads a view of that output. Eager attention: q, k and v repeated to H heads (3a*Eq), the
    fp32 softmax (4Hs) and its a-byte copy (aHs) (+ the tanh of Gemma-2's soft-capping, aHs), the contiguous
    output (a*Eq).
  Gated MLP: gate, act(gate), up (3a*I) + their product (a*I) when the down projection trains. Plain MLP: the up
    output a*I (+ a*I into the down projection when it trains); GPT-2's composite gelu_new keeps 3 more.
  MoE: each of the k routed copies keeps the gated-MLP terms of its expert and 2a*h (gathered input and output).
Outside the layers: the final norm, the lm_head input, and the loss: transformers' ForCausalLMLoss upcasts the
logits and cross_entropy keeps only its fp32 log-softmax, 4V per token (Gemma-2's final soft-capping adds its
tanh, aV). HF Trainer's autocast keeps a bf16 copy of every matmul weight for backward (2 B per parameter).
Gradient checkpointing keeps each layer's input (a*h) and recomputes one layer at a time in backward.

Backward transients (the step peak is the largest of):
  the loss backward: two more fp32 s x V buffers (the gradient of the log-softmax and its input), 8V per token,
    while everything kept is still alive;
  with checkpointing, a recomputed layer: its kept tensors + the gradients flowing through it;
  the end of backward / optimizer step: all gradients, plus torch AdamW's foreach temporary (a copy of sqrt(v))
    for the recipe that uses it.
"""
from __future__ import annotations

from dataclasses import dataclass

from quantcore.model.inventory import Architecture

FP32 = 4
_LAYERNORM_TYPES = frozenset({"gpt2", "gpt_neox", "gptj", "gpt_bigcode", "phi", "bloom", "opt", "falcon",
                              "starcoder2", "codegen", "stablelm", "persimmon", "olmo"})
_GEMMA_NORM_TYPES = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text"})
_COMPOSITE_GELU_TYPES = frozenset({"gpt2", "gptj", "codegen"})  # gelu_new written as Python ops
_SOFTCAP_TYPES = frozenset({"gemma2"})  # attention and final-logit soft-capping (tanh)


@dataclass(frozen=True)
class Trainables:
    """Which weights train: everything (full), or LoRA adapters on these sites (attn_in = q/k/v, attn_out = o,
    mlp_in = gate/up, mlp_out = down, head = lm_head)."""

    full: bool
    lora_sites: frozenset[str] = frozenset()
    lora_rank: int = 0

    def trains(self, site: str) -> bool:
        return self.full

    def adapted(self, site: str) -> bool:
        return not self.full and site in self.lora_sites


@dataclass(frozen=True)
class TrainingActivations:
    """Bytes kept for backward and the transients above them (whole batch, one GPU, before tensor parallelism)."""

    kept: int  # alive when backward starts
    loss_transient: int  # extra at the loss backward (on top of kept)
    recompute_transient: int  # extra while one checkpointed layer is recomputed (on top of kept - loss terms)
    loss_kept: int  # the part of kept that the loss backward frees first (log-softmax, lm_head input)


def layer_bytes_per_token(arch: Architecture, tokens: int, a: int, flash: bool, tr: Trainables) -> int:
    """Bytes one decoder layer saves for backward per token (no recomputation)."""
    h, H = arch.hidden_size, arch.num_heads
    eq, ekv = H * arch.head_dim, arch.num_kv_heads * arch.head_dim
    mt = arch.model_type
    total = 2 * _norm(mt, h, a, tr.full)
    # linear inputs: q/k/v read the attention norm output, o the attention output, gate/up the MLP norm output
    total += _linear_input(h, a, tr, "attn_in")
    total += _linear_input(h, a, tr, "mlp_in")
    if flash:
        total += a * (2 * eq + 2 * ekv) + FP32 * H
        total += 0 if tr.full else _adapter_input(eq, tr, "attn_out")
    else:
        s = tokens
        total += 3 * a * eq + FP32 * H * s + a * H * s + (a * H * s if mt in _SOFTCAP_TYPES else 0)
        total += _linear_input(eq, a, tr, "attn_out")
    total += _mlp(arch, a, tr)
    if tr.lora_sites and not tr.full:
        total += FP32 * tr.lora_rank * _adapted_modules(arch, tr)
    return total


def _norm(model_type: str, h: int, a: int, trains: bool) -> int:
    if model_type in _GEMMA_NORM_TYPES:
        return FP32 * h + (FP32 * h if trains else 0)
    if model_type in _LAYERNORM_TYPES:
        return a * h
    return FP32 * h + (a * h if trains else 0)


def _linear_input(width: int, a: int, tr: Trainables, site: str) -> int:
    if tr.full:
        return a * width
    return _adapter_input(width, tr, site)


def _adapter_input(width: int, tr: Trainables, site: str) -> int:
    return FP32 * width if tr.adapted(site) else 0


def _mlp(arch: Architecture, a: int, tr: Trainables) -> int:
    h = arch.hidden_size
    if arch.is_moe and arch.experts_per_token:
        k, ie = arch.experts_per_token, arch.moe_intermediate_size or arch.intermediate_size
        per_expert = 3 * a * ie + _linear_input(ie, a, tr, "mlp_out") + 2 * a * h
        shared = arch.num_shared_experts * (3 * a * ie + _linear_input(ie, a, tr, "mlp_out"))
        return k * per_expert + shared
    width = arch.intermediate_size or 4 * h
    if arch.gated_mlp:
        return 3 * a * width + _linear_input(width, a, tr, "mlp_out")
    kept = a * width * (4 if arch.model_type in _COMPOSITE_GELU_TYPES else 1)
    return kept + _linear_input(width, a, tr, "mlp_out")


def _adapted_modules(arch: Architecture, tr: Trainables) -> int:
    """LoRA adapters per layer (each keeps its rank-r fp32 A output)."""
    per_site = {"attn_in": 3, "attn_out": 1, "mlp_in": 2 if arch.gated_mlp else 1, "mlp_out": 1}
    n = sum(per_site[s] for s in tr.lora_sites if s in per_site)
    if arch.is_moe and arch.experts_per_token:
        n += sum(per_site[s] * (arch.experts_per_token - 1) for s in tr.lora_sites if s in ("mlp_in", "mlp_out"))
    return n


def training_activations(arch: Architecture, batch: int, tokens: int, recompute: str, flash: bool, a: int,
                         tr: Trainables, autocast_weight_bytes: int = 0) -> TrainingActivations:
    """What a training step keeps and the transients above it, for batch x tokens."""
    if batch == 0 or tokens == 0:
        return TrainingActivations(0, 0, 0, 0)
    n = batch * tokens
    h, V = arch.hidden_size, arch.vocab_size
    layer = layer_bytes_per_token(arch, tokens, a, flash, tr) * n
    final = _norm(arch.model_type, h, a, tr.full) * n + _head_input(h, a, tr) * n
    loss = FP32 * V * n + (a * V * n if arch.model_type in _SOFTCAP_TYPES else 0)
    if recompute == "full":
        layers = arch.num_layers * a * h * n  # each checkpointed layer keeps its input
        recomputed = layer
    elif recompute == "selective":
        # Korthikanti et al.'s selective recomputation drops the attention-score terms; flash keeps none anyway
        layers = arch.num_layers * layer_bytes_per_token(arch, tokens, a, True, tr) * n
        recomputed = 0
    else:
        layers = arch.num_layers * layer
        recomputed = 0
    kept = layers + final + loss + autocast_weight_bytes
    return TrainingActivations(kept=kept, loss_transient=2 * FP32 * V * n, recompute_transient=recomputed,
                               loss_kept=loss + _head_input(h, a, tr) * n)


def _head_input(h: int, a: int, tr: Trainables) -> int:
    if tr.full:
        return a * h
    return FP32 * h if tr.adapted("head") else 0
