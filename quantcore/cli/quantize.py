"""`quantize` (a local model's tensors in one precision: error per tensor, optional output file) and the
`inspect --histogram` view, both behind a terminal progress bar."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from quantcore.cli.common import json_text
from quantcore.errors import BadInputError, one_line
from quantcore.report.lab_render import quantize_dict, render_histogram, render_quantize


def register(sub: Any) -> None:
    quant = sub.add_parser("quantize", help="quantize a local model's tensors; error per tensor, optional output")
    quant.add_argument("model", help="local folder, .safetensors or .gguf")
    quant.add_argument("--precision", required=True, help="precision id (see `quantplanner precisions`)")
    quant.add_argument("--tensor", action="append", default=[], help="tensor name or glob (repeatable; default all)")
    quant.add_argument("--out", type=Path, default=None, help="write the quantized model (.safetensors)")
    quant.add_argument("--json", action="store_true", help="print the quantplanner.quantize/1 JSON")
    quant.set_defaults(func=cmd_quantize)


def add_histogram_args(insp: argparse.ArgumentParser) -> None:
    """The `inspect` options that turn it into a weight histogram."""
    insp.add_argument("--histogram", action="store_true",
                      help="histogram of the weights (local .safetensors / .gguf; --tensor picks a tensor or layer)")
    insp.add_argument("--bins", type=int, default=40, help="histogram bins (default 40)")
    insp.add_argument("--precision", default=None, help="with --histogram: mark this precision's levels")


def cmd_quantize(args: argparse.Namespace) -> int:
    print(quantize_command(args.model, args.precision, args.tensor or None, args.out, args.json))
    return 0


def cmd_histogram(args: argparse.Namespace) -> int:
    print(histogram_command(args.model, args.tensor, args.bins, args.precision, args.json))
    return 0


class ProgressBar:
    """A one-line progress bar on a terminal (nothing when the stream is not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.on = self.stream.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str, fraction: float) -> None:
        if not self.on:
            return
        f = min(max(fraction, 0.0), 1.0)
        filled = int(f * self.width)
        elapsed = time.monotonic() - self.start
        eta = f"{elapsed / f - elapsed:5.0f}s left" if 0 < f < 1 else f"{elapsed:5.1f}s     "
        self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (self.width - filled)}] {f * 100:5.1f}% {eta} {one_line(message, 60)}")
        if f >= 1:
            self.stream.write("\n")
        self.stream.flush()


def _local_model(model: str) -> Path:
    from quantcore.sources.safe_io import exists

    try:
        path = Path(model).expanduser()
    except RuntimeError:  # ~user of an unknown user
        path = Path(model)
    if not exists(path):
        raise BadInputError(f"{model}: give a local folder, .safetensors or .gguf file (weights are read from disk)")
    return path


def histogram_command(model: str, tensor: str | None, bins: int, precision: str | None, as_json: bool) -> str:
    """`inspect MODEL --histogram`: one tensor, a layer (a name part) or the whole model, with a progress bar."""
    from dataclasses import replace

    from quantcore.lab.histogram import histogram_of_model

    path = _local_model(model)
    h = histogram_of_model(path, [tensor] if tensor else None, bins, progress=ProgressBar())
    if precision:
        from quantcore.formats.catalog import get_precision
        from quantcore.lab.levels import quantization_levels
        from quantcore.sources.tensors import list_tensors, select

        get_precision(precision)
        first = select(list_tensors(path), [h.tensors[0]])[0]
        levels, note = quantization_levels(precision, first.load())
        h = replace(h, levels=levels, levels_note=f"{note} ({first.name})")
    if as_json:
        return json_text({"schema": "quantplanner.histogram/1", "model": str(path), **h.as_dict()})
    return render_histogram(h)


def quantize_command(model: str, precision: str, tensors: list[str] | None, out: Path | None, as_json: bool) -> str:
    """`quantize MODEL --precision ID`: quantize tensor by tensor (progress bar), error table or JSON."""
    from quantcore.lab.model_quantize import quantize_model

    path = _local_model(model)
    results = quantize_model(path, precision, tensors, out, progress=ProgressBar())
    data = quantize_dict(str(path), precision, results, str(out) if out else None)
    return json_text(data) if as_json else render_quantize(data)
