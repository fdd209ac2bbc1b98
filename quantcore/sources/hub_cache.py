"""Parsed Hub headers kept on disk (HF_HOME/quantplanner/hub) so that a model planned once plans again offline."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCHEMA = "quantplanner.hub-cache/1"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def cache_root() -> Path:
    """HF_HOME/quantplanner/hub, read from huggingface_hub's constants at call time (so HF_HOME is honoured)."""
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantplanner" / "hub"


def _repo_dir(repo_id: str) -> Path:
    return cache_root() / ("models--" + repo_id.replace("/", "--"))


def _entry_path(repo_id: str, commit: str, selection: str) -> Path:
    key = "default" if not selection else hashlib.sha1(selection.encode()).hexdigest()[:16]
    return _repo_dir(repo_id) / f"{commit}.{key}.json"


def is_commit(revision: str | None) -> bool:
    return bool(revision) and _COMMIT.match(str(revision)) is not None


def save_ref(repo_id: str, revision: str, commit: str) -> None:
    """Remember which commit a branch or tag named when we last fetched it."""
    if revision != commit:
        _write(_repo_dir(repo_id) / "refs" / quote(revision, safe=""), commit)


def load_ref(repo_id: str, revision: str) -> str | None:
    if is_commit(revision):
        return revision
    try:
        commit = (_repo_dir(repo_id) / "refs" / quote(revision, safe="")).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if is_commit(commit) else None


def save_entry(repo_id: str, commit: str, selection: str, entry: dict[str, Any]) -> None:
    """Store what was read of one commit (safetensors headers, or a GGUF file's parsed header)."""
    data = {"schema": SCHEMA, "repo": repo_id, "commit": commit, "selection": selection, **entry}
    _write(_entry_path(repo_id, commit, selection), json.dumps(data, separators=(",", ":")))


def load_entry(repo_id: str, commit: str, selection: str) -> dict[str, Any] | None:
    """The stored entry, or None when absent or unreadable (a damaged cache file is simply fetched again)."""
    try:
        data = json.loads(_entry_path(repo_id, commit, selection).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("commit") != commit:
        return None
    return data


def _write(path: Path, text: str) -> None:
    """Write atomically (temporary name, then rename); a cache that cannot be written is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
