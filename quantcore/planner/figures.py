"""Published quality figures (resources/quality.toml): each a format's measured effect on a real model, with its
exact source; which one to show for a planned model."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from quantcore.errors import QuantPlannerError

_SIXTEEN = ("F16", "FP16", "BF16", "F32", "32-bit", "FP32")


@dataclass(frozen=True)
class Figure:
    """One published figure: a format's effect on one model, as its source prints it."""

    precision: str
    format: str
    model: str
    metric: str
    against: str
    source: str
    family: str = ""
    baseline: float | None = None
    value: float | None = None
    delta: float | None = None
    higher_is_better: bool = False
    rounding: str = ""
    calibrate: bool = False
    vs_rtn: str = ""  # the round-to-nearest figure (its `format`) of the same table and model, for method_factor
    note: str = ""

    @property
    def change(self) -> float:
        """value - baseline in the metric's unit (negative is better for perplexities)."""
        if self.delta is not None:
            return self.delta
        if self.value is None or self.baseline is None:
            raise QuantPlannerError(f"quality figure for {self.format} on {self.model} has no value or delta")
        return self.value - self.baseline

    @property
    def relative_pct(self) -> float | None:
        """The change in % of the baseline (None when no baseline is published, and for accuracies, whose
        change is given in points)."""
        return None if not self.baseline or self.higher_is_better else 100.0 * self.change / self.baseline

    @property
    def against_sixteen_bit(self) -> bool:
        return self.against.split()[0] in _SIXTEEN

    def sentence(self) -> str:
        """'<format> on <model>: <metric> 6.2332 -> 6.4086 (+0.1754, +2.81%) against F16'."""
        base = "" if self.baseline is None else f"{self.baseline:g} -> {self.baseline + self.change:.6g} "
        rel = "" if self.relative_pct is None else f", {self.relative_pct:+.2f}%"
        better = " (higher is better)" if self.higher_is_better else ""
        note = f"; {self.note}" if self.note else ""
        return (f"{self.format} on {self.model}: {self.metric}{better} {base}({self.change:+.4g}{rel}) against "
                f"{self.against}{note}. Source: {self.source}")


# -- reading the data --------------------------------------------------------------------------------------------------

@cache
def quality_data() -> dict[str, Any]:
    """resources/quality.toml as parsed TOML."""
    from quantcore.sources.resources import resources_dir  # noqa: PLC0415 - sources is below planner
    from quantcore.sources.safe_io import parse_toml, read_bytes  # noqa: PLC0415 - regular file, bounded, depth

    path = resources_dir() / "quality.toml"
    try:
        return parse_toml(read_bytes(path, MAX_QUALITY_BYTES, "quality data file", QuantPlannerError), str(path),
                          QuantPlannerError)
    except QuantPlannerError as exc:
        raise QuantPlannerError(f"quality data unreadable ({exc}); reinstall QuantPlanner") from None


MAX_QUALITY_BYTES = 8 << 20  # resources/quality.toml is ~100 kB


_FIELDS = set(Figure.__dataclass_fields__)


@cache
def figures() -> tuple[Figure, ...]:
    """Every published figure, in file order (the order of preference within a precision)."""
    out = []
    for entry in quality_data().get("figure", []):
        unknown = set(entry) - _FIELDS - {"parameters"}
        if unknown:
            raise QuantPlannerError(f"quality.toml: unknown fields {sorted(unknown)} in {entry.get('format')}")
        out.append(Figure(**{k: v for k, v in entry.items() if k in _FIELDS}))
    return tuple(out)


def figures_for(pid: str) -> tuple[Figure, ...]:
    return tuple(f for f in figures() if f.precision and f.precision == pid)


def family_key(model_id: str) -> str:
    """'meta-llama/Llama-3.1-70B' -> 'llama-3.1': the name without its organisation, size and common suffixes."""
    name = model_id.strip().rstrip("/").split("/")[-1].lower()
    name = re.sub(r"\.gguf$", "", name)
    parts = [p for p in re.split(r"[-_]", name) if p]
    size = re.compile(r"^(\d+(\.\d+)?[bmk]|\d+x\d+(\.\d+)?b|a\d+(\.\d+)?b|e\d+b|hf|base|\d+k)$")
    keep = [p for p in parts if not size.match(p)]
    return "-".join(keep) or name


def published(pid: str, model_id: str = "") -> Figure | None:
    """The figure to show for pid: one measured against 16/32-bit weights on the model's own family when there
    is one, else the first listed against 16/32-bit, else the first listed."""
    figs = figures_for(pid)
    if not figs:
        return None
    name = model_id.lower()
    fam = [f for f in figs if f.family and f.family != "mixed" and _family_matches(f.family, name)]
    sixteen = [f for f in figs if f.against_sixteen_bit]
    for pool in ([f for f in fam if f.against_sixteen_bit], sixteen, figs):
        if pool:
            return pool[0]
    return None


def _family_matches(family: str, model_id: str) -> bool:
    """'llama-3' matches 'meta-llama/Llama-3.1-8B' and 'Meta-Llama-3-8B'; 'llama' matches LLaMA-1 names only."""
    tail = model_id.split("/")[-1]
    if family == "llama":
        return bool(re.search(r"(^|[^a-z])llama-?(7|13|30|33|65)b", tail)) or tail.startswith("llama-1")
    return re.search(rf"(^|[^a-z0-9]){re.escape(family)}([^0-9]|$)", tail) is not None




def parameters_of(name: str) -> float:
    """The parameter count of a model named in quality.toml ([[model]] entries, each with its source)."""
    for m in quality_data().get("model", []):
        if m["name"] == name:
            return float(m["parameters"])
    raise QuantPlannerError(f"quality.toml: no [[model]] entry for '{name}'")
