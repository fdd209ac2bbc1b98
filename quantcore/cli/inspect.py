"""`inspect` (a model's tensors by role, its architecture, where they came from) and `search` (the Hub)."""
from __future__ import annotations

import argparse
from typing import Any

from quantcore.cli.common import load_model_verbose, print_json
from quantcore.cli.quantize import add_histogram_args, cmd_histogram
from quantcore.errors import BadInputError, one_line
from quantcore.report.render import table
from quantcore.units import format_bytes


def register(sub: Any) -> None:
    insp = sub.add_parser("inspect", help="a model's tensors by role, its architecture and where they came from")
    insp.add_argument("model", help="Hub repo id, local path, bundled id or count (as for plan)")
    insp.add_argument("--tensor", default=None, help="show tensors with this name (exact, else substring; * ? globs)")
    insp.add_argument("--revision", default=None, help="Hub branch, tag or commit (default: main)")
    insp.add_argument("--json", action="store_true")
    add_histogram_args(insp)
    insp.set_defaults(func=cmd_inspect)

    search = sub.add_parser("search", help="search the Hugging Face Hub for models, most downloaded first")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)



def cmd_inspect(args: argparse.Namespace) -> int:
    if args.histogram:
        return cmd_histogram(args)
    inv = load_model_verbose(args.model, args.revision)
    data = inspect_dict(inv, args.tensor)
    if args.json:
        print_json(data)
        return 0
    print(render_inspect(data))
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
    return "\n".join(one_line(line, 100_000) for line in "\n".join(lines).split("\n"))  # names from files: escaped


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
        print_json([{"id": m.id, "downloads": m.downloads, "likes": m.likes, "library": m.library,
                     "pipeline_tag": m.pipeline_tag, "gated": m.gated, "parameters": m.parameters,
                     "last_modified": m.last_modified.isoformat() if m.last_modified else None} for m in found])
        return 0
    if not found:
        print(f"no models match '{one_line(args.query, 200)}'")
        return 0
    print(table(["id", "downloads", "likes", "parameters", "library", "task", "gated", "modified"],
                [[m.id, f"{m.downloads:,}", f"{m.likes:,}", f"{m.parameters:,}" if m.parameters else "-",
                  m.library or "-", m.pipeline_tag or "-", "gated" if m.gated else "",
                  m.last_modified.date().isoformat() if m.last_modified else "-"] for m in found]))
    return 0
