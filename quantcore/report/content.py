"""A plan dict (+ lab results) as a Document: the sections every report format shares, in order."""
from __future__ import annotations

from typing import Any

from quantcore.errors import BadInputError
from quantcore.report import fmt
from quantcore.report.appendix import deploy_section, formulas_section
from quantcore.report.document import Block, Document
from quantcore.report.lab_report import lab_section
from quantcore.report.quality_report import quality_section
from quantcore.report.sections import (
    cost_section,
    extras,
    fit_section,
    memory_section,
    model_section,
    summary,
    title_facts,
)

PLAN_SCHEMA = "quantplanner.plan/1"


def check_plan(data: Any) -> dict[str, Any]:
    """The dict if it is a quantplanner.plan/1 object a report can be made of, else a one-line BadInputError."""
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
        raise BadInputError(f"not a {PLAN_SCHEMA} plan (make one with `quantplanner plan MODEL --report plan.json`)")
    for key, kind in (("model", dict), ("workload", dict), ("rows", list)):
        if not isinstance(data.get(key), kind):
            raise BadInputError(f"plan has no valid '{key}' ({kind.__name__} expected)")
    if not isinstance(data["model"].get("id"), str):
        raise BadInputError("plan's model has no id")
    for r in data["rows"]:
        if not isinstance(r, dict) or not isinstance(r.get("memory"), dict) or not isinstance(r.get("gpus"), list):
            raise BadInputError("plan rows need 'precision', 'memory' and 'gpus'")
    return data


def build_document(data: dict[str, Any], unit: str | None = None) -> Document:
    """Every section of the report, from the plan dict alone."""
    check_plan(data)
    x = extras(data)
    unit = unit or x.get("unit") or "GiB"
    if unit not in ("GiB", "GB"):
        raise BadInputError(f"unit {unit!r}: use GiB or GB")
    m = data["model"]
    blocks: list[Block] = []
    blocks += title_facts(data, unit)
    blocks += summary(data, unit)
    blocks += memory_section(data, unit)
    blocks += quality_section(data, unit)
    blocks += fit_section(data, unit)
    blocks += cost_section(data, unit)
    blocks += model_section(data, unit)
    blocks += lab_section(data, unit)
    blocks += deploy_section(data, unit)
    blocks += formulas_section(data, unit)
    gpus = fmt.gpu_names(data)
    subtitle = " · ".join(p for p in (
        f"{fmt.params(m['parameters'])} parameters", str(m.get("architecture", "")),
        str(data["workload"].get("mode", "inference")),
        ("on " + ", ".join(fmt.short_gpu(g) for g in gpus)) if gpus else "") if p)
    return Document(title=f"Planning report: {m['id']}", subtitle=subtitle, model_id=str(m["id"]),
                    generated=str(x.get("generated", "")), version=str(x.get("quantplanner_version", "")),
                    blocks=tuple(blocks), meta={"unit": unit})
