"""Inventories from local files: a folder, config.json, .safetensors (headers), an index, .gguf (header)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from quantcore.errors import ModelFileError, QuantPlannerError
from quantcore.model.arch import inventory_from_config
from quantcore.model.inventory import Architecture, Inventory, TensorInfo
from quantcore.sources import safetensors_header
from quantcore.sources.gguf_header import read_gguf
from quantcore.sources.hub_quant import checkpoint_precision, logical_tensors
from quantcore.sources.local_name import local_model_name

MAX_CONFIG_BYTES = 10_000_000


def load_path(path: Path) -> Inventory:
    """Inventory from a local path, dispatching on what it is."""
    if path.is_dir():
        return _load_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        return read_gguf(path)
    if suffix == ".safetensors":
        config = _sibling_config(path)
        return inventory_from_tensors(safetensors_header.read_file(path), local_model_name(path, config), config,
                                      str(path))
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and "weight_map" in data:
            return _from_index(path, data)
        inv = inventory_from_config(data, str(path))
        return replace(inv, id=local_model_name(path, data if isinstance(data, dict) else None))
    raise ModelFileError(f"{path}: not a model file (expected a folder, config.json, .safetensors or .gguf)")


def read_json(path: Path) -> Any:
    """A small JSON file, with clear errors for the ways it can be wrong."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{path}: {size:,} bytes is too large for a config file")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text file (expected JSON)") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _load_folder(folder: Path) -> Inventory:
    config = _sibling_config(folder / "config.json")
    index = folder / "model.safetensors.index.json"
    if index.exists():
        return _from_index(index, read_json(index))
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        tensors = [t for s in shards for t in safetensors_header.read_file(s)]
        return inventory_from_tensors(tensors, local_model_name(folder, config), config, str(folder))
    ggufs = sorted(folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if len(ggufs) > 1:
        raise ModelFileError(f"{folder}: holds {len(ggufs)} .gguf files; open one of them")
    if config is not None:
        inv = replace(inventory_from_config(config, str(folder)), id=local_model_name(folder, config))
        return replace(inv, notes=inv.notes + ("no weight files here: counted analytically from config.json",))
    raise ModelFileError(f"{folder}: no config.json, .safetensors or .gguf file in this folder")


def _from_index(index: Path, data: Any) -> Inventory:
    if not isinstance(data, dict) or not isinstance(data.get("weight_map"), dict):
        raise ModelFileError(f"{index}: not a safetensors index (no weight_map)")
    folder = index.parent
    shards = sorted(set(data["weight_map"].values()))
    missing = [s for s in shards if not (folder / s).exists()]
    if missing:
        raise ModelFileError(f"{index}: shard {missing[0]} is missing ({len(missing)} of {len(shards)} missing)")
    tensors = [t for s in shards for t in safetensors_header.read_file(folder / s)]
    config = _sibling_config(folder / "config.json")
    return inventory_from_tensors(tensors, local_model_name(folder, config), config, str(folder))


def _sibling_config(path: Path) -> dict[str, Any] | None:
    cfg = path if path.name == "config.json" else path.parent / "config.json"
    if not cfg.exists():
        return None
    data = read_json(cfg)
    if not isinstance(data, dict):
        raise ModelFileError(f"{cfg}: config.json must be a JSON object")
    return data


def inventory_from_tensors(tensors: list[TensorInfo], model_id: str, config: dict[str, Any] | None,
                           where: str) -> Inventory:
    """Exact tensors from headers; the architecture from config.json when there is one, else from the tensors.

    An already-quantized checkpoint (quantization_config in config.json) is planned as what it is: its packed
    tensors become logical weights carrying the exact stored bytes of their scales and zero-points
    (hub_quant.logical_tensors), and Inventory.quantization names its precision id.
    """
    notes: list[str] = ["exact tensor sizes from safetensors headers"]
    arch: Architecture | None = None
    analytic: Inventory | None = None
    if config is not None:
        try:
            analytic = inventory_from_config(config, where)
            arch = analytic.arch
        except QuantPlannerError as exc:
            notes.append(f"architecture guessed from tensor shapes ({exc})")
    pid, desc = checkpoint_precision(config)
    if desc:
        stored = sum(t.stored_bytes for t in tensors)
        shapes = {t.name: t.shape for t in analytic.tensors} if analytic is not None else None
        tensors, more = logical_tensors(tensors, config, shapes)
        notes.append(f"checkpoint already quantized ({desc}): {stored:,} bytes stored; parameters are the logical "
                     "weights, packed scales and zero-points are counted as bytes, not parameters"
                     + ("" if pid else "; no matching precision id in the catalog"))
        notes.extend(more)
    if arch is None:
        arch = guess_architecture(tensors, config or {})
        if config is None:
            notes.append("no config.json beside the weights: architecture guessed from tensor shapes")
    return Inventory(id=model_id, source="safetensors", tensors=tuple(tensors), arch=arch, quantization=pid,
                     notes=tuple(notes))


def guess_architecture(tensors: list[TensorInfo], config: dict[str, Any]) -> Architecture:
    """Best-effort architecture facts from tensor names and shapes (and any generic config fields)."""
    layers = 1 + max((t.layer for t in tensors if t.layer is not None), default=0)
    embd = next((t for t in tensors if t.kind == "token_embd"), None)
    vocab, hidden = (embd.shape[0], embd.shape[-1]) if embd and len(embd.shape) == 2 else (0, 0)
    hidden = int(config.get("hidden_size") or hidden or 0)
    if hidden <= 0:
        raise ModelFileError("cannot tell the hidden size: no token embedding tensor and no config.json")
    heads = int(config.get("num_attention_heads") or max(1, hidden // 64))
    head_dim = int(config.get("head_dim") or hidden // heads)
    k = next((t for t in tensors if t.kind == "attn_k" and len(t.shape) == 2), None)
    kv_heads = int(config.get("num_key_value_heads") or (k.shape[0] // head_dim if k else heads) or heads)
    up = next((t for t in tensors if t.kind in ("ffn_up", "ffn_gate") and len(t.shape) == 2), None)
    return Architecture(
        model_type=str(config.get("model_type") or "unknown"), num_layers=int(config.get("num_hidden_layers") or layers),
        hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
        vocab_size=int(config.get("vocab_size") or vocab), intermediate_size=up.shape[0] if up else 4 * hidden,
        max_context=int(config.get("max_position_embeddings") or 0),
        tie_embeddings=not any(t.kind == "output" for t in tensors),
    )
