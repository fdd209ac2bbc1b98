"""Inputs for test-runs and sensitivity, as the user chose them (auto / real / synthetic), from lab/calibration.py:
the model's real activations captured with transformers, or synthetic ones with outlier channels (LLM.int8()'s
pattern). "real" fails with a one-line error when the model cannot be loaded here; "auto" falls back and says why."""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from quantcore.errors import BadInputError
from quantcore.lab.calibration import Calibration, CalibrationUnavailable, capture, synthetic
from quantcore.lab.histogram import CancelledError

Progress = Callable[[str, float], None]
SOURCES = ("auto", "real", "synthetic")
Activations = Calibration  # what test-runs and sensitivity read: module name -> (tokens, in), and which kind


def module_of(tensor_name: str) -> str:
    return tensor_name.removesuffix(".weight")


def model_folder(path: Path) -> Path:
    from quantcore.sources.safe_io import probe

    return path if probe(path) == "dir" else path.parent


def activations_for(model_path: Path | None, widths: Mapping[str, int], source: str = "auto", tokens: int = 256,
                    progress: Progress | None = None, cancel: threading.Event | None = None) -> Calibration:
    """Inputs of the named modules (module name -> input width): real when source is "auto" or "real" and the
    model loads here and reaches every one of them, synthetic otherwise (the description says why)."""
    if source not in SOURCES:
        raise BadInputError(f"unknown calibration '{source}'; use {', '.join(SOURCES)}")
    if source == "synthetic" or model_path is None:
        return synthetic(widths, tokens, why="" if source == "synthetic" else "no model files")
    try:
        got = capture(model_folder(Path(model_path)), max_tokens=tokens, progress=progress, cancel=cancel,
                      modules=lambda name: name in widths or name.removeprefix("model.") in widths
                      or f"model.{name}" in widths)
        missing = sorted(m for m in widths if got.input_for(m) is None)
        if missing:
            raise CalibrationUnavailable(f"{len(missing)} layer(s) not reached by the model's forward, e.g. "
                                         f"{missing[0]}")
    except CalibrationUnavailable as exc:
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled while capturing activations") from None
        if source == "real":
            raise BadInputError(f"real activations are not available: {exc}; use synthetic calibration") from None
        return synthetic(widths, tokens, why=str(exc))
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled while capturing activations")
    return got
