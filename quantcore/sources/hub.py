"""Hugging Face Hub models: search, and inventories from config.json plus header-only range reads, cached."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from quantcore.errors import (
    HubError,
    HubOfflineError,
    HubServerError,
    HubUnavailableError,
    ModelFileError,
)
from quantcore.model.inventory import Inventory, TensorInfo
from quantcore.sources import hub_cache, hub_http, safetensors_header
from quantcore.sources.hub_http import (
    check_cancel,
    endpoint,
    is_offline,
    offline_message,
    read_range,
    translate,
    with_retries,
)
from quantcore.sources.hub_quant import checkpoint_precision, shard_parts
from quantcore.sources.local import inventory_from_tensors, load_path, read_json

# Everything goes through huggingface_hub (HfApi.model_info / list_models, hf_hub_download, hf_hub_url, its shared
# HTTP session with http_stream_backoff), so HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN / `hf auth login` and HF_HOME
# behave as they do for every Hugging Face tool. What one plan costs on the network:
#
#     1 model_info request (file list with sizes, commit hash, gated flag)
#   + 2 for config.json (HEAD + GET, by hf_hub_download into the standard HF cache; none once cached)
#   + 1 range read per safetensors shard (its first FIRST_READ_BYTES; a second one only for a longer header)
#
# The parsed headers are kept under HF_HOME/quantplanner/hub per commit, so a model planned once plans again offline
# (HF_HUB_OFFLINE=1) and online costs a single model_info request. Weight data is never downloaded, and .bin pickles
# are never fetched or unpickled. Long fetches take progress(message, fraction) and a threading.Event to cancel
# (checked between requests); no threads are started here.
#
# Why not huggingface_hub's get_safetensors_metadata: it reads the same bounded prefix per shard, but first makes two
# file_exists HEADs and downloads the index (HEAD + GET), then reads the shards on its own thread pool, where a
# progress callback and a cancel flag cannot reach. The loop here uses the same session, URL builder, error parser
# (hf_raise_for_status) and backoff, lists shards from model_info's file list (the index only when shard names are
# not transformers' own), and checks each header with quantcore.sources.safetensors_header (bounded length, offsets, sizes).

Progress = Callable[[str, float], None]
T = TypeVar("T")

# huggingface_hub's parse_safetensors_file_metadata reads the first 100 kB in one request because "97% of
# safetensors files have a metadata size < 100kb (over the top 1000 models on the Hub)"; so do we. After a longer
# header, the next shard's first read is sized from it.
FIRST_READ_BYTES = 100_000
GGUF_FIRST_READ_BYTES = 1 << 20  # GGUF headers carry the tokenizer: usually 1-10 MB
_PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_GGUF_PREFERENCE = ("q4_k_m", "q4_k_s", "q5_k_m", "q8_0", "q6_k", "q4_0")


@dataclass(frozen=True)
class HubModel:
    """One search result."""

    id: str
    downloads: int
    likes: int
    library: str | None
    pipeline_tag: str | None
    gated: bool
    parameters: int | None  # the Hub's safetensors total, when it states one
    last_modified: datetime | None


@dataclass(frozen=True)
class HubFile:
    """A file of a repo at one commit."""

    name: str
    size: int | None


@dataclass(frozen=True)
class RepoSnapshot:
    """What one model_info call tells about a repo at a revision."""

    repo_id: str
    revision: str
    commit: str
    files: tuple[HubFile, ...]
    gated: bool

    def file(self, name: str) -> HubFile | None:
        return next((f for f in self.files if f.name == name), None)


# -- public API ---------------------------------------------------------------------------------------------------

def search_models(query: str, limit: int = 20) -> tuple[HubModel, ...]:
    """Models whose id matches `query`, most downloaded first (HfApi.list_models)."""
    from huggingface_hub import HfApi

    if is_offline():
        raise HubOfflineError("searching needs the Hugging Face Hub but HF_HUB_OFFLINE is set: unset it, or use a "
                              "local path or a bundled model (`quantplanner models`)")
    limit = max(1, min(int(limit), 1000))
    expand = ["downloads", "likes", "library_name", "pipeline_tag", "gated", "safetensors", "lastModified"]
    try:
        found = list(HfApi().list_models(search=query.strip() or None, sort="downloads", limit=limit,
                                         expand=expand))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - translated into one line, or re-raised
        raise translate(exc, f"search '{query}'", None, "the model list") from None
    return tuple(_hub_model(m) for m in found)


def repo_snapshot(repo_id: str, revision: str | None = None) -> RepoSnapshot:
    """The repo's commit and files (names and sizes) at `revision` (default: main): one request."""
    from huggingface_hub import HfApi

    info = with_retries(lambda: HfApi().model_info(repo_id, revision=revision, files_metadata=True,
                                                    timeout=hub_http.TIMEOUT_S), repo_id, revision, "model info")
    files = tuple(HubFile(s.rfilename, s.lfs.size if s.lfs is not None else s.size) for s in info.siblings or ())
    if not info.sha:
        raise HubServerError(f"{endpoint()} gave no commit hash for {repo_id}: is HF_ENDPOINT a Hugging Face Hub?")
    return RepoSnapshot(repo_id, revision or "main", str(info.sha), files, bool(info.gated))


def list_gguf_files(repo_id: str, revision: str | None = None) -> tuple[HubFile, ...]:
    """The .gguf files of a repo (split files listed once per part)."""
    return tuple(f for f in repo_snapshot(repo_id, revision).files if f.name.lower().endswith(".gguf"))


def resolve_model(repo_id: str, revision: str | None = None, *, gguf_file: str | None = None,
                  progress: Progress | None = None, cancel: threading.Event | None = None) -> Inventory:
    """The inventory of a Hub repo at a revision: exact tensors from safetensors headers (or one GGUF file's header)
    read by HTTP range, the architecture from config.json; from the local cache when offline."""
    report = progress or (lambda _m, _f: None)
    selection = gguf_file or ""
    if is_offline():
        inv = _cached(repo_id, revision, selection)
        if inv is None:
            raise HubOfflineError(offline_message(repo_id))
        return inv
    try:
        return _resolve_online(repo_id, revision, gguf_file, report, cancel)
    except HubUnavailableError as exc:  # unreachable, too slow, 429 / 5xx: what was fetched before still plans
        inv = _cached(repo_id, revision, selection)
        if inv is None:
            raise
        return replace(inv, notes=(f"the Hub could not be used now ({exc})", *inv.notes))


def _resolve_online(repo_id: str, revision: str | None, gguf_file: str | None, report: Progress,
                    cancel: threading.Event | None) -> Inventory:
    selection = gguf_file or ""
    check_cancel(cancel, repo_id)
    report(f"{repo_id}: asking the Hub for its files", 0.0)
    snap = repo_snapshot(repo_id, revision)
    hub_cache.save_ref(repo_id, snap.revision, snap.commit)
    entry = hub_cache.load_entry(repo_id, snap.commit, selection)
    if entry is None:
        entry = _fetch_entry(snap, gguf_file, report, cancel)
        entry["has_config"] = entry["kind"] != "gguf" and snap.file("config.json") is not None
        hub_cache.save_entry(repo_id, snap.commit, selection, entry)
    config = None
    if entry.get("has_config"):
        check_cancel(cancel, repo_id)
        report(f"{repo_id}: config.json", 0.95)
        config = _config(snap)
    report(f"{repo_id}: done", 1.0)
    return _assemble(repo_id, snap.revision, snap.commit, entry, config, cached=False)


# -- from the local cache -----------------------------------------------------------------------------------------

def _cached(repo_id: str, revision: str | None, selection: str) -> Inventory | None:
    inv = _from_cache(repo_id, revision, selection)
    if inv is None and not selection:
        inv = _from_hf_snapshot(repo_id, revision)
    return inv


def _from_cache(repo_id: str, revision: str | None, selection: str) -> Inventory | None:
    commit = hub_cache.load_ref(repo_id, revision or "main")
    if commit is None:
        return None
    entry = hub_cache.load_entry(repo_id, commit, selection)
    if entry is None:
        return None
    config = None
    if entry.get("has_config"):
        config = _cached_config(repo_id, commit)
        if config is None:
            return None
    return _assemble(repo_id, revision or "main", commit, entry, config, cached=True)


def _from_hf_snapshot(repo_id: str, revision: str | None) -> Inventory | None:
    """A repo another tool (transformers, `hf download`) put in the HF cache: its snapshot folder read like a local
    one (exact headers of the safetensors files it holds, else config.json alone)."""
    from huggingface_hub import try_to_load_from_cache

    from quantcore.model.arch import inventory_from_config

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision or "main")
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    try:
        inv = load_path(folder)
    except ModelFileError:  # an index whose shards were not all downloaded: count from config.json
        config = _read_config(Path(found), repo_id) or {}
        pid, _desc = checkpoint_precision(config)
        inv = replace(inventory_from_config(config, repo_id), quantization=pid)
    origin = (f"Hugging Face Hub {repo_id} at {revision or 'main'} (commit {folder.name[:12]}): from the local "
              "Hugging Face cache" + (" (HF_HUB_OFFLINE is set)" if is_offline() else ""))
    return replace(inv, id=repo_id, notes=(origin, *inv.notes))


def _cached_config(repo_id: str, commit: str) -> dict[str, Any] | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=commit)
    return _read_config(Path(found), repo_id) if isinstance(found, str) else None


def _config(snap: RepoSnapshot) -> dict[str, Any]:
    """config.json through hf_hub_download (standard HF cache; no request at all when this commit is cached)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(snap.repo_id, "config.json", revision=snap.commit)
    if isinstance(cached, str):
        return _read_config(Path(cached), snap.repo_id) or {}
    try:
        path = hf_hub_download(snap.repo_id, "config.json", revision=snap.revision, etag_timeout=hub_http.TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - translated into one line, or re-raised
        raise translate(exc, snap.repo_id, snap.revision, "config.json") from None
    config = _read_config(Path(path), snap.repo_id)
    if config is None:
        raise ModelFileError(f"{snap.repo_id}: config.json is not a JSON object")
    return config


def _read_config(path: Path, repo_id: str) -> dict[str, Any] | None:

    data = read_json(path)
    if not isinstance(data, dict):
        raise ModelFileError(f"{repo_id}: config.json must be a JSON object")
    return data


def _fetch_entry(snap: RepoSnapshot, gguf_file: str | None, report: Progress,
                 cancel: threading.Event | None) -> dict[str, Any]:
    """Read what the repo's weights say about themselves: safetensors headers, a GGUF header, or nothing."""
    if gguf_file is not None:
        return _fetch_gguf(snap, gguf_file, report, cancel)
    shards = weight_files(snap)
    if shards:
        return _fetch_safetensors(snap, shards, report, cancel)
    ggufs = [f for f in snap.files if f.name.lower().endswith(".gguf")]
    if ggufs:
        return _fetch_gguf(snap, default_gguf(ggufs).name, report, cancel)
    pickles = [f.name for f in snap.files if f.name.lower().endswith(_PICKLES)]
    if pickles:
        note = (f"weights are only pickled files ({pickles[0]}{' and others' if len(pickles) > 1 else ''}): counted "
                "from config.json; nothing was downloaded or unpickled")
    else:
        note = "no safetensors or GGUF weights in the repo: counted from config.json"
    if snap.file("config.json") is None:
        raise HubError(f"{snap.repo_id} has no config.json, safetensors or GGUF file at revision {snap.revision}: "
                       "nothing to plan from; point at a repo with model weights")
    return {"kind": "config", "notes": [note]}


def weight_files(snap: RepoSnapshot) -> tuple[HubFile, ...]:
    """The safetensors files holding the model: transformers' model.safetensors or model-0000i-of-0000n shards
    (complete sets), else the files the index names, else every top-level .safetensors file."""
    top = [f for f in snap.files if "/" not in f.name and f.name.endswith(".safetensors")]
    sets: dict[tuple[str, int], list[HubFile]] = {}
    for f in top:
        parts = shard_parts(f.name)
        if parts is not None:
            sets.setdefault((parts[0], parts[2]), []).append(f)
    complete = [fs for (stem, n), fs in sets.items() if stem == "model" and len(fs) == n]
    if len(complete) == 1:
        return tuple(sorted(complete[0], key=lambda f: f.name))
    single = snap.file("model.safetensors")
    if single is not None and not complete:
        return (single,)
    if snap.file("model.safetensors.index.json") is not None:
        return _index_files(snap)
    return tuple(sorted(top, key=lambda f: f.name))


def _index_files(snap: RepoSnapshot) -> tuple[HubFile, ...]:
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(snap.repo_id, "model.safetensors.index.json", revision=snap.commit,
                               etag_timeout=hub_http.TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, snap.repo_id, snap.revision, "model.safetensors.index.json") from None

    data = read_json(Path(path))
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise ModelFileError(f"{snap.repo_id}: model.safetensors.index.json has no weight_map")
    names = sorted(set(map(str, weight_map.values())))
    missing = [n for n in names if snap.file(n) is None]
    if missing:
        raise ModelFileError(f"{snap.repo_id}: the index names {missing[0]}, which is not in the repo")
    return tuple(snap.file(n) for n in names)  # type: ignore[misc]


def _fetch_safetensors(snap: RepoSnapshot, shards: tuple[HubFile, ...], report: Progress,
                       cancel: threading.Event | None) -> dict[str, Any]:
    files = []
    first = FIRST_READ_BYTES
    for i, shard in enumerate(shards):
        check_cancel(cancel, snap.repo_id)
        report(f"{snap.repo_id}: header {i + 1}/{len(shards)} ({shard.name})", 0.1 + 0.85 * i / len(shards))
        raw = _safetensors_header(snap, shard, first)
        first = max(first, len(raw) + len(raw) // 4 + 8)
        files.append({"name": shard.name, "size": shard.size, "header": raw.decode("utf-8", errors="replace")})
    return {"kind": "safetensors", "files": files}


def _safetensors_header(snap: RepoSnapshot, shard: HubFile, first: int) -> bytes:
    """The JSON header bytes of one remote safetensors file, checked with the local reader's own bounds."""
    where = f"{snap.repo_id}/{shard.name}"
    size = shard.size
    prefix = read_range(snap.repo_id, snap.revision, snap.commit, shard.name, 0, first if size is None else min(first, size))
    n = safetensors_header.header_length(prefix, where, size)  # refuses absurd lengths before reading them
    raw = prefix[8:8 + n]
    if len(raw) < n and len(prefix) >= min(first, size or first):
        raw += read_range(snap.repo_id, snap.revision, snap.commit, shard.name, len(prefix), 8 + n)
    if len(raw) != n:
        raise ModelFileError(f"{where}: truncated safetensors header ({len(raw):,} of {n:,} bytes)")
    safetensors_header.parse_header(raw, where, None if size is None else size - 8 - n)  # fail now, not later
    return raw


def _fetch_gguf(snap: RepoSnapshot, name: str, report: Progress, cancel: threading.Event | None) -> dict[str, Any]:
    from quantcore.sources.hub_gguf import read_gguf_prefix

    target = snap.file(name)
    if target is None:
        ggufs = [f.name for f in snap.files if f.name.lower().endswith(".gguf")]
        raise HubError(f"{snap.repo_id} has no file {name} at revision {snap.revision}"
                       + (f"; its GGUF files: {', '.join(ggufs[:6])}" if ggufs else "; it has no GGUF files"))
    parts = [target]
    split = shard_parts(name.split("/")[-1])
    if split is not None:  # llama.cpp split files: every part has its own header with its own tensors
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        parts = [snap.file(f"{folder}{split[0]}-{i:05d}-of-{split[2]:05d}.gguf") for i in range(1, split[2] + 1)]
        if any(p is None for p in parts):
            raise ModelFileError(f"{snap.repo_id}: split GGUF {name} is missing some of its {split[2]} parts")
    meta: dict[str, Any] = {}
    tensors: list[list[Any]] = []
    for i, part in enumerate(parts):
        assert part is not None
        check_cancel(cancel, snap.repo_id)
        report(f"{snap.repo_id}: GGUF header {i + 1}/{len(parts)} ({part.name})", 0.1 + 0.85 * i / len(parts))
        m, ts, _read = read_gguf_prefix(lambda a, b, p=part: read_range(snap.repo_id, snap.revision, snap.commit, p.name, a, b), part.size,
                                        f"{snap.repo_id}/{part.name}", GGUF_FIRST_READ_BYTES)
        meta = meta or m
        tensors.extend([t.name, list(t.shape), t.dtype, t.stored_bytes] for t in ts)
    read = {p.name for p in parts if p is not None}
    others = sorted(f.name for f in snap.files if f.name.lower().endswith(".gguf") and f.name not in read)
    return {"kind": "gguf", "file": name, "others": others,
            "meta": json.loads(json.dumps(meta, default=str)), "tensors": tensors}


def default_gguf(files: list[HubFile]) -> HubFile:
    """The GGUF file planned when none is named: a Q4_K_M (the usual default) if there is one, else the first."""
    ordered = sorted(files, key=lambda f: f.name)
    for tag in _GGUF_PREFERENCE:
        for f in ordered:
            low = f.name.lower()
            if tag in low.replace("-", "_") and (shard_parts(low.split("/")[-1]) or (None, 1))[1] == 1:
                return f
    return ordered[0]


# -- assembling the inventory -------------------------------------------------------------------------------------

def _assemble(repo_id: str, revision: str, commit: str, entry: dict[str, Any], config: dict[str, Any] | None,
              cached: bool) -> Inventory:
    from quantcore.model.arch import inventory_from_config
    from quantcore.model.naming import classify, layer_of
    from quantcore.sources.gguf_header import gguf_inventory

    kind = entry.get("kind")
    where = f"{repo_id}@{revision}"
    if kind == "safetensors":
        tensors: list[TensorInfo] = []
        for f in entry["files"]:
            raw = str(f["header"]).encode("utf-8")
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
        others = list(entry.get("others") or ())
        how = f"GGUF file {entry['file']} header read by HTTP range" + (
            f"; other GGUF files ({len(others)}), plan one as {repo_id}/FILE.gguf: " + ", ".join(others[:8])
            + (", ..." if len(others) > 8 else "") if others else "")
    elif kind == "config" and config is not None:
        inv = inventory_from_config(config, repo_id)
        pid, desc = checkpoint_precision(config)
        inv = replace(inv, quantization=pid, notes=inv.notes + tuple(entry.get("notes") or ()) + (
            (f"checkpoint already quantized ({desc})",) if desc else ()))
        how = "config.json only"
    else:
        raise ModelFileError(f"{repo_id}: cached Hub entry for commit {commit[:12]} is unusable; delete "
                             f"{hub_cache.cache_root()} and fetch again")
    origin = (f"Hugging Face Hub {repo_id} at {revision} (commit {commit[:12]}): {how}"
              + ("; from the local cache" + (" (HF_HUB_OFFLINE is set)" if is_offline() else "") if cached else ""))
    return replace(inv, notes=(origin, *inv.notes))


def _hub_model(m: Any) -> HubModel:
    params = m.safetensors.total if getattr(m, "safetensors", None) is not None else None
    return HubModel(id=str(m.id), downloads=int(m.downloads or 0), likes=int(m.likes or 0), library=m.library_name,
                    pipeline_tag=m.pipeline_tag, gated=bool(m.gated), parameters=int(params) if params else None,
                    last_modified=m.last_modified)


