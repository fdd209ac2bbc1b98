"""The `quantplanner.plan/1` JSON form of a Plan: integers in bytes, nothing rounded."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from quantcore.planner.advice import recommend
from quantcore.planner.plan import GpuOption, Plan, PlanRow

SCHEMA = "quantplanner.plan/1"


def plan_to_dict(plan: Plan, *, limits: bool = True, lab: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan as the JSON contract of DESIGN.md; `limits` adds each option's largest context and batch; `lab`
    (the quantization lab's results for this model) makes its measured errors the rows' quality evidence."""
    inv, arch = plan.inventory, plan.inventory.arch
    model: dict[str, Any] = {
        "id": inv.id, "source": inv.source, "architecture": inv.architecture,
        "parameters": inv.parameters, "active_parameters": inv.active_parameters,
        "stored_bytes": inv.stored_bytes, "tensors": len(inv.tensors), "quantization": inv.quantization,
        "guessed": inv.source == "count",
    }
    if arch is not None:
        model.update({"layers": arch.num_layers, "hidden_size": arch.hidden_size, "heads": arch.num_heads,
                      "kv_heads": arch.num_kv_heads, "head_dim": arch.head_dim, "vocab_size": arch.vocab_size,
                      "max_context": arch.max_context, "experts": arch.num_experts,
                      "experts_per_token": arch.experts_per_token})
    workload = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(plan.workload).items()}
    if plan.host is not None:
        workload.update({"host_ram_bytes": plan.host.ram_bytes,
                         "host_bandwidth_bytes_per_s": plan.host.bandwidth_bytes_per_s,
                         "pcie_bytes_per_s": plan.host.pcie_bytes_per_s})
    else:
        workload["host_ram_bytes"] = 0  # planned without offloading (--ram 0)
    gpus = plan.rows[0].gpu_list if plan.rows else ()
    recommendations = [recommend(plan, i) for i in range(len(gpus))]
    warnings = list(plan.warnings) + [c for rec in recommendations for c in rec.caveats if c not in plan.warnings]
    data = {
        "schema": SCHEMA,
        "model": model,
        "workload": workload,
        "rows": [row_to_dict(r, limits=limits) for r in plan.rows],
        "skipped": list(plan.skipped),
        "assumptions": list(plan.assumptions),
        "warnings": list(dict.fromkeys(warnings)),
        "context_above_limit": plan.context_above_limit,
        "recommendations": [rec.as_dict() for rec in recommendations],
    }
    add_quality(data, plan, lab)
    return data


def add_quality(data: dict[str, Any], plan: Plan, lab: dict[str, Any] | None = None) -> None:
    """Each row's "quality" object (planner/quality.py): measured, published or estimated, with its source."""
    from quantcore.planner.quality import row_quality

    for d, r in zip(data["rows"], plan.rows):
        d["quality"] = row_quality(plan.inventory, r.precision, lab).as_dict()


def row_to_dict(r: PlanRow, *, limits: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "precision": r.precision.id, "label": r.precision.label, "bits_per_weight": r.bits_per_weight,
        "storage_bits": r.precision.storage_bits, "engine": r.engine, "memory": r.memory.as_dict(),
        "gpus": [gpu_option_to_dict(o, limits=limits) for o in r.gpus]}
    if r.as_stored:
        d["as_stored"] = True
    return d


def gpu_option_to_dict(o: GpuOption, *, limits: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "gpu": o.gpu.id, "name": o.gpu.name, "gpu_memory_bytes": o.gpu.memory_bytes,
        "usable_bytes": o.gpu.usable_bytes, "count": o.count, "fits": o.fits,
        "per_gpu": o.per_gpu.as_dict() if o.per_gpu else None,
        "purchase_usd": o.purchase_usd, "hourly_usd": o.hourly_usd,
        "decode_tokens_per_s": o.decode_tokens_per_s, "prefill_tokens_per_s": o.prefill_tokens_per_s,
        "cost_per_million_tokens": o.cost_per_million_tokens,
        "placement": o.placement.as_dict(), "multi_gpu": {**o.multi_gpu.as_dict(), **o.multi_gpu_figures()}, "speed_basis": o.speed_basis,
    }
    if o.workload.is_training:
        d["training"] = o.training.as_dict() if o.training is not None else None
    if limits:
        d["max_context"] = o.max_context
        d["max_batch"] = o.max_batch
    return d
