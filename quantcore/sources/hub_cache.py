"""Parsed Hub headers kept on disk (HF_HOME/quantplanner/hub) so that a model planned once plans again offline.

Every path here is built from a checked repo id and a 40-hex commit, and must resolve inside the cache root (no
'..', no symlink out): a hostile Hub answer cannot make us write anywhere else. Entries are read with safe_io's
bounds; a damaged one reads as absent and is fetched again."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from quantcore.errors import ModelFileError
from quantcore.sources.hub_api import is_commit, is_repo_id
from quantcore.sources.safe_io import read_bytes, read_json, safe_name, under

SCHEMA = "quantplanner.hub-cache/1"
MAX_ENTRY_BYTES = 256 << 20
MAX_REF_BYTES = 4096


def cache_root() -> Path:
    """HF_HOME/quantplanner/hub, read from huggingface_hub's constants at call time (so HF_HOME is honoured)."""
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantplanner" / "hub"


def _inside(path: Path) -> Path:
    """`path` when it resolves inside the cache root; ValueError otherwise (nothing is read or written there)."""
    if not under(cache_root(), path):
        raise ValueError(f"{path} is outside {cache_root()}")
    return path


def _repo_dir(repo_id: str) -> Path:
    if not is_repo_id(repo_id):
        raise ValueError(f"not a repo id: {repo_id!r}")
    return _inside(cache_root() / ("models--" + repo_id.replace("/", "--")))


def _entry_path(repo_id: str, commit: str, selection: str) -> Path:
    if not is_commit(commit):
        raise ValueError(f"not a commit hash: {commit!r}")
    key = "default" if not selection else hashlib.sha1(selection.encode("utf-8", "replace")).hexdigest()[:16]
    return _inside(_repo_dir(repo_id) / f"{commit}.{key}.json")


def _ref_path(repo_id: str, revision: str) -> Path:
    name = quote(revision, safe="")
    if not name or name in (".", "..") or len(name) > 255:
        raise ValueError(f"not a revision name: {revision!r}")
    return _inside(_repo_dir(repo_id) / "refs" / name)


def shard_path(repo_id: str, commit: str, filename: str) -> Path:
    """Where a downloaded weights file of a repo at a commit is kept (inside the cache root; ValueError for a repo
    id, commit or file name that is not one)."""
    if not is_commit(commit) or not safe_name(filename):
        raise ValueError(f"not a commit and file name: {commit!r}, {filename!r}")
    return _inside(_repo_dir(repo_id) / "files" / commit / filename)


def save_ref(repo_id: str, revision: str, commit: str) -> None:
    """Remember which commit a branch or tag named when we last fetched it."""
    if revision != commit and is_commit(commit):
        try:
            _write(_ref_path(repo_id, revision), commit)
        except ValueError:
            pass


def load_ref(repo_id: str, revision: str) -> str | None:
    if is_commit(revision):
        return revision
    try:
        commit = read_bytes(_ref_path(repo_id, revision), MAX_REF_BYTES, "cache file").decode("ascii").strip()
    except (ValueError, ModelFileError):  # absent, damaged, not ASCII, or not inside the cache
        return None
    return commit if is_commit(commit) else None


def save_entry(repo_id: str, commit: str, selection: str, entry: dict[str, Any]) -> None:
    """Store what was read of one commit (safetensors headers, or a GGUF file's parsed header)."""
    data = {"schema": SCHEMA, "repo": repo_id, "commit": commit, "selection": selection, **entry}
    try:
        _write(_entry_path(repo_id, commit, selection), json.dumps(data, separators=(",", ":")))
    except (ValueError, TypeError, RecursionError):  # not a cacheable entry, or not a path inside the cache
        pass


def load_entry(repo_id: str, commit: str, selection: str) -> dict[str, Any] | None:
    """The stored entry, or None when absent or unreadable (a damaged cache file is simply fetched again)."""
    from quantcore.sources.hub_entry import well_formed

    try:
        data = read_json(_entry_path(repo_id, commit, selection), MAX_ENTRY_BYTES, "cache file")
    except (ValueError, ModelFileError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("commit") != commit:
        return None
    return data if well_formed(data) else None


def _write(path: Path, text: str) -> None:
    """Write atomically (temporary name, then rename); a cache that cannot be written is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _inside(path)  # again, now that the folders exist: none of them may be a symlink out
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (OSError, ValueError):
        pass
