"""The name a local model goes by: its folder, unless that says nothing ("model", a commit hash), then the Hub
cache's repo id, config.json's `_name_or_path`, or the parent folder."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from quantcore.errors import one_line
from quantcore.sources.safe_io import exists, probe

GENERIC = {"model", "models", "weights", "checkpoint", "checkpoints", "ckpt", "final", "output", "outputs", "out",
           "snapshot", "snapshots", "hf", "huggingface", "safetensors", "gguf", "main", "latest", "export", "merged",
           "files", "data", "pytorch_model", "config", "model-00001-of-00001", "consolidated"}
_HASH = re.compile(r"^[0-9a-f]{40}$")
_STEP = re.compile(r"^(checkpoint|step|global_step|epoch)[-_]?\d+$", re.IGNORECASE)
_REPO_LIKE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def says_nothing(name: str) -> bool:
    """A folder or file name that does not name the model."""
    return not name or name.lower() in GENERIC or bool(_HASH.match(name)) or bool(_STEP.match(name))


def local_model_name(path: Path, config: dict[str, Any] | None = None) -> str:
    """A folder, or a weights file (named by its folder when the file name says nothing, as model.safetensors).

    The name comes from the file system and config.json (model-controlled text): it is made one printable line of
    at most 200 characters, and looking at the path never raises (a too-long name, a folder without access)."""
    return one_line(_name(path, config), 200)


def _is_dir(path: Path) -> bool:
    return exists(path) and probe(path) == "dir"


def _name(path: Path, config: dict[str, Any] | None) -> str:
    try:
        path = path.expanduser()
    except RuntimeError:  # ~user of an unknown user
        pass
    is_dir = _is_dir(path)
    here = path if is_dir or not path.suffix else path.parent
    if not is_dir and path.suffix and not says_nothing(path.stem):
        return path.stem
    # Hugging Face cache: .../models--org--name/snapshots/<commit>/
    for part in (here, *here.parents):
        if part.name.startswith("models--") and part.name.count("--") >= 2:
            return "/".join(part.name.split("--")[1:3])
    if not says_nothing(here.name):
        return here.name
    given = (config or {}).get("_name_or_path")
    named = given.strip().rstrip("/")[:1000] if isinstance(given, str) else ""
    if named and _REPO_LIKE.match(named) and not says_nothing(named.split("/")[-1]):
        return named
    if named and ("/" in named or "\\" in named):  # saved from a local path: its last meaningful part
        for part in reversed(re.split(r"[\\/]", named)):
            if not says_nothing(part):
                return part
    for parent in here.parents:
        if not says_nothing(parent.name):
            return parent.name
    return here.name or str(path)
