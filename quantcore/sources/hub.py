"""Hugging Face Hub models: inventories from config.json plus header-only range reads, cached; search."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TypeVar

from quantcore.errors import (
    HubError,
    HubOfflineError,
    HubUnavailableError,
    ModelFileError,
)
from quantcore.model.inventory import Inventory
from quantcore.sources import hub_cache, hub_http, safetensors_header
from quantcore.sources.hub_api import (HubFile, HubModel, RepoSnapshot, check_repo_id, check_revision,  # noqa: F401
                                       repo_snapshot, search_models)
from quantcore.sources.hub_entry import assemble
from quantcore.sources.hub_http import check_cancel, endpoint, is_offline, offline_message, read_range  # noqa: F401
from quantcore.sources.hub_quant import checkpoint_precision, shard_parts
from quantcore.sources.local import MAX_CONFIG_BYTES, load_path, read_json
from quantcore.sources.safe_io import parse_json, safe_name

# Everything goes through huggingface_hub's conventions (its HTTP session, hf_hub_url, HF_ENDPOINT, HF_HUB_OFFLINE,
# HF_TOKEN / `hf auth login`, HF_HOME), and every byte through quantcore.sources.safe_http: one overall deadline
# per operation (a plan's fetch: safe_http.DEADLINE_S), at most a known number of bytes per answer, cancellable.
# What one plan costs on the network:
#
#     1 model_info request (file list with sizes, commit hash, gated flag)
#   + 1 GET for config.json (kept in our cache entry; none once cached)
#   + 1 range read per safetensors shard (its first FIRST_READ_BYTES; a second one only for a longer header)
#
# The parsed headers (and config.json) are kept under HF_HOME/quantplanner/hub per commit, so a model planned once
# plans again offline (HF_HUB_OFFLINE=1) and online costs a single model_info request; when the Hub then fails, the
# cached answer is used without retrying. Weight data is never downloaded, and .bin pickles are never fetched or
# unpickled. Long fetches take progress(message, fraction) and a threading.Event to cancel (checked between
# requests, and by safe_http's watchdog during one).
#
# Why not huggingface_hub's get_safetensors_metadata / hf_hub_download / HfApi: they read answers whole (a hostile
# or broken endpoint can send gigabytes), retry on their own clock (a silent Hub cost 49 s), and run on threads a
# cancel flag cannot reach. The loop here lists shards from model_info's file list (the index only when shard names
# are not transformers' own) and checks each header with quantcore.sources.safetensors_header (bounded length,
# offsets, sizes).

Progress = Callable[[str, float], None]
T = TypeVar("T")

# huggingface_hub's parse_safetensors_file_metadata reads the first 100 kB in one request because "97% of
# safetensors files have a metadata size < 100kb (over the top 1000 models on the Hub)"; so do we. After a longer
# header, the next shard's first read is sized from it.
FIRST_READ_BYTES = 100_000
GGUF_FIRST_READ_BYTES = 1 << 20  # GGUF headers carry the tokenizer: usually 1-10 MB
_PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_GGUF_PREFERENCE = ("q4_k_m", "q4_k_s", "q5_k_m", "q8_0", "q6_k", "q4_0")


# -- public API ---------------------------------------------------------------------------------------------------

def list_gguf_files(repo_id: str, revision: str | None = None) -> tuple[HubFile, ...]:
    """The .gguf files of a repo (split files listed once per part)."""
    with hub_http.budget():
        return tuple(f for f in repo_snapshot(repo_id, revision).files if f.name.lower().endswith(".gguf"))


def resolve_model(repo_id: str, revision: str | None = None, *, gguf_file: str | None = None,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  fallback: bool = False) -> Inventory:
    """The inventory of a Hub repo at a revision: exact tensors from safetensors headers (or one GGUF file's header)
    read by HTTP range, the architecture from config.json; from the local cache when offline.

    Every request shares one overall deadline (safe_http.DEADLINE_S). Failed requests are retried only when there is
    nothing to fall back on: no cached answer here, and no bundled config at the caller (fallback=False)."""
    check_repo_id(repo_id)
    check_revision(revision)
    if gguf_file is not None and not (safe_name(gguf_file) and gguf_file.lower().endswith(".gguf")):
        raise HubError(f"'{gguf_file[:200]}' is not a .gguf file name inside {repo_id}")
    report = progress or (lambda _m, _f: None)
    selection = gguf_file or ""
    cached = _cached(repo_id, revision, selection)
    if is_offline():
        if cached is None:
            raise HubOfflineError(offline_message(repo_id))
        return cached
    try:
        with hub_http.budget(retry=cached is None and not fallback, cancel=cancel):
            return _resolve_online(repo_id, revision, gguf_file, report, cancel)
    except HubUnavailableError as exc:  # unreachable, too slow, 429 / 5xx: what was fetched before still plans
        if cached is None:
            raise
        return replace(cached, notes=(f"the Hub could not be used now ({exc})", *cached.notes))


def _resolve_online(repo_id: str, revision: str | None, gguf_file: str | None, report: Progress,
                    cancel: threading.Event | None) -> Inventory:
    selection = gguf_file or ""
    check_cancel(cancel, repo_id)
    report(f"{repo_id}: asking the Hub for its files", 0.0)
    snap = repo_snapshot(repo_id, revision)
    hub_cache.save_ref(repo_id, snap.revision, snap.commit)
    entry = hub_cache.load_entry(repo_id, snap.commit, selection)
    if entry is not None:
        try:
            return _finish(snap, entry, selection, report, cancel, fresh=False)
        except ModelFileError:  # a cache entry that no longer passes the checks: read the repo again
            pass
    entry = _fetch_entry(snap, gguf_file, report, cancel)
    entry["has_config"] = entry["kind"] != "gguf" and snap.file("config.json") is not None
    return _finish(snap, entry, selection, report, cancel, fresh=True)


def _finish(snap: RepoSnapshot, entry: dict[str, Any], selection: str, report: Progress,
            cancel: threading.Event | None, fresh: bool) -> Inventory:
    """config.json for the entry (from the entry, the HF cache or one GET), the inventory checked, then cached."""
    config = None
    if entry.get("has_config"):
        check_cancel(cancel, snap.repo_id)
        report(f"{snap.repo_id}: config.json", 0.95)
        text = entry.get("config")
        config = _parse_config(text, snap.repo_id) if isinstance(text, str) else _config(snap)
        if not isinstance(text, str):
            entry["config"] = json.dumps(config)
            fresh = True
    inv = assemble(snap.repo_id, snap.revision, snap.commit, entry, config, cached=False)  # checked, then kept
    if fresh:
        hub_cache.save_entry(snap.repo_id, snap.commit, selection, entry)
    report(f"{snap.repo_id}: done", 1.0)
    return inv


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
    try:
        config = None
        if entry.get("has_config"):
            text = entry.get("config")
            config = _parse_config(text, repo_id) if isinstance(text, str) else _cached_config(repo_id, commit)
            if config is None:
                return None
        return assemble(repo_id, revision or "main", commit, entry, config, cached=True)
    except ModelFileError:  # a damaged or outdated cache entry: fetched again when the Hub can be reached
        return None


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
    """config.json: from the standard HF cache when another tool put this commit there, else one bounded GET."""
    cached = _cached_config(snap.repo_id, snap.commit)
    if cached is not None:
        return cached
    info = snap.file("config.json")
    if info is not None and info.size is not None and info.size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{snap.repo_id}: config.json of {info.size:,} bytes is too large for a config file")
    raw = hub_http.get_file(snap.repo_id, snap.revision, snap.commit, "config.json", MAX_CONFIG_BYTES)
    return _parse_config(raw, snap.repo_id)


def _parse_config(raw: bytes | str, repo_id: str) -> dict[str, Any]:
    data = parse_json(raw, f"{repo_id}/config.json", "config.json")
    if not isinstance(data, dict):
        raise ModelFileError(f"{repo_id}: config.json must be a JSON object")
    return data


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


MAX_INDEX_BYTES = 64 << 20  # model.safetensors.index.json: ~100 bytes per tensor


def _index_files(snap: RepoSnapshot) -> tuple[HubFile, ...]:
    raw = hub_http.get_file(snap.repo_id, snap.revision, snap.commit, "model.safetensors.index.json", MAX_INDEX_BYTES)
    data = parse_json(raw, f"{snap.repo_id}/model.safetensors.index.json", "index")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise ModelFileError(f"{snap.repo_id}: model.safetensors.index.json has no weight_map")
    bad = [v for v in weight_map.values() if not safe_name(v)][:1]
    if bad or not weight_map:
        what = f"a shard that is not a file name in the repo ({str(bad[0])[:120]!r})" if bad else "no shard at all"
        raise ModelFileError(f"{snap.repo_id}: model.safetensors.index.json names {what}")
    names = sorted(set(weight_map.values()))
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
    prefix = read_range(snap.repo_id, snap.revision, snap.commit, shard.name, 0,
                        first if size is None else min(first, size))
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
        if split[2] > len(snap.files):
            raise ModelFileError(f"{snap.repo_id}: split GGUF {name} names {split[2]:,} parts; the repo has "
                                 f"{len(snap.files):,} files")
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
        m, ts, _read = read_gguf_prefix(
            lambda a, b, p=part: read_range(snap.repo_id, snap.revision, snap.commit, p.name, a, b), part.size,
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
