"""A training step's memory lines under a recipe: weights, gradients, optimizer states, adapters and the activation
line that makes their sum the step's peak (measured in benchmarks/accuracy, see train_activations.py).

Full fine-tuning recipes (bytes per parameter, AdamW):
  bf16-mixed  (Megatron-LM, DeepSpeed): bf16 weights 2 + fp32 main gradients 4 (kept between steps) + fp32 master
              weights and moments 12 = 18, fused optimizer;
  bf16-pure   (model.to(bfloat16) + torch.optim.AdamW): 2 + 2 + 4 = 8 (torch makes its states like the
              parameters), gradients freed by zero_grad(set_to_none=True), and the foreach AdamW CUDA runs by
              default holds one more copy of the second moment (its sqrt) during the step;
  hf-trainer  (Trainer bf16=True on an fp32-loaded model): 4 + 4 + 8 = 16, adamw_torch_fused (its default), and
              autocast's bf16 copy of every matmul weight kept for backward (2 B per such parameter).
An fp32 precision row trains in plain fp32: 4 + 4 + 8 = 16, no copies.
LoRA / QLoRA: the base stays frozen at the row's precision; peft keeps the adapters in fp32 (it upcasts them on
bf16/fp16 bases), so adapters 4 + their gradients 4 + AdamW moments 8 B per adapter parameter, no master copy.
QLoRA runs peft's prepare_model_for_kbit_training, which casts every unquantized parameter (embeddings, lm_head,
norms) to fp32, and turns gradient checkpointing on (recompute "auto").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from quantcore.formats import catalog as formats
from quantcore.model.inventory import Inventory
from quantcore.planner.train_activations import Trainables, training_activations
from quantcore.planner.training import BF16, FP32, lora_shapes, memo, numel, optimizer_state_bytes, trainable_shapes
from quantcore.planner.workload import ALL_LINEAR, Workload

_SITES = {"attn_q": "attn_in", "attn_k": "attn_in", "attn_v": "attn_in", "attn_qkv": "attn_in",
          "attn_q_a": "attn_in", "attn_q_b": "attn_in", "attn_kv_a_mqa": "attn_in", "attn_kv_b": "attn_in",
          "attn_output": "attn_out", "ffn_gate": "mlp_in", "ffn_up": "mlp_in", "ffn_gate_up": "mlp_in",
          "ffn_gate_exps": "mlp_in", "ffn_up_exps": "mlp_in", "ffn_gate_up_exps": "mlp_in", "ffn_shexp": "mlp_in",
          "ffn_down": "mlp_out", "ffn_down_exps": "mlp_out", "output": "head"}


@dataclass(frozen=True)
class TrainingLines:
    weights: int
    gradients: int
    optimizer: int
    adapters: int
    activations: int
    persistent_gradients: bool  # kept between steps (fp32 main grads) or made in backward and freed after


def training_lines(inv: Inventory, pid: str, w: Workload, recompute: str) -> TrainingLines:
    """Per-GPU lines of one training step before ZeRO sharding (memory.py shards them)."""
    arch = inv.arch
    p = formats.get_precision(pid)
    fp32_row = p.storage_bits >= 32
    weights = formats.weight_bytes(inv, pid)
    autocast = 0
    step_transient = 0
    if w.mode == "full":
        shapes = trainable_shapes(inv)
        n = numel(shapes)
        adapters = 0
        tr = Trainables(full=True)
        recipe = "fp32" if fp32_row else w.recipe
        if recipe in ("fp32", "hf-trainer"):
            weights = formats.weight_bytes(inv, "fp32")
            grads, persistent = FP32 * n, False
            optimizer = memo(inv, ("opt", "full", w.optimizer, "fp32"),
                             lambda: optimizer_state_bytes(shapes, w.optimizer, False))
            if recipe == "hf-trainer":
                autocast = BF16 * matmul_parameters(inv)
        elif recipe == "bf16-mixed":
            grads, persistent = FP32 * n, True
            optimizer = memo(inv, ("opt", "full", w.optimizer, "mixed"),
                             lambda: optimizer_state_bytes(shapes, w.optimizer, True))
        else:  # bf16-pure
            grads, persistent = BF16 * n, False
            optimizer = memo(inv, ("opt", "full", w.optimizer, "pure"),
                             lambda: optimizer_state_bytes(shapes, w.optimizer, False, BF16))
            if w.optimizer == "adamw":
                step_transient = BF16 * n  # foreach AdamW: torch._foreach_sqrt(exp_avg_sqs)
        a = FP32 if recipe == "fp32" else BF16
    else:
        if w.mode == "qlora":
            weights += memo(inv, ("kbit_upcast", pid), lambda: kbit_upcast_bytes(inv, pid))
        shapes = lora_shapes(inv, w.lora_targets, w.lora_rank)
        n = numel(shapes)
        adapters = FP32 * n
        grads, persistent = FP32 * n, False
        optimizer = memo(inv, ("opt", "lora", w.lora_targets, w.lora_rank, w.optimizer),
                         lambda: optimizer_state_bytes(shapes, w.optimizer, False))
        tr = Trainables(full=False, lora_sites=lora_sites(w.lora_targets), lora_rank=w.lora_rank)
        a = FP32 if fp32_row else BF16
    act = training_activations(arch, w.batch, w.context, recompute, w.flash_attention, a, tr, autocast)
    # the step's peak above weights + adapters + optimizer states: the largest of the loss backward (all kept
    # tensors + its transients), a recomputed layer (checkpointing), and the end of backward / optimizer step
    # (every gradient + the optimizer's temporaries)
    held = grads if persistent else 0
    loss_phase = held + act.kept + act.loss_transient
    recompute_phase = grads + act.kept - act.loss_kept + act.recompute_transient
    step_phase = grads + step_transient
    peak = max(loss_phase, recompute_phase, step_phase)
    return TrainingLines(weights=weights, gradients=grads, optimizer=optimizer, adapters=adapters,
                         activations=peak - grads, persistent_gradients=persistent)


def kbit_upcast_bytes(inv: Inventory, pid: str) -> int:
    """What peft's prepare_model_for_kbit_training adds: it casts every parameter left unquantized (embeddings,
    lm_head, norms, biases) to fp32 (measured: the qlora golden case)."""
    p = formats.get_precision(pid)
    extra = 0
    for t in inv.tensors:
        if t.role != "buffer" and not formats.quantized_by(t, p):
            extra += FP32 * t.numel - formats.tensor_bytes(t, p, inv.arch)
    return max(0, extra)


def lora_sites(targets: tuple[str, ...]) -> frozenset[str]:
    if ALL_LINEAR in targets:
        return frozenset({"attn_in", "attn_out", "mlp_in", "mlp_out"})
    return frozenset(_SITES[t] for t in targets if t in _SITES)


def matmul_parameters(inv: Inventory) -> int:
    """Parameters autocast casts to bf16 for a matmul: every 2-D (or stacked expert) weight but the input
    embeddings; a tied lm_head casts the embedding matrix once more."""
    def count() -> int:
        total = 0
        for t in inv.tensors:
            if t.role in ("buffer", "norm") or len(t.shape) < 2 or t.kind.endswith("_bias"):
                continue
            if t.role == "embedding":
                if t.kind == "token_embd" and inv.arch is not None and inv.arch.tie_embeddings:
                    total += math.prod(t.shape) * t.count
                continue
            total += math.prod(t.shape) * t.count
        return total
    return memo(inv, ("matmul_params",), count)
