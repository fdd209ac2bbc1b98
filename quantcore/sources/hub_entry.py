"""What was read of one Hub commit (an "entry": safetensors headers, a GGUF header, or config.json alone) checked
for shape and turned into an Inventory; entries come from the network or from the cache, and both can be damaged."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from quantcore.errors import ModelFileError
from quantcore.model.bounds import BYTES, within
from quantcore.model.inventory import Inventory, TensorInfo
from quantcore.sources import safetensors_header
from quantcore.sources.hub_http import is_offline
from quantcore.sources.hub_quant import checkpoint_precision
from quantcore.sources.local import inventory_from_tensors


def well_formed(entry: Any) -> bool:
    """Whether an entry has the fields and types _assemble reads (a damaged cache file is fetched again)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("notes", []), list):
        return False
    if "config" in entry and not isinstance(entry["config"], str):
        return False
    kind = entry.get("kind")
    if kind == "safetensors":
        files = entry.get("files")
        return isinstance(files, list) and bool(files) and all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("header"), str)
            and (f.get("size") is None or within(f.get("size"), BYTES)) for f in files)
    if kind == "gguf":
        tensors = entry.get("tensors")
        return (isinstance(entry.get("meta"), dict) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("others", []), list) and isinstance(tensors, list)
                and all(_gguf_row(t) for t in tensors))
    return kind == "config"


def _gguf_row(t: Any) -> bool:
    return (isinstance(t, list) and len(t) == 4 and isinstance(t[0], str) and isinstance(t[2], str)
            and isinstance(t[1], list) and all(within(d, BYTES) for d in t[1]) and within(t[3], BYTES))


def assemble(repo_id: str, revision: str, commit: str, entry: dict[str, Any], config: dict[str, Any] | None,
             cached: bool) -> Inventory:
    """The inventory an entry describes (every header re-checked), with a note saying where it came from."""
    from quantcore.model.arch import inventory_from_config
    from quantcore.model.naming import classify, layer_of
    from quantcore.sources.gguf_header import gguf_inventory

    kind = entry.get("kind")
    where = f"{repo_id}@{revision}"
    if not well_formed(entry):
        kind = None
    if kind == "safetensors":
        tensors: list[TensorInfo] = []
        for f in entry["files"]:
            raw = f["header"].encode("utf-8", "replace")
            size = f.get("size")
            tensors.extend(safetensors_header.parse_header(raw, f"{repo_id}/{f['name']}",
                                                           None if size is None else size - 8 - len(raw)))
        inv = inventory_from_tensors(tensors, repo_id, config, where)
        how = f"{len(entry['files'])} safetensors header{'s' if len(entry['files']) != 1 else ''} read by HTTP range"
    elif kind == "gguf":
        ts = []
        for name, shape, dtype, nbytes in entry["tensors"]:
            role, tkind = classify(name)
            ts.append(TensorInfo(name=name, shape=tuple(shape), dtype=dtype, role=role, kind=tkind,
                                 layer=layer_of(name), nbytes=nbytes))
        inv = replace(gguf_inventory(entry["meta"], tuple(ts), where, repo_id), id=repo_id)
        others = [o for o in entry.get("others") or () if isinstance(o, str)]
        how = f"GGUF file {entry['file']} header read by HTTP range" + (
            f"; other GGUF files ({len(others)}), plan one as {repo_id}/FILE.gguf: " + ", ".join(others[:8])
            + (", ..." if len(others) > 8 else "") if others else "")
    elif kind == "config" and config is not None:
        inv = inventory_from_config(config, repo_id)
        pid, desc = checkpoint_precision(config)
        notes = tuple(str(n) for n in entry.get("notes") or ())
        inv = replace(inv, quantization=pid, notes=inv.notes + notes + (
            (f"checkpoint already quantized ({desc})",) if desc else ()))
        how = "config.json only"
    else:
        raise ModelFileError(f"{repo_id}: Hub entry for commit {commit[:12]} is unusable; delete "
                             "HF_HOME/quantplanner/hub and fetch again")
    origin = (f"Hugging Face Hub {repo_id} at {revision} (commit {commit[:12]}): {how}"
              + ("; from the local cache" + (" (HF_HUB_OFFLINE is set)" if is_offline() else "") if cached else ""))
    return replace(inv, notes=(origin, *inv.notes))
