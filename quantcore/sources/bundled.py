"""Bundled model configs (resources/models) so that popular models plan on a fresh, offline machine."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from quantcore.errors import ModelFileError


@dataclass(frozen=True)
class BundledModel:
    """One bundled config.json with where and when it was taken."""

    id: str
    taken: str
    path: Path
    published_parameters: int | None

    def config(self) -> dict[str, Any]:
        return _load(self.path)["config"]


def models_dir() -> Path:
    from quantcore.sources.resources import resources_dir

    return resources_dir() / "models"


@cache
def bundled_models() -> tuple[BundledModel, ...]:
    """Every bundled model, sorted by id."""
    out = []
    for p in sorted(models_dir().glob("*.json")):
        data = _load(p)
        out.append(BundledModel(id=data["id"], taken=data.get("taken", ""), path=p,
                                published_parameters=data.get("published_parameters")))
    return tuple(sorted(out, key=lambda m: m.id.lower()))


def find_bundled(model_id: str) -> BundledModel | None:
    """The bundled model with this repo id (case-insensitive; 'Llama-3.1-8B' also finds 'meta-llama/Llama-3.1-8B')."""
    key = model_id.strip().lower()
    models = bundled_models()
    exact = [m for m in models if m.id.lower() == key]
    if exact:
        return exact[0]
    tail = [m for m in models if m.id.lower().split("/")[-1] == key]
    return tail[0] if len(tail) == 1 else None


def _load(path: Path) -> dict[str, Any]:
    from quantcore.sources.safe_io import read_json

    data = read_json(path, 10_000_000, "bundled model file")
    if not isinstance(data, dict) or "id" not in data or not isinstance(data.get("config"), dict):
        raise ModelFileError(f"{path}: bundled model file lacks 'id' or 'config'")
    return data
