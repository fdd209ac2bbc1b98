"""What a report needs beyond `plan --json`, added to the plan dict under the new key "report" (and "lab").

The renderers read only the resulting dict, so a plan saved with `--report PLAN.json` re-renders identically:
curves, the catalog-wide fit heatmap, formulas per line, recommendations, date, version and the command are
computed here once, from the Plan, and stored.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

import quantcore
from quantcore.planner import advice
from quantcore.planner.explain import explain
from quantcore.planner.hardware import GPU, load_gpus
from quantcore.planner.plan import Plan, PlanRow, context_points, make_plan, memory_curve
from quantcore.planner.plan_json import plan_to_dict

REPORT_SCHEMA = "quantplanner.report/1"
CURVE_POINTS = 32

# The general rule of each memory line (the per-model formulas come from planner.explain where it has them).
LINE_RULES = {
    "weights": "sum over the model's tensors of their bytes in this precision, block scales and zero-points "
               "included; tensors the format's own tool keeps in 16-bit stay 16-bit",
    "kv_cache": "2 (K and V) x attention layers x KV heads x head_dim x context x batch x bytes of the KV dtype; "
                "sliding-window layers hold at most the window; MLA holds one latent per token",
    "activations": "peak transient of one layer's forward pass (inference), or the activations kept for the "
                   "backward pass (training)",
    "gradients": "gradients of the trainable weights as the training recipe keeps them; sharded by ZeRO stage 2+",
    "optimizer": "optimizer states of the trainable weights (AdamW: two moments, plus a master copy under mixed "
                 "precision); sharded by ZeRO stage 1+",
    "adapters": "LoRA adapters: rank x (in + out) per targeted matrix",
    "overhead": "runtime overhead of the engine (CUDA context, allocator slack, reserved share), per GPU",
    "total": "the sum of the lines: what one GPU would need for the whole model before any split",
}


def report_dict(plan: Plan, *, command: str = "", revision: str | None = None,
                precisions_requested: Sequence[str] | None = None, lab: dict[str, Any] | None = None,
                generated: _dt.datetime | None = None, unit: str = "GiB",
                catalog: tuple[GPU, ...] | None = None) -> dict[str, Any]:
    """plan_to_dict(plan) plus "report" (and "lab" when given): everything a report shows, nothing recomputed later.

    plan: the plan of the chosen GPUs (rows[i].gpus in the order chosen).
    command: the CLI command that regenerates the report.
    catalog: GPUs of the fit heatmap (default: the whole catalog, the user's own GPUs included).
    """
    data = plan_to_dict(plan, lab=lab)
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc).replace(microsecond=0)
    inv = plan.inventory
    native = advice.native_precision(inv)
    gpus = plan.rows[0].gpu_list if plan.rows else ()
    data["report"] = {
        "schema": REPORT_SCHEMA,
        "generated": when.isoformat().replace("+00:00", "Z"),
        "quantplanner_version": quantcore.__version__,
        "revision": revision,
        "command": command,
        "unit": unit,
        "precisions_requested": list(precisions_requested) if precisions_requested else None,
        "native_precision": native,
        "parameters_by_role": _by_role(inv.tensors, lambda t: t.numel),
        "tensors_by_role": _by_role(inv.tensors, lambda t: 1),
        "precisions": {r.precision.id: _precision_facts(r) for r in plan.rows},
        "recommendations": [_recommendation(plan, i, native) for i in range(len(gpus))],
        "curves": _curves(plan),
        "fit_heatmap": _heatmap(plan, catalog),
        "formulas": {r.precision.id: _formulas(plan, r) for r in plan.rows},
        "line_rules": dict(LINE_RULES),
    }
    if lab:
        data["lab"] = lab
    return data


def _by_role(tensors: Sequence[Any], value: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tensors:
        if t.role != "buffer":
            out[t.role] = out.get(t.role, 0) + value(t)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _precision_facts(row: PlanRow) -> dict[str, Any]:
    p = row.precision
    return {"family": p.family, "nominal_bits": p.nominal_bits, "block_size": p.block_size, "keeps": p.keeps,
            "source": p.source, "compute": p.compute}


def _recommendation(plan: Plan, gpu_index: int, native: str) -> dict[str, Any]:
    """The precision (and GPU count) the report recommends on the plan's GPU number gpu_index.

    Fits on one GPU ("full GPU"): the planner's own recommendation (advice.recommend), so the report never
    contradicts the app or the CLI. Else the fewest GPUs that hold everything (no partial offload: its speed is a
    fallback, not a plan) among the precisions of 4 bits or more (sub-4-bit only when nothing else fits), and the
    highest quality among those needing that many; "layout": "multi_gpu" says its figures are that layout's.
    """
    gpu = plan.rows[0].gpu_list[gpu_index]
    rec = advice.recommend(plan, gpu_index)
    if rec.row is not None:
        return {"gpu": gpu.id, "precision": rec.row.precision.id, "count": 1, "layout": "placement",
                "text": advice.recommendation(plan, gpu_index)}
    rows = advice.candidates(plan.rows, native)
    placed = [r for r in rows if r.multi_gpu[gpu_index].gpus]
    good = [r for r in placed if r.precision.nominal_bits >= 4] or placed
    best, fewest = None, None
    if good:
        fewest = min(r.multi_gpu[gpu_index].gpus or 0 for r in good)
        best = advice.best_row([r for r in good if r.multi_gpu[gpu_index].gpus == fewest], native)
    return {"gpu": gpu.id, "precision": best.precision.id if best else None, "count": fewest if best else None,
            "layout": "multi_gpu", "text": advice.recommendation(plan, gpu_index)}


def _curves(plan: Plan) -> dict[str, Any]:
    """Total memory against context for every row, 0 .. the model's limit (or twice the context), on the first GPU."""
    inv, w = plan.inventory, plan.workload
    limit = inv.arch.max_context if inv.arch and inv.arch.max_context else max(2 * w.context, 8192)
    contexts = context_points(max(limit, w.context), CURVE_POINTS)
    gpus = plan.rows[0].gpu_list if plan.rows else ()
    gpu_memory = gpus[0].memory_bytes if gpus else None
    return {"contexts": list(contexts), "current": w.context, "model_limit": limit,
            "gpu_memory_bytes": gpu_memory,
            "series": {r.precision.id: list(memory_curve(inv, r.precision.id, w, contexts, gpu_memory))
                       for r in plan.rows}}


def _heatmap(plan: Plan, catalog: tuple[GPU, ...] | None) -> dict[str, Any]:
    """GPUs needed for every catalog GPU x planned precision (the app's Fit tab)."""
    gpus = catalog if catalog is not None else load_gpus()
    ids = tuple(r.precision.id for r in plan.rows)
    full = make_plan(plan.inventory, plan.workload, ids or None, gpus) if ids and gpus else None
    rows = full.rows if full else ()
    return {"gpus": [{"id": g.id, "name": g.name, "memory_bytes": g.memory_bytes, "usable_bytes": g.usable_bytes}
                     for g in gpus],
            "precisions": [r.precision.id for r in rows],
            "counts": [[r.counts[j] for r in rows] for j in range(len(gpus))]}


def _formulas(plan: Plan, row: PlanRow) -> dict[str, str]:
    """Each line of this row with its formula and this model's numbers (the app's tooltips)."""
    gpus = row.gpu_list
    return dict(explain(plan.inventory, row.precision.id, plan.workload, gpus[0].memory_bytes if gpus else None))

