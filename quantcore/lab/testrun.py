"""Test-run quantized layers against the original on this machine: a linear layer, an MLP block or an attention
block of the real model, per precision: median latency, peak memory, output error, measured vs predicted bytes and
the kernel path that ran."""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.formats import catalog
from quantcore.formats.quantize import available, check_tensor, quantize
from quantcore.lab import devices
from quantcore.lab.activations import Activations, activations_for, model_folder, module_of
from quantcore.lab.blocks import BlockSpec, build_block, find_block
from quantcore.lab.histogram import CancelledError
from quantcore.lab.kernels import build_linear, reference_linear
from quantcore.lab.memtrack import storage_bytes
from quantcore.lab.timing import median_latency_ms, peak_bytes
from quantcore.model.inventory import Inventory, TensorInfo

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, float], None]
MAX_TOKENS = 65536  # batch x tokens rows of the test input


@dataclass(frozen=True)
class RunResult:
    """One precision of one test-run."""

    precision: str
    predicted_bytes: int  # formats' tensor_bytes of the block's weights in this precision
    measured_bytes: int  # bytes of the storages the quantized layers hold on the device
    latency_ms: float  # median after warm-up
    runs: int
    peak_bytes: int
    output_error: float  # ||y_q - y|| / ||y|| on the test input
    kernel: str
    note: str = ""

    @property
    def output_sqnr_db(self) -> float:
        return math.inf if self.output_error == 0 else -20 * math.log10(self.output_error)

    def as_dict(self) -> dict[str, Any]:
        sqnr = self.output_sqnr_db
        return {"precision": self.precision, "predicted_bytes": self.predicted_bytes,
                "measured_bytes": self.measured_bytes, "bytes_equal": self.measured_bytes == self.predicted_bytes,
                "latency_ms": self.latency_ms, "runs": self.runs, "peak_bytes": self.peak_bytes,
                "output_error": self.output_error, "output_sqnr_db": None if math.isinf(sqnr) else sqnr,
                "kernel": self.kernel, "note": self.note}


@dataclass(frozen=True)
class TestRun:
    """A block test-run on one device: the original's figures and one RunResult per precision that ran."""

    __test__ = False  # not a pytest class

    model: str
    block: BlockSpec
    device: devices.DeviceInfo
    calibration: str
    batch: int
    tokens: int
    baseline_latency_ms: float
    baseline_peak_bytes: int
    baseline_bytes: int  # the original weights held in float32
    results: tuple[RunResult, ...]
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (precision, one-line reason)

    def as_dict(self) -> dict[str, Any]:
        return {"schema": "quantplanner.testrun/1", "model": self.model, "layer": self.block.name,
                "kind": self.block.kind, "weights": list(self.block.weights), "device": self.device.as_dict(),
                "calibration": self.calibration, "batch": self.batch, "tokens": self.tokens,
                "baseline": {"latency_ms": self.baseline_latency_ms, "peak_bytes": self.baseline_peak_bytes,
                             "bytes": self.baseline_bytes},
                "results": [r.as_dict() for r in self.results],
                "skipped": [{"precision": p, "reason": why} for p, why in self.skipped]}

    def lab_runs(self) -> list[dict[str, Any]]:
        """The report's lab "runs" entries (docs/plan-schema.md)."""
        return [{"precision": r.precision, "layer": self.block.describe(), "device": self.device.label(),
                 "predicted_bytes": r.predicted_bytes, "measured_bytes": r.measured_bytes,
                 "latency_ms": r.latency_ms, "peak_bytes": r.peak_bytes, "kernel": r.kernel,
                 "output_error": r.output_error} for r in self.results]


def local_path(model: Path | str) -> Path:
    """The model path with ~ expanded (as typed when ~user names no user)."""
    try:
        return Path(model).expanduser()
    except RuntimeError:
        return Path(model)


def load_local(path: Path) -> tuple[Inventory, dict[str, Any] | None]:
    """The model's inventory from its local files, and its config.json when there is one."""
    from quantcore.sources.local import load_path, read_json

    from quantcore.sources.safe_io import exists, probe

    path = local_path(path)
    if not exists(path):
        raise BadInputError(f"{path}: give a local folder, .safetensors or .gguf file (weights are read from disk)")
    inv = load_path(path)
    cfg_path = model_folder(path) / "config.json"
    config = read_json(cfg_path) if probe(cfg_path) == "file" else None
    return inv, config if isinstance(config, dict) else None


def _tensors(path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors (and the biases beside them when present) read from the model's files."""
    from quantcore.sources.tensors import list_tensors

    refs = {r.name: r for r in list_tensors(path)}
    out = {}
    for name in names:
        ref = refs.get(name)
        if ref is None:
            raise BadInputError(f"{name} is not in the model's weight files")
        out[name] = ref.load()
        bias = refs.get(name.removesuffix("weight") + "bias")
        if bias is not None:
            out[bias.name] = bias.load()
    return out


def input_rows(acts: Activations, module: str, batch: int, tokens: int) -> torch.Tensor:
    """(batch, tokens, in) rows of the module's calibration inputs, repeated when fewer were captured."""
    x = acts.inputs[module]
    need = batch * tokens
    if x.shape[0] < need:
        x = x.repeat(-(-need // x.shape[0]), 1)
    return x[:need].reshape(batch, tokens, x.shape[1]).contiguous()


def check_sizes(batch: int, tokens: int) -> None:
    if batch < 1 or tokens < 1:
        raise BadInputError(f"batch and tokens must be at least 1 (got batch {batch}, tokens {tokens})")
    if batch * tokens > MAX_TOKENS:
        raise BadInputError(f"batch x tokens = {batch * tokens:,} is more than the {MAX_TOKENS:,} rows a test-run "
                            "takes")


def testrun(model: Path | str, precisions: list[str], layer: str | None = None, device: str = "auto",
            calibration: str = "auto", batch: int = 1, tokens: int = 128, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> TestRun:
    """Quantize a block of a local model in each precision and run it against the original on `device`."""
    import torch

    check_sizes(batch, tokens)
    if not precisions:
        raise BadInputError("give at least one precision to test-run")
    pids = [catalog.get_precision(p).id for p in precisions]
    path = local_path(model)
    inv, config = load_local(path)
    spec = find_block(inv, layer)
    dev = devices.resolve(device)
    tdev = torch.device(dev.device)
    infos = {t.name: t for t in inv.tensors}
    report = progress or (lambda _m, _f: None)
    report(f"reading {spec.describe()}", 0.0)
    weights = _tensors(path, list(spec.weights))
    for name, t in weights.items():
        check_tensor(t, name)
    widths = {module_of(w): int(weights[w].shape[-1]) for w in spec.weights}
    acts = activations_for(path, widths, calibration, batch * tokens,
                           progress=lambda m, f: report(m, 0.05 * f), cancel=cancel)
    x = input_rows(acts, module_of(spec.input_weight), batch, tokens)

    def make(build_one: Callable[[str], Any]) -> Callable[[], tuple[Callable[[Any], Any], dict[str, Any], Any]]:
        def setup() -> tuple[Callable[[Any], Any], dict[str, Any], Any]:
            layers = {part: build_one(w) for part, w in spec.parts}
            return build_block(spec, layers, inv.arch, config), layers, x.to(tdev, copy=True)
        return setup

    def forward(made: tuple[Callable[[Any], Any], dict[str, Any], Any]) -> torch.Tensor:
        with torch.inference_mode():
            return made[0](made[2])

    ref_build = make(lambda w: reference_linear(weights[w], weights.get(w.removesuffix("weight") + "bias"), tdev))
    report(f"original {spec.describe()} on {dev.device}", 0.05)
    base_peak, made, y_ref = peak_bytes(ref_build, forward, tdev)
    base_latency, _ = median_latency_ms(partial(forward, made), tdev, cancel)
    base_bytes = storage_bytes(t for layer_ in made[1].values() for t in layer_.held())
    y_ref = y_ref.to("cpu", torch.float64)
    del made
    results: list[RunResult] = []
    skipped: list[tuple[str, str]] = []
    for i, pid in enumerate(pids):
        if cancel is not None and cancel.is_set():
            raise CancelledError("test-run cancelled")
        report(f"{pid}: quantizing {spec.describe()}", 0.1 + 0.9 * i / len(pids))
        try:
            results.append(_one(pid, spec, weights, infos, inv, acts, ref=y_ref, make=make, forward=forward,
                                device=tdev, cancel=cancel))
        except CancelledError:
            raise
        except QuantPlannerError as exc:
            skipped.append((pid, str(exc)))
    report("done", 1.0)
    return TestRun(str(path), spec, dev, acts.description, batch, tokens, base_latency, base_peak, base_bytes,
                   tuple(results), tuple(skipped))


testrun.__test__ = False  # type: ignore[attr-defined]  # a name pytest would otherwise collect


def _one(pid: str, spec: BlockSpec, weights: dict[str, torch.Tensor], infos: dict[str, TensorInfo], inv: Inventory,
         acts: Activations, *, ref: torch.Tensor, make: Callable[..., Any], forward: Callable[..., Any],
         device: torch.device, cancel: threading.Event | None) -> RunResult:
    import torch

    if not available(pid):
        raise BadInputError(f"{pid}: its quantizer is not in this build yet")
    p = catalog.get_precision(pid)
    quantized = {}
    predicted = 0
    for w in spec.weights:
        info = infos.get(w) or TensorInfo(w, tuple(weights[w].shape), "F32", "mlp", "ffn_up")
        quantized[w] = quantize(weights[w], pid, info=info, arch=inv.arch, calibration=acts.input_for(w))
        predicted += catalog.tensor_bytes(info, p, inv.arch)
    build = make(lambda w: build_linear(quantized[w], weights.get(w.removesuffix("weight") + "bias"), device))
    peak, made, y = peak_bytes(build, forward, device)
    measured = storage_bytes(t for layer_ in made[1].values() for t in layer_.held())
    latency, runs = median_latency_ms(partial(forward, made), device, cancel)
    y = y.to("cpu", torch.float64)
    den = float(ref.norm())
    err = float((y - ref).norm()) / den if den > 0 else 0.0
    layers = list(made[1].values())
    kernels = sorted({layer_.path for layer_ in layers})
    notes = sorted({layer_.note for layer_ in layers if layer_.note})
    return RunResult(pid, predicted, measured, latency, runs, peak, err, " + ".join(kernels), "; ".join(notes))
