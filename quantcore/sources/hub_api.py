"""The Hub's JSON API as plain checked values: a repo's commit and file list (model info), and model search.

The answers are read with safe_http's bounds (size, deadline) and checked field by field here: a commit must be 40
hex digits (it names cache files), file names must stay inside the repo, sizes must be byte counts; anything else
is an unusable answer (HubServerError, one line), never a traceback or a path outside the cache.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from quantcore.errors import BadInputError, HubOfflineError, HubServerError
from quantcore.model.bounds import BYTES, PARAMETERS, show, within
from quantcore.sources import hub_http
from quantcore.sources.safe_io import safe_name

# Hugging Face repo names: letters, digits, '-', '_', '.'; at most 96 characters each side.
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$", re.ASCII)
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REVISION = re.compile(r"^[\w][\w.+=@/-]{0,254}$", re.ASCII)  # branches, tags (refs/pr/1), commit hashes
MAX_FILES = 1_000_000
MAX_QUERY_CHARS = 500


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


def is_repo_id(text: str) -> bool:
    return bool(REPO_ID.match(text)) and ".." not in text and "--" not in text


def check_repo_id(repo_id: str) -> str:
    if not isinstance(repo_id, str) or not is_repo_id(repo_id):
        raise BadInputError(f"'{str(repo_id)[:200]}' is not a Hub repo id (org/name: letters, digits, '-', '_', '.')")
    return repo_id


def check_revision(revision: str | None) -> str | None:
    """A branch, tag or commit name that is safe in a URL and a cache file name; BadInputError otherwise."""
    if revision is None:
        return None
    if not isinstance(revision, str) or not _REVISION.match(revision) or ".." in revision \
            or revision.endswith(("/", ".lock")) or "//" in revision:
        raise BadInputError(f"revision '{str(revision)[:120]}' is not a branch, tag or commit name")
    return revision


def is_commit(text: Any) -> bool:
    return isinstance(text, str) and COMMIT.match(text) is not None


def repo_snapshot(repo_id: str, revision: str | None = None) -> RepoSnapshot:
    """The repo's commit and files (names and sizes) at `revision` (default: main): one request."""
    check_repo_id(repo_id)
    check_revision(revision)
    url = f"{hub_http.endpoint()}/api/models/{repo_id}"
    if revision is not None:
        url += f"/revision/{quote(revision, safe='')}"
    data = hub_http.get_json(url, repo_id, revision, "model info", params={"blobs": "true"})
    return parse_model_info(data, repo_id, revision)


def parse_model_info(data: Any, repo_id: str, revision: str | None) -> RepoSnapshot:
    """A RepoSnapshot from a model info answer, every field checked."""
    site = hub_http.endpoint()

    def bad(why: str) -> HubServerError:
        return HubServerError(f"unusable model info from {site} for {repo_id}: {why}; is HF_ENDPOINT a Hugging Face "
                              "Hub?")

    if not isinstance(data, dict):
        raise bad("not a JSON object")
    sha = data.get("sha")
    if not sha:
        raise HubServerError(f"{site} gave no commit hash for {repo_id}: is HF_ENDPOINT a Hugging Face Hub?")
    if not is_commit(sha):
        raise bad(f"commit {show(sha)} is not 40 hexadecimal digits")
    siblings = data.get("siblings") or []
    if not isinstance(siblings, list) or len(siblings) > MAX_FILES:
        raise bad("'siblings' is not a list of files")
    files = []
    for s in siblings:
        name = s.get("rfilename") if isinstance(s, dict) else None
        if not safe_name(name):
            raise bad(f"file name {show(name)} is not a plain path inside the repo")
        lfs = s.get("lfs")
        size = lfs.get("size") if isinstance(lfs, dict) and "size" in lfs else s.get("size")
        if size is not None and not within(size, BYTES):
            raise bad(f"size of {name} is {show(size)}, not a byte count")
        files.append(HubFile(name, size))
    gated = data.get("gated", False)
    return RepoSnapshot(repo_id, revision or "main", sha, tuple(files), gated not in (False, None, "", 0))


def search_models(query: str, limit: int = 20) -> tuple[HubModel, ...]:
    """Models whose id matches `query`, most downloaded first (the Hub's /api/models, one bounded request under
    the usual deadline; no retry: a search is typed again anyway)."""
    if hub_http.is_offline():
        raise HubOfflineError("searching needs the Hugging Face Hub but HF_HUB_OFFLINE is set: unset it, or use a "
                              "local path or a bundled model (`quantplanner models`)")
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        raise BadInputError(f"search text is longer than {MAX_QUERY_CHARS} characters")
    limit = max(1, min(int(limit), 1000))
    expand = ["downloads", "likes", "library_name", "pipeline_tag", "gated", "safetensors", "lastModified"]
    params: dict[str, Any] = {"sort": "downloads", "limit": limit, "expand": expand}
    if query.strip():
        params["search"] = query.strip()
    with hub_http.budget(retry=False):
        data = hub_http.get_json(f"{hub_http.endpoint()}/api/models", f"search '{query.strip()[:80]}'", None,
                                 "the model list", params=params)
    if not isinstance(data, list):
        raise HubServerError(f"unusable search answer from {hub_http.endpoint()}: not a list of models")
    found = (_hub_model(m) for m in data[:limit])
    return tuple(m for m in found if m is not None)


def _hub_model(m: Any) -> HubModel | None:
    """One search result with every field checked; None for an entry without a usable id."""
    if not isinstance(m, dict):
        return None
    rid = m.get("id") or m.get("modelId")
    if not isinstance(rid, str) or not is_repo_id(rid):
        return None
    st = m.get("safetensors")
    params = st.get("total") if isinstance(st, dict) else None

    def count(key: str) -> int:
        v = m.get(key)
        return v if within(v, PARAMETERS) else 0

    def text(key: str) -> str | None:
        v = m.get(key)
        return v[:100] if isinstance(v, str) and v else None

    return HubModel(id=rid, downloads=count("downloads"), likes=count("likes"), library=text("library_name"),
                    pipeline_tag=text("pipeline_tag"), gated=m.get("gated") not in (False, None, "", 0),
                    parameters=params if within(params, PARAMETERS) and params else None,
                    last_modified=_date(m.get("lastModified") or m.get("last_modified")))


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
