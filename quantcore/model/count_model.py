"""A dense-model guess from a bare parameter count ("7B"), flagged as a guess everywhere it shows."""
from __future__ import annotations

import re
from decimal import Decimal

from quantcore.errors import BadInputError
from quantcore.model.bounds import check_inventory
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

# digits and exponent bounded: '1e400' and a 5,000-digit count are refused as absurd, never turned into inf
_COUNT = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?(?:e\d{1,4})?)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
GUESS_VOCAB = 32_000
GUESS_HEAD_DIM = 128
MAX_PARAMETERS = 100 * 10**12


def parse_count(text: str) -> int | None:
    """'7B' -> 7_000_000_000, '1.5t', '350m', '7e9'; None when the text is not a count."""
    m = _COUNT.match(text)
    if not m:
        return None
    value = Decimal(m.group(1)) * _SCALE[m.group(2).lower()]  # exact: no float overflow
    if value > MAX_PARAMETERS:
        raise BadInputError(f"parameter count '{text.strip()}' is absurd (more than {MAX_PARAMETERS // 10**12}T)")
    return int(value.to_integral_value())


def from_parameter_count(n: int) -> Inventory:
    """A Llama-shaped dense model with exactly n parameters (hidden and depth guessed from n)."""
    if n < 50_000_000:
        raise BadInputError(f"parameter count {n:,} is too small to guess a shape from (at least 50M); "
                            "open the model's config.json or .safetensors instead")
    if n > MAX_PARAMETERS:
        raise BadInputError(f"parameter count {n:,} is absurd (more than 100T)")
    # Llama-family models keep depth ~ hidden/128 and ~12*h^2 parameters per layer (4h^2 attention, 8h^2 MLP).
    h = max(256, int(round((n * GUESS_HEAD_DIM / 12) ** (1 / 3) / 256)) * 256)
    vocab = min(GUESS_VOCAB, n // (10 * h))  # small models: embeddings stay under a fifth of the total
    per_layer = 12 * h * h
    layers = max(1, (n - 2 * vocab * h) // per_layer)
    inter = 8 * h // 3
    tensors: list[TensorInfo] = [
        TensorInfo("model.embed_tokens.weight", (vocab, h), role="embedding", kind="token_embd"),
        TensorInfo("lm_head.weight", (vocab, h), role="head", kind="output"),
    ]
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors += [
            TensorInfo(p + "self_attn.q_proj.weight", (h, h), role="attention", kind="attn_q", layer=i),
            TensorInfo(p + "self_attn.k_proj.weight", (h, h), role="attention", kind="attn_k", layer=i),
            TensorInfo(p + "self_attn.v_proj.weight", (h, h), role="attention", kind="attn_v", layer=i),
            TensorInfo(p + "self_attn.o_proj.weight", (h, h), role="attention", kind="attn_output", layer=i),
            TensorInfo(p + "mlp.gate_proj.weight", (inter, h), role="mlp", kind="ffn_gate", layer=i),
            TensorInfo(p + "mlp.up_proj.weight", (inter, h), role="mlp", kind="ffn_up", layer=i),
            TensorInfo(p + "mlp.down_proj.weight", (h, inter), role="mlp", kind="ffn_down", layer=i),
        ]
    rest = n - sum(t.numel for t in tensors)
    if rest > 0:  # what the guessed shapes miss, kept as one flat tensor so the total is exactly n
        tensors.append(TensorInfo("unassigned", (rest,), role="other", kind="other"))
    heads = h // GUESS_HEAD_DIM
    arch = Architecture(model_type="guess", num_layers=layers, hidden_size=h, num_heads=heads, num_kv_heads=heads,
                        head_dim=GUESS_HEAD_DIM, vocab_size=vocab, intermediate_size=inter, max_context=4096)
    note = (f"guessed from a bare count of {n:,} parameters: a dense Llama-like model with {layers} layers, hidden "
            f"{h}, {heads} heads, no GQA (KV cache is an upper bound)")
    return check_inventory(Inventory(id=f"{n / 1e9:g}B (count)", source="count", tensors=tuple(tensors), arch=arch,
                                     notes=(note,)))
