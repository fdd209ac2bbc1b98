"""Turn what the user typed (path, Hub repo id, bundled id, parameter count) into an Inventory, best source first."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from quantcore import safetensors_header
from quantcore.arch import inventory_from_config
from quantcore.bundled import BundledModel, bundled_models, find_bundled
from quantcore.count_model import from_parameter_count, parse_count
from quantcore.errors import (BadInputError, HubGatedRepoError, HubRepoNotFoundError, HubUnavailableError,
                              ModelFileError, QuantPlannerError)
from quantcore.gguf_header import read_gguf
from quantcore.hub_quant import checkpoint_precision, logical_tensors
from quantcore.inventory import Architecture, Inventory, TensorInfo

MAX_CONFIG_BYTES = 10_000_000
Progress = Callable[[str, float], None]
# Hugging Face repo names: letters, digits, '-', '_', '.'; at most 96 characters each side.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def load_model(spec: str, revision: str | None = None, *, progress: Progress | None = None,
               cancel: threading.Event | None = None, use_hub: bool = True) -> Inventory:
    """Inventory for a local folder / config.json / .safetensors / .gguf, a Hub repo id ('org/name', or
    'org/name/file.gguf' for one GGUF file of a repo), a bundled model id, or a count ('7B').

    A repo id is resolved on the Hugging Face Hub (or from its local cache) first: exact sizes from safetensors
    headers read by HTTP range. When the Hub cannot be used (offline with nothing cached, unreachable, gated) a
    bundled config.json with the same id is the fallback, and Inventory.notes says why. use_hub=False skips the
    Hub for bundled ids (fast, offline). progress(message, fraction) and cancel are passed to the Hub fetch.
    """
    spec = (spec or "").strip()
    if not spec:
        raise BadInputError("no model given: pass a path, a bundled model id (see `quantplanner models`) or a count like 7B")
    path = Path(spec).expanduser()
    if path.exists():
        _no_revision(revision, spec)
        return load_path(path)
    count = parse_count(spec)
    if count is not None:
        _no_revision(revision, spec)
        return from_parameter_count(count)
    bundled = find_bundled(spec)
    repo = None if spec.startswith((".", "/", "~")) else parse_repo_spec(spec)
    if repo is not None and (use_hub or bundled is None):
        from quantcore import hub

        try:
            return hub.resolve_model(repo[0], revision, gguf_file=repo[1], progress=progress, cancel=cancel)
        except (HubUnavailableError, HubGatedRepoError, HubRepoNotFoundError) as exc:
            if bundled is None or repo[1] is not None:
                raise
            reason = f"Hugging Face Hub not used ({exc})"
            return _bundled_inventory(bundled, reason + (f"; revision '{revision}' not checked" if revision else ""))
    if bundled is not None:
        return _bundled_inventory(bundled, None)
    if spec.endswith((".json", ".safetensors", ".gguf")) or "/" in spec and path.parent.exists() and spec.startswith((".", "/", "~")):
        raise ModelFileError(f"{spec}: no such file or folder")
    raise BadInputError(
        f"'{spec}' is not a local file or folder, a Hub repo id like org/name, a bundled model "
        f"({len(bundled_models())} bundled; list them with `quantplanner models`) or a parameter count like 7B"
    )


def parse_repo_spec(spec: str) -> tuple[str, str | None] | None:
    """('org/name', None) for a Hub repo id, ('org/name', 'dir/file.gguf') for one GGUF file in a repo; else None."""
    parts = spec.strip().split("/")
    if len(parts) < 2 or not all(parts):
        return None
    repo_id = "/".join(parts[:2])
    if not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        return None
    if len(parts) == 2:
        return None if repo_id.lower().endswith((".json", ".safetensors", ".gguf")) else (repo_id, None)
    rest = "/".join(parts[2:])
    return (repo_id, rest) if rest.lower().endswith(".gguf") else None


def _no_revision(revision: str | None, spec: str) -> None:
    if revision:
        raise BadInputError(f"--revision applies to Hub repo ids only, not to '{spec}'")


def _bundled_inventory(bundled: BundledModel, reason: str | None) -> Inventory:
    config = bundled.config()
    inv = inventory_from_config(config, bundled.id)
    pid, _desc = checkpoint_precision(config)
    notes = ((reason,) if reason else ()) + (f"bundled config.json taken {bundled.taken}",)
    return replace(inv, quantization=pid, notes=inv.notes + notes)


def load_path(path: Path) -> Inventory:
    """Inventory from a local path, dispatching on what it is."""
    if path.is_dir():
        return _load_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        return read_gguf(path)
    if suffix == ".safetensors":
        config = _sibling_config(path)
        return inventory_from_tensors(safetensors_header.read_file(path), path.stem, config, str(path))
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and "weight_map" in data:
            return _from_index(path, data)
        return inventory_from_config(data, str(path))
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
        return inventory_from_tensors(tensors, folder.name, config, str(folder))
    ggufs = sorted(folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if len(ggufs) > 1:
        raise ModelFileError(f"{folder}: holds {len(ggufs)} .gguf files; open one of them")
    if config is not None:
        inv = inventory_from_config(config, folder.name)
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
    return inventory_from_tensors(tensors, folder.name, _sibling_config(folder / "config.json"), str(folder))


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
