"""What a test-run can run: one linear layer, a layer's MLP block or its attention block, found in the model's
inventory by tensor kind and built with torch from the real tensors (no model code: a block needs only its own
weights, read through mmap, so a layer of a 70B model runs without loading the rest)."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

if TYPE_CHECKING:
    import torch

KINDS = ("linear", "mlp", "attention")
_MLP_KINDS = ("ffn_gate", "ffn_up", "ffn_down")
_ATTN_KINDS = ("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output")


@dataclass(frozen=True)
class BlockSpec:
    """A runnable piece of the model: kind, its name, and its weight matrices by part (e.g. {"up": "...weight"})."""

    kind: str  # linear | mlp | attention
    name: str  # linear: the module name; blocks: "mlp:3" / "attention:3"
    parts: tuple[tuple[str, str], ...]  # (part, weight tensor name) in the order they run
    layer: int | None = None

    @property
    def weights(self) -> tuple[str, ...]:
        return tuple(w for _, w in self.parts)

    @property
    def input_weight(self) -> str:
        """The weight whose module receives the block's input (its captured activations feed the block)."""
        return self.parts[0][1]

    def describe(self) -> str:
        if self.kind == "linear":
            return self.name
        short = ", ".join(p for p, _ in self.parts)
        return f"layer {self.layer} {self.kind} block ({short})"


def linear_weights(inv: Inventory) -> list[TensorInfo]:
    """Every 2-D projection weight of the transformer layers (what sensitivity and test-runs quantize)."""
    return [t for t in inv.tensors if len(t.shape) == 2 and t.count == 1 and t.name.endswith("weight")
            and t.role in ("attention", "mlp", "shared_expert", "other") and t.kind in _MLP_KINDS + _ATTN_KINDS]


def _by_layer(inv: Inventory, kinds: tuple[str, ...]) -> dict[int, dict[str, TensorInfo]]:
    out: dict[int, dict[str, TensorInfo]] = {}
    for t in linear_weights(inv):
        if t.kind in kinds and t.layer is not None:
            out.setdefault(t.layer, {})[t.kind] = t
    return out


def block_choices(inv: Inventory) -> list[BlockSpec]:
    """Every linear layer, then each layer's MLP and attention block that can be built here."""
    out = [BlockSpec("linear", t.name.removesuffix(".weight"), (("weight", t.name),), t.layer)
           for t in linear_weights(inv)]
    for layer in sorted(_by_layer(inv, _MLP_KINDS)):
        spec = _mlp(inv, layer)
        if spec is not None:
            out.append(spec)
    for layer in sorted(_by_layer(inv, _ATTN_KINDS)):
        spec = _attention(inv, layer)
        if spec is not None:
            out.append(spec)
    return out


def _mlp(inv: Inventory, layer: int) -> BlockSpec | None:
    got = _by_layer(inv, _MLP_KINDS).get(layer, {})
    if "ffn_up" not in got or "ffn_down" not in got:
        return None
    parts = [("gate", got["ffn_gate"].name)] if "ffn_gate" in got else []
    parts += [("up", got["ffn_up"].name), ("down", got["ffn_down"].name)]
    return BlockSpec("mlp", f"mlp:{layer}", tuple(parts), layer)


def _attention(inv: Inventory, layer: int) -> BlockSpec | None:
    got = _by_layer(inv, _ATTN_KINDS).get(layer, {})
    if inv.arch is None or "attn_output" not in got or inv.arch.kv_lora_rank:
        return None  # MLA (latent attention) is not rebuilt here
    if "attn_qkv" in got:
        parts = [("qkv", got["attn_qkv"].name)]
    elif all(k in got for k in ("attn_q", "attn_k", "attn_v")):
        parts = [("q", got["attn_q"].name), ("k", got["attn_k"].name), ("v", got["attn_v"].name)]
    else:
        return None
    return BlockSpec("attention", f"attention:{layer}", (*parts, ("o", got["attn_output"].name)), layer)


def find_block(inv: Inventory, name: str | None) -> BlockSpec:
    """The block a name means: "mlp:N" / "attention:N", or a linear layer by module or weight name (a unique
    part of it also works); default: the MLP up-projection of the middle layer."""
    choices = block_choices(inv)
    linears = [c for c in choices if c.kind == "linear"]
    if not linears:
        raise BadInputError(f"{inv.id}: no linear layer weights to test-run (2-D attention / MLP projections)")
    if not name:
        ups = [c for c in linears if c.parts[0][1] in {t.name for t in linear_weights(inv) if t.kind == "ffn_up"}]
        pool = ups or linears
        return pool[len(pool) // 2]
    m = re.fullmatch(r"(mlp|attention|attn)[:.](\d+)", name.strip().lower())
    if m:
        kind = "attention" if m.group(1).startswith("attn") else m.group(1)
        got = next((c for c in choices if c.kind == kind and c.layer == int(m.group(2))), None)
        if got is None:
            raise BadInputError(f"{inv.id} has no {kind} block in layer {m.group(2)} that can be built here")
        return got
    key = name.strip().removesuffix(".weight")
    exact = [c for c in linears if c.name == key]
    if exact:
        return exact[0]
    partial = [c for c in linears if key in c.name]
    if len(partial) == 1:
        return partial[0]
    example = ", ".join(c.name for c in linears[:2])
    if partial:
        raise BadInputError(f"--layer '{name}' matches {len(partial)} linear layers (e.g. {partial[0].name}); "
                            "give a longer part of the name")
    raise BadInputError(f"no linear layer matches '{name}' (e.g. {example}, or mlp:N / attention:N)")


def activation_fn(config: dict[str, Any] | None, gated: bool) -> tuple[Callable[[Any], Any], str]:
    """The MLP's activation from config.json's hidden_act (default: SiLU for gated MLPs, GELU otherwise)."""
    import torch

    name = str((config or {}).get("hidden_act") or (config or {}).get("hidden_activation")
               or ("silu" if gated else "gelu")).lower()
    fns: dict[str, Callable[[Any], Any]] = {
        "silu": torch.nn.functional.silu, "swish": torch.nn.functional.silu, "relu": torch.relu,
        "gelu": torch.nn.functional.gelu,
        "gelu_new": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    }
    if name not in fns:
        raise BadInputError(f"MLP activation '{name}' is not rebuilt here (silu, gelu, gelu_new, relu)")
    return fns[name], name


def build_block(spec: BlockSpec, layers: dict[str, Any], arch: Architecture | None,
                config: dict[str, Any] | None) -> Callable[[Any], Any]:
    """The block's forward over `layers` (part -> a module taking (..., in) and giving (..., out)).

    Inputs are (batch, tokens, hidden). attention: softmax attention over the heads of `arch` (grouped-query
    heads repeated; causal unless the model is an encoder), no rotary embedding or norm: both the original and the
    quantized block compute exactly the same thing, so the difference is the quantization alone.
    """
    import torch

    if spec.kind == "linear":
        return layers["weight"]
    if spec.kind == "mlp":
        act, _ = activation_fn(config, "gate" in layers)
        if "gate" in layers:
            return lambda x: layers["down"](act(layers["gate"](x)) * layers["up"](x))
        return lambda x: layers["down"](act(layers["up"](x)))
    if arch is None:
        raise BadInputError("an attention block needs the model's head counts (config.json)")
    heads, kv_heads, head_dim = arch.num_heads, arch.num_kv_heads or arch.num_heads, arch.head_dim
    causal = not arch.encoder_only

    def attention(x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        if "qkv" in layers:
            q, k, v = layers["qkv"](x).split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], dim=-1)
        else:
            q, k, v = layers["q"](x), layers["k"](x), layers["v"](x)
        q = q.view(b, t, heads, head_dim).transpose(1, 2)
        k = k.view(b, t, kv_heads, head_dim).transpose(1, 2)
        v = v.view(b, t, kv_heads, head_dim).transpose(1, 2)
        if kv_heads != heads:
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                             scale=1.0 / math.sqrt(head_dim))
        return layers["o"](o.transpose(1, 2).reshape(b, t, heads * head_dim))

    return attention
