"""Lab results gathered into the report's optional "lab" object (docs/plan-schema.md): device, calibration,
per-tensor errors, histograms with levels, layer sensitivity, test-runs."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from quantcore.lab.sensitivity import Sensitivity, Suggestion
from quantcore.lab.testrun import TestRun


def _clean(v: Any) -> Any:
    """JSON has no inf/NaN: an exact (error-free) SQNR becomes null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def error_entry(tensor: str, precision: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One lab "errors" entry from ErrorMetrics.as_dict(); a figure with no finite value (the SQNR of an exact
    copy) is left out."""
    got = {"mse": metrics.get("mse"), "sqnr_db": metrics.get("sqnr_db"), "rel_error": metrics.get("rel_frobenius"),
           "max_abs_error": metrics.get("max_abs_error"), "cosine": metrics.get("cosine")}
    return {"tensor": tensor, "precision": precision, **{k: v for k, v in got.items() if _clean(v) is not None}}


def histogram_entry(tensor: str, precision: str | None, edges: Iterable[float], counts: Iterable[int],
                    levels: Iterable[float] = ()) -> dict[str, Any]:
    return {"tensor": tensor, "precision": precision, "edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts], "levels": [float(v) for v in levels]}


def lab_dict(runs: Iterable[TestRun] = (), sensitivity: Sensitivity | None = None,
             errors: Iterable[dict[str, Any]] = (), histograms: Iterable[dict[str, Any]] = (),
             suggestion: Suggestion | None = None, size_change: float | None = None) -> dict[str, Any]:
    """The "lab" object of a report; empty when there is nothing to say."""
    runs = list(runs)
    out: dict[str, Any] = {}
    devices = list(dict.fromkeys(r.device.label() for r in runs))
    if devices:
        out["device"] = "; ".join(devices)
    calibrations = list(dict.fromkeys([r.calibration for r in runs]
                                      + ([sensitivity.calibration] if sensitivity else [])))
    if calibrations:
        out["calibration"] = "; ".join(calibrations)
    errors, histograms = list(errors), list(histograms)
    if errors:
        out["errors"] = errors
    if histograms:
        out["histograms"] = histograms
    if sensitivity is not None:
        sens = sensitivity.as_lab()
        sens["values"] = [[_clean(v) for v in row] for row in sens["values"]]
        if suggestion is not None:
            sens["suggestion"] = suggestion.as_dict(size_change)
        out["sensitivity"] = sens
    if runs:
        out["runs"] = [{k: _clean(v) for k, v in entry.items()} for r in runs for entry in r.lab_runs()]
    return out
