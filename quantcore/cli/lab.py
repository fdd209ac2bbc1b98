"""`testrun` (quantize a layer or block and run it against the original on this machine) and `sensitivity` (every
linear layer x precisions -> output error, with a mixed-precision suggestion sized by the planner)."""
from __future__ import annotations

import argparse
import math
from typing import Any

from quantcore.cli.common import print_json
from quantcore.cli.quantize import ProgressBar
from quantcore.errors import BadInputError
from quantcore.report.render import table
from quantcore.units import format_bytes


def register(sub: Any) -> None:
    run = sub.add_parser("testrun", help="quantize a layer (or an MLP / attention block) and run it against the "
                                         "original: latency, peak memory, output error, measured vs predicted bytes")
    run.add_argument("model", help="local folder, .safetensors or .gguf")
    run.add_argument("--precision", required=True, help="precision id(s), comma-separated")
    run.add_argument("--layer", default=None,
                     help="linear layer (module or weight name, or a unique part of it), or mlp:N / attention:N "
                          "(default: the MLP up-projection of the middle layer)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    run.add_argument("--calibration", choices=("auto", "real", "synthetic"), default="auto",
                     help="test inputs: real activations captured from the model (auto: when it loads here), "
                          "or synthetic with outlier channels")
    run.add_argument("--batch", type=int, default=1, help="sequences per forward pass (default 1)")
    run.add_argument("--tokens", type=int, default=128, help="tokens per sequence (default 128)")
    run.add_argument("--json", action="store_true", help="print the quantplanner.testrun/1 JSON (with a \"lab\" "
                                                         "object that `quantplanner report --lab` takes)")
    run.set_defaults(func=cmd_testrun)

    sens = sub.add_parser("sensitivity", help="every linear layer x precisions -> relative output error, and a "
                                              "mixed-precision suggestion")
    sens.add_argument("model", help="local folder, .safetensors or .gguf")
    sens.add_argument("--precision", required=True, help="precision ids, comma-separated (e.g. nf4,int8)")
    sens.add_argument("--calibration", choices=("auto", "real", "synthetic"), default="auto")
    sens.add_argument("--tokens", type=int, default=256, help="calibration tokens (default 256)")
    sens.add_argument("--budget", type=float, default=5.0,
                      help="the suggestion may grow the weights by at most this many percent (default 5)")
    sens.add_argument("--json", action="store_true")
    sens.set_defaults(func=cmd_sensitivity)


def _ids(text: str) -> list[str]:
    ids = [p.strip() for p in text.split(",") if p.strip()]
    if not ids:
        raise BadInputError("--precision needs at least one precision id")
    return ids


def _fmt(v: float | None, spec: str) -> str:
    return "inf" if v is None or (isinstance(v, float) and math.isinf(v)) else format(v, spec)


def cmd_testrun(args: argparse.Namespace) -> int:
    from quantcore.lab.results import lab_dict
    from quantcore.lab.testrun import testrun

    run = testrun(args.model, _ids(args.precision), args.layer, args.device, args.calibration, args.batch,
                  args.tokens, progress=ProgressBar())
    if args.json:
        print_json({**run.as_dict(), "lab": lab_dict([run])})
        return 0
    print(render_testrun(run))
    return 0 if run.results else 2


def render_testrun(run: Any) -> str:
    rows = [["original (fp32)", "-", f"{run.baseline_bytes:,}", "-", f"{run.baseline_latency_ms:.3f}",
             format_bytes(run.baseline_peak_bytes, "MiB"), "-", "-", "fp32 matmul"]]
    for r in run.results:
        rows.append([r.precision, f"{r.predicted_bytes:,}", f"{r.measured_bytes:,}",
                     "equal" if r.measured_bytes == r.predicted_bytes else f"{r.measured_bytes - r.predicted_bytes:+,}",
                     f"{r.latency_ms:.3f}", format_bytes(r.peak_bytes, "MiB"), f"{r.output_error:.4g}",
                     _fmt(r.output_sqnr_db, ".2f"), r.kernel + (f" ({r.note})" if r.note else "")])
    lines = [f"{run.block.describe()} of {run.model}",
             f"device {run.device.label()}; input {run.batch} x {run.tokens} tokens, {run.calibration}", "",
             table(["precision", "predicted B", "measured B", "match", "latency ms", "peak", "output error",
                    "SQNR dB", "kernel"], rows)]
    lines += [f"{p}: not run ({why})" for p, why in run.skipped]
    return "\n".join(lines)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from quantcore.lab.results import lab_dict
    from quantcore.lab.sensitivity import sensitivity, suggest
    from quantcore.lab.testrun import load_local
    from quantcore.planner.plan import make_plan
    from quantcore.planner.workload import Workload

    if not 0 <= args.budget <= 1000:
        raise BadInputError(f"--budget {args.budget} must be a percentage between 0 and 1000")
    s = sensitivity(args.model, _ids(args.precision), args.calibration, args.tokens, progress=ProgressBar())
    inv, _ = load_local(args.model)
    sug = suggest(s, inv, budget=args.budget / 100)
    size_change = base_bytes = mixed_bytes = None
    if sug is not None:  # the planner sizes the suggestion: one more plan row
        plan = make_plan(inv, Workload(), (sug.base,), mixtures=(sug.mixture,))
        base_bytes, mixed_bytes = plan.rows[0].memory.weights, plan.rows[-1].memory.weights
        size_change = mixed_bytes / base_bytes - 1
    if args.json:
        data = {"schema": "quantplanner.sensitivity/1", **s.as_dict(),
                "suggestion": sug.as_dict(size_change) if sug else None,
                "lab": lab_dict(sensitivity=s, suggestion=sug, size_change=size_change)}
        if sug is not None:
            data["suggestion"].update(base_weight_bytes=base_bytes, mixed_weight_bytes=mixed_bytes)
        print_json(data)
        return 0
    rows = [[name] + [_fmt(v, ".4f") if v is not None else "-" for v in row] for name, row in zip(s.layers, s.values)]
    lines = [f"relative output error of each linear layer of {s.model} ({s.calibration})", "",
             table(["layer"] + list(s.precisions), rows)]
    lines += [f"{p}: not run ({why})" for p, why in s.skipped]
    if sug is not None:
        lines += ["", "suggestion: " + sug.sentence(size_change),
                  f"  weights {base_bytes:,} B at {sug.base} -> {mixed_bytes:,} B mixed (planner row {sug.mixture.id})",
                  "  keep at " + sug.high + ": " + ", ".join(sug.keep)]
    print("\n".join(lines))
    return 0
