"""Numbers and names as reports print them: sizes in GiB or GB, money, rates, counts, short GPU names."""
from __future__ import annotations

from typing import Any

UNITS = {"GiB": 2**30, "GB": 10**9, "MiB": 2**20, "MB": 10**6}
COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead")
COMPONENT_NAMES = {"weights": "weights", "kv_cache": "KV cache", "activations": "activations",
                   "gradients": "gradients", "optimizer": "optimizer", "adapters": "adapters",
                   "overhead": "overhead", "total": "total"}
COMPONENT_COLOURS = {"weights": "#4c78a8", "kv_cache": "#f58518", "activations": "#54a24b",
                     "gradients": "#b279a2", "optimizer": "#e45756", "adapters": "#72b7b2", "overhead": "#9d755d"}
GPU_COLOURS = ("#b91c1c", "#6d28d9", "#0f766e", "#a16207", "#be185d", "#1d4ed8")  # darker than the curves
SOURCES = {"safetensors": "exact (safetensors headers)", "gguf": "exact (GGUF header)",
           "config": "analytic (config.json)", "count": "a guess from a parameter count"}


def size(n: int | float | None, unit: str, digits: int = 2) -> str:
    """Bytes as a number in the unit, no unit suffix ('-' for None or 0)."""
    if not n:
        return "-"
    return f"{n / UNITS[unit]:,.{digits}f}"


def size_u(n: int | float | None, unit: str, digits: int = 2) -> str:
    """Bytes with the unit: '42.26 GiB'."""
    return "-" if n is None else f"{n / UNITS[unit]:,.{digits}f} {unit}"


def money(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"${x:,.{digits}f}"


def rate(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def count(c: int | None) -> str:
    return "> 64" if c is None else str(c)


def integer(n: int | None) -> str:
    return "-" if not n else f"{n:,}"


def params(n: int) -> str:
    """70553706496 -> '70.55B'."""
    if n >= 1e9:
        return f"{n / 1e9:,.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:,.1f}M"
    return f"{n:,}"


def short_gpu(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX 4090'."""
    words = name.split()
    while len(words) > 1 and words[0] in ("NVIDIA", "GeForce", "AMD", "Instinct", "Apple", "Radeon"):
        words = words[1:]
    return " ".join(words)


def gpu_names(data: dict[str, Any]) -> list[str]:
    """Names of the plan's chosen GPUs, in order."""
    rows = data.get("rows") or []
    return [g.get("name") or g["gpu"] for g in rows[0]["gpus"]] if rows else []


def placement_text(option: dict[str, Any]) -> str:
    """The placement badge when the plan has one, else what the GPU count implies."""
    p = option.get("placement")
    if isinstance(p, dict) and p.get("badge"):
        return str(p["badge"])
    c = option.get("count")
    if c is None:
        return "too large"
    return "full GPU" if c == 1 else f"{c} GPUs, tensor parallel"
