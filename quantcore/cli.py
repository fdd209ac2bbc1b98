"""The `quantplanner` command line: plan, fit, inspect, quantize, search, gpus, precisions, models; exit 2 on bad input."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.report.render import (
    REPORT_SUFFIXES,
    render_plan_text,
    table,
    write_report,
)
from quantcore.units import format_bytes, parse_bytes


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (exit 2), never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{self.prog}: {message} (see --help)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if not args_list:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(args_list)
        return int(args.func(args) or 0)
    except QuantPlannerError as exc:
        print(f"quantplanner: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quantplanner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="quantplanner", description="Will this model fit, at which precision, on which GPUs?")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)

    plan = sub.add_parser("plan", help="memory, GPU count, cost and speed per precision for one model")
    plan.add_argument("model", help="Hub repo id (org/name, or org/name/file.gguf), local folder, config.json, "
                                    ".safetensors, .gguf, bundled id, or a count like 7B")
    plan.add_argument("--revision", default=None, help="Hub branch, tag or commit (default: main)")
    _workload_args(plan)
    plan.add_argument("--precision", default=None, help="comma-separated precision ids (default: all)")
    plan.add_argument("--gpu", action="append", default=[], help="GPU id or name (repeatable); see `quantplanner gpus`")
    plan.add_argument("--json", action="store_true", help="print the quantplanner.plan/1 JSON")
    plan.add_argument("--report", type=Path, help="write a report: " + " ".join(REPORT_SUFFIXES))
    plan.add_argument("--unit", choices=("GiB", "GB"), default="GiB")
    plan.set_defaults(func=cmd_plan)

    fit = sub.add_parser("fit", help="which models fit on a GPU, at which precision, with how much context")
    fit.add_argument("--gpu", required=True, help="GPU id or name")
    fit.add_argument("--model", action="append", default=[], help="model (repeatable; default: every bundled model)")
    fit.add_argument("--revision", default=None, help="Hub branch, tag or commit of the --model repos")
    fit.add_argument("--count", type=int, default=1, help="number of GPUs (tensor parallel), default 1")
    _workload_args(fit)
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(func=cmd_fit)

    insp = sub.add_parser("inspect", help="a model's tensors by role, its architecture and where they came from")
    insp.add_argument("model", help="Hub repo id, local path, bundled id or count (as for plan)")
    insp.add_argument("--tensor", default=None, help="show tensors with this name (exact, else substring; * ? globs)")
    insp.add_argument("--revision", default=None, help="Hub branch, tag or commit (default: main)")
    insp.add_argument("--json", action="store_true")
    insp.add_argument("--histogram", action="store_true",
                      help="histogram of the weights (local .safetensors / .gguf; --tensor picks a tensor or layer)")
    insp.add_argument("--bins", type=int, default=40, help="histogram bins (default 40)")
    insp.add_argument("--precision", default=None, help="with --histogram: mark this precision's levels")
    insp.set_defaults(func=cmd_inspect)

    quant = sub.add_parser("quantize", help="quantize a local model's tensors; error per tensor, optional output")
    quant.add_argument("model", help="local folder, .safetensors or .gguf")
    quant.add_argument("--precision", required=True, help="precision id (see `quantplanner precisions`)")
    quant.add_argument("--tensor", action="append", default=[], help="tensor name or glob (repeatable; default all)")
    quant.add_argument("--out", type=Path, default=None, help="write the quantized model (.safetensors)")
    quant.add_argument("--json", action="store_true", help="print the quantplanner.quantize/1 JSON")
    quant.set_defaults(func=cmd_quantize)

    search = sub.add_parser("search", help="search the Hugging Face Hub for models, most downloaded first")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    gpus = sub.add_parser("gpus", help="list the GPU catalog (and your own GPUs file)")
    gpus.add_argument("--json", action="store_true")
    gpus.set_defaults(func=cmd_gpus)

    precs = sub.add_parser("precisions", help="list the precision catalog")
    precs.add_argument("--json", action="store_true")
    precs.set_defaults(func=cmd_precisions)

    models = sub.add_parser("models", help="list the bundled models (work offline)")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return p


def _workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="inference", help="inference | full | lora | qlora")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--context", type=int, default=None, help="tokens per sequence (default: 4096 or the model's limit)")
    p.add_argument("--kv-dtype", default="fp16", help="KV cache dtype: fp16 bf16 fp8 int8 int4 q8_0 q4_0 fp32")
    p.add_argument("--optimizer", default="adamw", help="adamw | adamw8bit | sgd | adafactor")
    p.add_argument("--recompute", default="none", help="activation recomputation: none | selective | full")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--lora-targets", default="attn_q,attn_k,attn_v,attn_output",
                   help="comma-separated tensor kinds, or all-linear")
    p.add_argument("--zero", type=int, default=0, help="ZeRO stage 0-3 (3 = FSDP full sharding)")
    p.add_argument("--data-parallel", type=int, default=1, help="GPUs the ZeRO/FSDP states are sharded over")
    p.add_argument("--engine", default="hf", help="runtime overhead preset: none | hf | vllm | llamacpp | sglang")
    p.add_argument("--overhead", default=None, help="explicit runtime overhead per GPU, e.g. 1GiB")
    p.add_argument("--no-flash-attention", action="store_true")


def _workload(args: argparse.Namespace, inv: Any) -> Any:
    from quantcore.planner.workload import Workload

    context = args.context
    if context is None:
        limit = inv.arch.max_context if inv.arch and inv.arch.max_context else 4096
        context = min(4096, limit)
    targets = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    w = Workload(mode=args.mode, batch=args.batch, context=context, kv_dtype=args.kv_dtype,
                 flash_attention=not args.no_flash_attention, optimizer=args.optimizer, recompute=args.recompute,
                 lora_rank=args.lora_rank, lora_targets=targets, zero_stage=args.zero,
                 data_parallel=args.data_parallel, engine=args.engine,
                 overhead_bytes=None if args.overhead is None else parse_bytes(args.overhead))
    from quantcore.formats.catalog import kv_bytes_per_element

    kv_bytes_per_element(w.kv_dtype)  # unknown KV dtype -> one-line error now, not mid-plan
    return w


def _gpus(names: list[str]) -> tuple[Any, ...]:
    from quantcore.planner.hardware import find_gpu, load_gpus

    catalog = load_gpus()
    return tuple(find_gpu(n, catalog) for n in names)


def cmd_plan(args: argparse.Namespace) -> int:
    from quantcore.planner.plan import make_plan
    from quantcore.planner.plan_json import plan_to_dict

    if args.report is not None and args.report.suffix.lower() not in REPORT_SUFFIXES:
        raise BadInputError(f"{args.report}: report type must be one of {', '.join(REPORT_SUFFIXES)}")
    inv = _load(args.model, args.revision)
    workload = _workload(args, inv)
    ids = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
    if args.precision is not None and not ids:
        raise BadInputError("--precision is empty; give ids like bf16,q4_k_m (see `quantplanner precisions`)")
    plan = make_plan(inv, workload, ids, _gpus(args.gpu))
    data = plan_to_dict(plan)
    if args.report is not None:
        write_report(args.report, data, args.unit)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(render_plan_text(data, args.unit))
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from quantcore.planner import memory
    from quantcore.planner.advice import best_row, candidates, native_precision
    from quantcore.planner.plan import make_plan, shard
    from quantcore.sources.bundled import bundled_models
    from quantcore.sources.source import load_model

    (gpu,) = _gpus([args.gpu])
    if args.count < 1 or args.count > 4096:
        raise BadInputError(f"--count {args.count} must be between 1 and 4096")
    names = args.model or [m.id for m in bundled_models()]
    out = []
    for name in names:
        # every bundled model: the bundled configs (no network); named models: the Hub first, like `plan`
        inv = _load(name, args.revision) if args.model else load_model(name, use_hub=False)
        base = _workload(args, inv)
        plan = make_plan(inv, base, None, (gpu,))
        on_gpus = replace(base, tensor_parallel=args.count)
        fitting = []
        for r in plan.rows:
            per = shard(r.memory, inv, args.count)
            fits = per.total <= gpu.usable_bytes
            ctx = memory.max_context(inv, r.precision.id, on_gpus, gpu.usable_bytes, gpu.memory_bytes)
            out.append({"model": inv.id, "parameters": inv.parameters, "precision": r.precision.id, "fits": fits,
                        "total_bytes": per.total, "max_context": ctx})
            if fits:
                fitting.append((r, per.total, ctx))
        native = native_precision(inv)
        allowed = {r.precision.id for r in candidates(plan.rows, native)}
        best = best_row([r for r, _, _ in fitting if r.precision.id in allowed], native)
        if args.json:
            continue
        if best is None:
            print(f"{inv.id}: does not fit on {args.count} x {gpu.name} at any precision at context {base.context:,}")
            continue
        _, total, ctx = next(f for f in fitting if f[0] is best)
        print(f"{inv.id}: fits as {best.precision.id} ({format_bytes(total)} of {format_bytes(gpu.usable_bytes)} "
              f"usable) at context {base.context:,}; max context {ctx:,}")
    if args.json:
        print(json.dumps({"gpu": gpu.id, "count": args.count, "rows": out}, indent=1))
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.planner.hardware import load_gpus

    gpus = load_gpus()
    if args.json:
        print(json.dumps([asdict(g) for g in gpus], indent=1))
        return 0
    rows = [[g.id, g.name, format_bytes(g.memory_bytes), f"{g.bandwidth_bytes_per_s / 1e9:,.0f} GB/s",
             f"{g.bf16_flops / 1e12:,.0f}", f"{g.fp8_flops / 1e12:,.0f}" if g.fp8_flops else "-",
             f"${g.purchase_usd:,.0f}" if g.purchase_usd else "-", f"${g.hourly_usd:,.2f}" if g.hourly_usd else "-",
             "custom" if g.custom else ""] for g in gpus]
    print(table(["id", "name", "memory", "bandwidth", "bf16 TFLOPS", "fp8 TFLOPS", "price", "per hour", ""], rows))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from quantcore.formats.catalog import PRECISIONS

    if args.json:
        print(json.dumps([asdict(p) for p in PRECISIONS], indent=1))
        return 0
    from quantcore.formats.catalog import FAMILY_IDS

    rows = [[p.id, p.label, f"{p.nominal_bits:g}", f"{p.storage_bits:.4g}", p.keeps, p.source] for p in PRECISIONS]
    print(table(["id", "name", "bits", "storage bits/w", "kept in higher precision", "defined by"], rows))
    print("\nThe gptq, awq and int families take their bit width and group size in the id (the ids above are the "
          "defaults):\n" + "\n".join(f"  {f}" for f in FAMILY_IDS) + "\n  e.g. gptq-4bit-g32 gptq-4bit-nogroup "
          "gptq-8bit-g128 awq-4bit-g64 int4-g64")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from quantcore.sources.bundled import bundled_models

    models = bundled_models()
    if args.json:
        print(json.dumps([{"id": m.id, "taken": m.taken} for m in models], indent=1))
        return 0
    print(table(["id", "taken"], [[m.id, m.taken or "-"] for m in models]))
    return 0


def _load(model: str, revision: str | None) -> Any:
    """load_model with a progress line on stderr when it is a terminal (Hub fetches can take seconds)."""
    from quantcore.sources.source import load_model

    progress = _terminal_progress if sys.stderr.isatty() else None
    return load_model(model, (revision or "").strip() or None, progress=progress)


def _terminal_progress(message: str, fraction: float) -> None:
    print(f"\r\033[K{message}", end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.histogram:
        return _inspect_histogram(args)
    inv = _load(args.model, args.revision)
    data = inspect_dict(inv, args.tensor)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(render_inspect(data))
    return 0


def _inspect_histogram(args: argparse.Namespace) -> int:
    from quantcore.report.lab_render import histogram_command

    print(histogram_command(args.model, args.tensor, args.bins, args.precision, args.json))
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from quantcore.report.lab_render import quantize_command

    print(quantize_command(args.model, args.precision, args.tensor or None, args.out, args.json))
    return 0


def inspect_dict(inv: Any, tensor: str | None = None) -> dict[str, Any]:
    """The `quantplanner.inspect/1` JSON: model facts, architecture, tensors grouped by role, matching tensors."""
    from dataclasses import asdict
    from fnmatch import fnmatchcase

    from quantcore.model.inventory import ROLES

    roles = []
    for role in ROLES:
        ts = [t for t in inv.tensors if t.role == role]
        if ts:
            roles.append({"role": role, "tensors": sum(t.count for t in ts), "entries": len(ts),
                          "parameters": sum(t.numel for t in ts) if role != "buffer" else 0,
                          "stored_bytes": sum(t.stored_bytes for t in ts)})
    tensors = list(inv.tensors)
    if tensor is not None:
        if any(c in tensor for c in "*?["):
            tensors = [t for t in inv.tensors if fnmatchcase(t.name, tensor)]
        else:
            tensors = [t for t in inv.tensors if t.name == tensor] or [t for t in inv.tensors if tensor in t.name]
        if not tensors:
            examples = ", ".join(t.name for t in inv.tensors[:3])
            raise BadInputError(f"no tensor matches '{tensor}' in {inv.id} ({len(inv.tensors)} tensors, e.g. "
                                f"{examples}); use `inspect {inv.id} --json` to list them")
    return {
        "schema": "quantplanner.inspect/1",
        "model": {"id": inv.id, "source": inv.source, "architecture": inv.architecture,
                  "parameters": inv.parameters, "active_parameters": inv.active_parameters,
                  "stored_bytes": inv.stored_bytes, "tensors": len(inv.tensors), "quantization": inv.quantization},
        "arch": asdict(inv.arch) if inv.arch is not None else None,
        "roles": roles,
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "role": t.role, "kind": t.kind,
                     "layer": t.layer, "count": t.count, "parameters": t.numel if t.role != "buffer" else 0,
                     "stored_bytes": t.stored_bytes} for t in tensors],
        "notes": list(inv.notes),
    }


_SOURCES = {"safetensors": "exact, from safetensors headers", "gguf": "exact, from a GGUF header",
            "config": "analytic, from config.json", "count": "a guess from a bare parameter count"}


def render_inspect(data: dict[str, Any]) -> str:
    m, a = data["model"], data["arch"]
    lines = [f"model         {m['id']}", f"source        {m['source']} ({_SOURCES.get(m['source'], '')})"]
    if a:
        facts = [f"{a['num_layers']} layers", f"hidden {a['hidden_size']:,}",
                 f"{a['num_heads']} heads ({a['num_kv_heads']} KV, head_dim {a['head_dim']})",
                 f"vocab {a['vocab_size']:,}", f"context {a['max_context']:,}"]
        if a["num_experts"]:
            facts.append(f"{a['num_experts']} experts, {a['experts_per_token']} per token")
        if a["sliding_window"]:
            facts.append(f"sliding window {a['sliding_window']:,}")
        if a["kv_lora_rank"]:
            facts.append(f"MLA rank {a['kv_lora_rank']}")
        lines.append(f"architecture  {a['model_type']}: " + ", ".join(facts))
    lines.append(f"parameters    {m['parameters']:,}" + (
        f" ({m['active_parameters']:,} active per token)" if m["active_parameters"] != m["parameters"] else ""))
    lines.append(f"stored        {m['stored_bytes']:,} bytes ({format_bytes(m['stored_bytes'])})")
    lines.append(f"quantization  {m['quantization'] or 'none (checkpoint dtype)'}")
    lines.append("")
    lines.append(table(["role", "tensors", "parameters", "stored bytes"],
                       [[r["role"], f"{r['tensors']:,}", f"{r['parameters']:,}", f"{r['stored_bytes']:,}"]
                        for r in data["roles"]]))
    if len(data["tensors"]) < m["tensors"] or m["tensors"] <= 0:
        lines.append("")
        lines.append(table(["tensor", "shape", "dtype", "role", "kind", "layer", "stored bytes"],
                           [_tensor_row(t) for t in data["tensors"]]))
    if data["notes"]:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in data["notes"])
    return "\n".join(lines)


def _tensor_row(t: dict[str, Any]) -> list[str]:
    shape = "x".join(map(str, t["shape"])) + (f" (x{t['count']})" if t["count"] > 1 else "")
    layer = "-" if t["layer"] is None else str(t["layer"])
    return [t["name"], shape, t["dtype"], t["role"], t["kind"], layer, f"{t['stored_bytes']:,}"]


def cmd_search(args: argparse.Namespace) -> int:
    from quantcore.sources.hub import search_models

    if args.limit < 1 or args.limit > 1000:
        raise BadInputError(f"--limit {args.limit} must be between 1 and 1000")
    found = search_models(args.query, args.limit)
    if args.json:
        print(json.dumps([{"id": m.id, "downloads": m.downloads, "likes": m.likes, "library": m.library,
                           "pipeline_tag": m.pipeline_tag, "gated": m.gated, "parameters": m.parameters,
                           "last_modified": m.last_modified.isoformat() if m.last_modified else None}
                          for m in found], indent=1))
        return 0
    if not found:
        print(f"no models match '{args.query}'")
        return 0
    print(table(["id", "downloads", "likes", "parameters", "library", "task", "gated", "modified"],
                [[m.id, f"{m.downloads:,}", f"{m.likes:,}", f"{m.parameters:,}" if m.parameters else "-",
                  m.library or "-", m.pipeline_tag or "-", "gated" if m.gated else "",
                  m.last_modified.date().isoformat() if m.last_modified else "-"] for m in found]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
