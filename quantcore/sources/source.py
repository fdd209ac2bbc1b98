"""Turn what the user typed (path, Hub repo id, bundled id, parameter count) into an Inventory, best source first."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from quantcore.errors import (
    BadInputError,
    HubGatedRepoError,
    HubRepoNotFoundError,
    HubUnavailableError,
    ModelFileError,
)
from quantcore.model.arch import inventory_from_config
from quantcore.model.count_model import from_parameter_count, parse_count
from quantcore.model.inventory import Inventory
from quantcore.sources import hub
from quantcore.sources.bundled import BundledModel, bundled_models, find_bundled
from quantcore.sources.hub_api import is_repo_id
from quantcore.sources.hub_quant import checkpoint_precision
from quantcore.sources.local import load_path
from quantcore.sources.safe_io import exists, probe

Progress = Callable[[str, float], None]


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
    if len(spec) > 4096 or "\0" in spec:
        raise BadInputError(f"'{spec[:80]}...' is too long for a model path, repo id or count")
    path = _expand(spec)
    if _is_local(path, spec):
        _no_revision(revision, spec)
        return load_path(path)
    count = parse_count(spec)
    if count is not None:
        _no_revision(revision, spec)
        return from_parameter_count(count)
    bundled = find_bundled(spec)
    repo = None if spec.startswith((".", "/", "~")) else parse_repo_spec(spec)
    if repo is not None and (use_hub or bundled is None):
        try:
            return hub.resolve_model(repo[0], revision, gguf_file=repo[1], progress=progress, cancel=cancel,
                                     fallback=bundled is not None and repo[1] is None)
        except (HubUnavailableError, HubGatedRepoError, HubRepoNotFoundError) as exc:
            if bundled is None or repo[1] is not None:
                raise
            reason = f"Hugging Face Hub not used ({exc})"
            return _bundled_inventory(bundled, reason + (f"; revision '{revision}' not checked" if revision else ""))
    if bundled is not None:
        return _bundled_inventory(bundled, None)
    if spec.endswith((".json", ".safetensors", ".gguf")) or "/" in spec and exists(path.parent) \
            and spec.startswith((".", "/", "~")):
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
    if not is_repo_id(repo_id):
        return None
    if len(parts) == 2:
        return None if repo_id.lower().endswith((".json", ".safetensors", ".gguf")) else (repo_id, None)
    rest = "/".join(parts[2:])
    return (repo_id, rest) if rest.lower().endswith(".gguf") else None


def _expand(spec: str) -> Path:
    try:
        return Path(spec).expanduser()
    except (RuntimeError, KeyError, OSError):  # '~nosuchuser/x': no such home folder
        return Path(spec)


def _is_local(path: Path, spec: str) -> bool:
    """Whether `spec` names something on disk. A name that cannot be a path (too long, a NUL byte) is not one; a
    folder we may not enter is an error for a path, and simply not local for what looks like a repo id."""
    try:
        return probe(path) is not None
    except ModelFileError:
        if parse_repo_spec(spec) is not None and not spec.startswith((".", "/", "~")):
            return False
        raise


def _no_revision(revision: str | None, spec: str) -> None:
    if revision:
        raise BadInputError(f"--revision applies to Hub repo ids only, not to '{spec}'")


def _bundled_inventory(bundled: BundledModel, reason: str | None) -> Inventory:
    config = bundled.config()
    inv = inventory_from_config(config, bundled.id)
    pid, _desc = checkpoint_precision(config)
    notes = ((reason,) if reason else ()) + (f"bundled config.json taken {bundled.taken}",)
    return replace(inv, quantization=pid, notes=inv.notes + notes)
