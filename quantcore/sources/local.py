"""Inventories from local files: a folder, config.json, .safetensors (headers), an index, .gguf (header)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from quantcore.errors import ModelFileError, QuantPlannerError
from quantcore.model.arch import inventory_from_config
from quantcore.model.bounds import check_inventory, config_int, show
from quantcore.model.inventory import Architecture, Inventory, TensorInfo
from quantcore.sources import safetensors_header
from quantcore.sources.gguf_header import read_gguf
from quantcore.sources.hub_quant import checkpoint_precision, logical_tensors
from quantcore.sources.local_name import local_model_name
from quantcore.sources.safe_io import probe, safe_name
from quantcore.sources.safe_io import read_json as safe_read_json

MAX_CONFIG_BYTES = 10_000_000


def load_path(path: Path) -> Inventory:
    """Inventory from a local path, dispatching on what it is (every file opened through safe_io: regular files
    only, bounded reads)."""
    if probe(path) == "dir":
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
    """A small JSON file (config.json, an index), with clear errors for the ways it can be wrong."""
    return safe_read_json(path, MAX_CONFIG_BYTES, "JSON file")


def _load_folder(folder: Path) -> Inventory:
    config = _sibling_config(folder / "config.json")
    index = folder / "model.safetensors.index.json"
    if probe(index) is not None:
        return _from_index(index, read_json(index))
    shards = sorted(_listed(folder, "*.safetensors"))
    if shards:
        tensors = [t for s in shards for t in safetensors_header.read_file(s)]
        return inventory_from_tensors(tensors, local_model_name(folder, config), config, str(folder))
    ggufs = sorted(_listed(folder, "*.gguf"))
    if len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if len(ggufs) > 1:
        raise ModelFileError(f"{folder}: holds {len(ggufs)} .gguf files; open one of them")
    if config is not None:
        inv = replace(inventory_from_config(config, str(folder)), id=local_model_name(folder, config))
        return replace(inv, notes=inv.notes + ("no weight files here: counted analytically from config.json",))
    raise ModelFileError(f"{folder}: no config.json, .safetensors or .gguf file in this folder")


def _listed(folder: Path, pattern: str) -> list[Path]:
    try:
        return list(folder.glob(pattern))
    except OSError as exc:
        raise ModelFileError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None


def _from_index(index: Path, data: Any) -> Inventory:
    if not isinstance(data, dict) or not isinstance(data.get("weight_map"), dict):
        raise ModelFileError(f"{index}: not a safetensors index (no weight_map)")
    folder = index.parent
    bad = [v for v in data["weight_map"].values() if not safe_name(v)][:1]
    if bad or not data["weight_map"]:
        raise ModelFileError(f"{index}: the weight_map names a shard that is not a file name in this folder "
                             f"({show(bad[0]) if bad else 'none'})")
    shards = sorted(set(data["weight_map"].values()))
    missing = [s for s in shards if probe(folder / s) is None]
    if missing:
        raise ModelFileError(f"{index}: shard {missing[0]} is missing ({len(missing)} of {len(shards)} missing)")
    tensors = [t for s in shards for t in safetensors_header.read_file(folder / s)]
    config = _sibling_config(folder / "config.json")
    return inventory_from_tensors(tensors, local_model_name(folder, config), config, str(folder))


def _sibling_config(path: Path) -> dict[str, Any] | None:
    cfg = path if path.name == "config.json" else path.parent / "config.json"
    if probe(cfg) is None:
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
    return check_inventory(Inventory(id=model_id, source="safetensors", tensors=tuple(tensors), arch=arch,
                                     quantization=pid, notes=tuple(notes)), where)


def guess_architecture(tensors: list[TensorInfo], config: dict[str, Any]) -> Architecture:
    """Best-effort architecture facts from tensor names and shapes (and any generic config fields)."""
    layers = 1 + max((t.layer for t in tensors if t.layer is not None), default=0)
    embd = next((t for t in tensors if t.kind == "token_embd"), None)
    vocab, hidden = (embd.shape[0], embd.shape[-1]) if embd and len(embd.shape) == 2 else (0, 0)
    hidden = _given(config, "hidden_size") or hidden or 0
    if hidden <= 0:
        raise ModelFileError("cannot tell the hidden size: no token embedding tensor and no config.json")
    heads = _given(config, "num_attention_heads") or max(1, hidden // 64)
    head_dim = _given(config, "head_dim") or max(1, hidden // heads)
    k = next((t for t in tensors if t.kind == "attn_k" and len(t.shape) == 2), None)
    kv_heads = _given(config, "num_key_value_heads") or (k.shape[0] // head_dim if k else heads) or heads
    up = next((t for t in tensors if t.kind in ("ffn_up", "ffn_gate") and len(t.shape) == 2), None)
    model_type = config.get("model_type")
    return Architecture(
        model_type=model_type if isinstance(model_type, str) else "unknown",
        num_layers=_given(config, "num_hidden_layers") or layers,
        hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
        vocab_size=_given(config, "vocab_size") or vocab, intermediate_size=up.shape[0] if up else 4 * hidden,
        max_context=_given(config, "max_position_embeddings") or 0,
        tie_embeddings=not any(t.kind == "output" for t in tensors),
    )


def _given(config: dict[str, Any], key: str) -> int | None:
    """A size config.json gives (null or absent: None), checked against the bounds table."""
    value = config.get(key)
    if value is None:
        return None
    try:
        return config_int(key, value)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"config.json beside the weights: {exc}") from None
