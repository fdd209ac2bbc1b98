"""Where the bundled data (GPU catalog, model configs, templates) lives: a source checkout or a frozen app."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from quantcore.errors import QuantPlannerError


def candidate_dirs() -> tuple[Path, ...]:
    """Places searched for resources/, best first: next to the package (a checkout), the installed
    quantplanner_resources package (a wheel), then the PyInstaller bundle."""
    out = [Path(__file__).resolve().parents[2] / "resources"]
    spec = importlib.util.find_spec("quantplanner_resources")  # an installed wheel
    if spec is not None and spec.submodule_search_locations:
        out.extend(Path(p) for p in spec.submodule_search_locations)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        out.append(Path(frozen) / "resources")
    return tuple(out)


def resources_dir() -> Path:
    """The resources/ folder (GPU catalog, bundled configs); an error that says where it looked if absent."""
    for d in candidate_dirs():
        if d.is_dir():
            return d
    looked = ", ".join(str(d) for d in candidate_dirs())
    raise QuantPlannerError(f"bundled resources not found (looked in {looked}); reinstall QuantPlanner")


def resource_path(*parts: str) -> Path:
    """A file or folder inside resources/, e.g. resource_path('gpus.toml')."""
    return resources_dir().joinpath(*parts)
