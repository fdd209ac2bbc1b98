"""Layer sensitivity: every linear layer x chosen precisions -> relative output error on calibration inputs, and a
mixed-precision suggestion (the most sensitive layers kept at 8-bit, the rest at the lowest precision) expressed as a
formats.mixture.Mixture that the planner sizes."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantcore.errors import BadInputError
from quantcore.formats import catalog
from quantcore.formats.mixture import Mixture, per_tensor_bytes
from quantcore.formats.quantize import available, check_tensor, dequantize, quantize
from quantcore.lab.activations import activations_for, module_of
from quantcore.lab.blocks import linear_weights
from quantcore.lab.histogram import CancelledError
from quantcore.lab.metrics import output_error
from quantcore.lab.testrun import check_sizes, load_local, local_path
from quantcore.model.inventory import Inventory

Progress = Callable[[str, float], None]
METRIC = "relative output error ||XW^T - XQ^T|| / ||XW^T||"
DEFAULT_BUDGET = 0.05  # the suggestion may grow the model's weights by at most this share


@dataclass(frozen=True)
class Sensitivity:
    """values[layer][precision]: relative output error of that linear layer quantized in that precision (None:
    the precision does not apply to it)."""

    model: str
    calibration: str
    layers: tuple[str, ...]  # weight tensor names, in model order
    precisions: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (precision, why it was left out)

    def column(self, pid: str) -> list[float | None]:
        k = self.precisions.index(pid)
        return [row[k] for row in self.values]

    def as_lab(self) -> dict[str, Any]:
        """The report's lab "sensitivity" object (docs/plan-schema.md)."""
        return {"metric": "relative output error", "layers": list(self.layers), "precisions": list(self.precisions),
                "values": [list(row) for row in self.values]}

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "calibration": self.calibration, "metric": METRIC, **self.as_lab(),
                "skipped": [{"precision": p, "reason": why} for p, why in self.skipped]}


@dataclass(frozen=True)
class Suggestion:
    """Keep `keep` at `high`, the rest at `base`: the mixture, and the error it saves (mean relative output error
    over the linear layers). The bytes are the planner's to show (a plan row of `mixture`)."""

    base: str
    high: str
    keep: tuple[str, ...]
    mixture: Mixture
    error_base: float
    error_mixed: float

    @property
    def error_change(self) -> float:
        """Relative change of the mean output error (negative: smaller)."""
        return (self.error_mixed - self.error_base) / self.error_base if self.error_base > 0 else 0.0

    def sentence(self, size_change: float | None = None) -> str:
        """'keep these 5 layers at int8, the rest nf4: +3.1% size, -38% error' (size from the planner)."""
        size = f"{size_change:+.1%} size, " if size_change is not None else ""
        return (f"keep these {len(self.keep)} layers at {self.high}, the rest {self.base}: "
                f"{size}{self.error_change:+.0%} error")

    def as_dict(self, size_change: float | None = None) -> dict[str, Any]:
        return {"base": self.base, "high": self.high, "keep": list(self.keep), "mixture": self.mixture.id,
                "error_base": self.error_base, "error_mixed": self.error_mixed, "error_change": self.error_change,
                "size_change": size_change, "text": self.sentence(size_change)}


def sensitivity(model: Path | str, precisions: list[str], calibration: str = "auto", tokens: int = 256,
                layers: list[str] | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> Sensitivity:
    """Quantize every linear layer (or those named in `layers`) in each precision and measure the relative error
    of its output on calibration inputs (real activations when the model loads here)."""
    from quantcore.sources.tensors import list_tensors

    if not precisions:
        raise BadInputError("give at least one precision for the sensitivity scan")
    check_sizes(1, tokens)  # the calibration inputs are tokens x width floats per layer width
    pids = list(dict.fromkeys(catalog.get_precision(p).id for p in precisions))
    path = local_path(model)
    inv, _ = load_local(path)
    weights = linear_weights(inv)
    if layers:
        weights = [t for t in weights if t.name in layers or module_of(t.name) in layers]
    if not weights:
        raise BadInputError(f"{inv.id}: no linear layer weights to scan")
    skipped = [(p, f"{p}: its quantizer is not in this build yet") for p in pids if not available(p)]
    runnable = [p for p in pids if available(p)]
    report = progress or (lambda _m, _f: None)
    acts = activations_for(path, {module_of(t.name): t.shape[-1] for t in weights}, calibration, tokens,
                           progress=lambda m, f: report(m, 0.1 * f), cancel=cancel)
    refs = {r.name: r for r in list_tensors(path)}
    values: list[tuple[float | None, ...]] = []
    for i, info in enumerate(weights):
        w = refs[info.name].load()
        check_tensor(w, info.name)
        x = acts.input_for(info.name)
        row: list[float | None] = []
        for pid in runnable:
            if cancel is not None and cancel.is_set():
                raise CancelledError("sensitivity scan cancelled")
            if not catalog.quantized_by(info, catalog.get_precision(pid)) and catalog.layout(pid).scheme != "dense":
                row.append(None)
                continue
            q = quantize(w, pid, info=info, arch=inv.arch, calibration=x)
            row.append(output_error(w, dequantize(q), x))
        values.append(tuple(row))
        report(f"{info.name}", 0.1 + 0.9 * (i + 1) / len(weights))
    return Sensitivity(str(path), acts.description, tuple(t.name for t in weights), tuple(runnable), tuple(values),
                       tuple(skipped))


def _default_pair(s: Sensitivity) -> tuple[str, str] | None:
    if len(s.precisions) < 2:
        return None
    bits = {p: catalog.get_precision(p).nominal_bits for p in s.precisions}
    base = min(s.precisions, key=lambda p: bits[p])
    eight = [p for p in s.precisions if bits[p] == 8]
    above = sorted((p for p in s.precisions if bits[p] > bits[base]), key=lambda p: bits[p])
    high = eight[0] if eight else (above[0] if above else None)
    return (base, high) if high else None


def suggest(s: Sensitivity, inv: Inventory, base: str | None = None, high: str | None = None,
            budget: float = DEFAULT_BUDGET) -> Suggestion | None:
    """The layers to keep at `high` (default: an 8-bit precision of the scan) while the rest use `base` (default:
    the scan's lowest-bit precision): greedily the layers saving the most output error per extra byte, while the
    model's weights grow by at most `budget` (a share of its bytes at `base`). None when nothing helps."""
    pair = (base, high) if base and high else _default_pair(s)
    if pair is None:
        return None
    base, high = (catalog.get_precision(p).id for p in pair)
    for p in (base, high):
        if p not in s.precisions:
            raise BadInputError(f"{p} is not in the sensitivity scan ({', '.join(s.precisions)})")
    eb, eh = s.column(base), s.column(high)
    bytes_b, bytes_h = per_tensor_bytes(inv, base), per_tensor_bytes(inv, high)
    candidates = []
    for name, b, h in zip(s.layers, eb, eh):
        if b is None or h is None or name not in bytes_b or name not in bytes_h:
            continue
        gain, cost = b - h, bytes_h[name] - bytes_b[name]
        if gain > 0:
            candidates.append((gain / max(cost, 1), name, cost))
    room = budget * sum(bytes_b.values())
    keep: list[str] = []
    for _, name, cost in sorted(candidates, reverse=True):
        if cost <= room:
            keep.append(name)
            room -= cost
    if not keep:
        return None
    pairs = [(b, h if n in keep else b) for n, b, h in zip(s.layers, eb, eh) if b is not None]
    err_base = sum(b for b, _ in pairs) / len(pairs)
    err_mixed = sum(m for _, m in pairs if m is not None) / len(pairs)
    kept = tuple(n for n in s.layers if n in keep)
    change = (err_mixed - err_base) / err_base if err_base > 0 else 0.0
    mixture = Mixture(base, tuple((n, high) for n in kept),
                      note=f"lab sensitivity: {len(kept)} layers at {high}, {change:+.0%} mean output error")
    return Suggestion(base, high, kept, mixture, err_base, err_mixed)
