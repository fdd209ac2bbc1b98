"""The report's closing sections: deployment commands per engine, and assumptions with each line's formula."""
from __future__ import annotations

from typing import Any

from quantcore.report import fmt
from quantcore.report.deploy import deployments
from quantcore.report.document import Block, Bullets, Code, Heading, Para, Table, b, code, spans
from quantcore.report.sections import as_layout, extras, recommendations


def deploy_section(data: dict[str, Any], unit: str) -> list[Block]:
    """For each chosen GPU's recommendation: every engine's command, or why it cannot run it."""
    recs = [(i, r) for i, r in enumerate(recommendations(data)) if r.get("precision")]
    if not recs:
        return []
    blocks: list[Block] = [Heading("Deployment"),
                           Para(spans("Commands generated from the plan for the recommended option on each chosen "
                                      "GPU, the engine whose accounting the plan used first. Paths such as ",
                                      code("./model-awq-4bit-g128"), " stand for a checkpoint the note says how "
                                      "to make."), "note")]
    done: set[tuple[str, str, int | None]] = set()
    for i, rec in recs:
        row = next(r for r in data["rows"] if r["precision"] == rec["precision"])
        opt = as_layout(row["gpus"][i], rec)
        key = (rec["precision"], opt["gpu"], opt.get("count"))
        if key in done:
            continue
        done.add(key)
        name = opt.get("name") or opt["gpu"]
        blocks.append(Heading(f"{rec['precision']} on {fmt.count(opt.get('count'))} x {name}", 2))
        for dep in deployments(data, rec["precision"], i, opt):
            if dep.command is None:
                blocks.append(Para(spans(b(dep.title + ": "), "cannot run this combination: ", dep.notes[0]
                                         + ("." if not dep.notes[0].endswith(".") else "")), "note"))
                continue
            blocks.append(Code(dep.command, dep.language, dep.title))  # writers show the title above it
            if dep.notes:
                blocks.append(Bullets(tuple(spans(n) for n in dep.notes)))
    return blocks


def formulas_section(data: dict[str, Any], unit: str) -> list[Block]:
    """Each memory line with its formula and this model's numbers (the app's tooltips), then the assumptions."""
    x = extras(data)
    formulas, rules = x.get("formulas") or {}, x.get("line_rules") or {}
    blocks: list[Block] = [Heading("Assumptions and formulas")]
    recs = [r.get("precision") for r in recommendations(data) if r.get("precision")]
    pid = recs[0] if recs else (data["rows"][0]["precision"] if data["rows"] else None)
    if pid is not None and (formulas or rules):
        row = next(r for r in data["rows"] if r["precision"] == pid)
        worked = formulas.get(pid, {})
        body = []
        for line in ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total"):
            value = row["memory"].get(line, 0)
            if not value and line not in worked:
                continue
            text = worked.get(line) or rules.get(line, "")
            if line in worked and rules.get(line):
                text = f"{rules[line]}. {text[:1].upper()}{text[1:]}"
            body.append((fmt.COMPONENT_NAMES.get(line, line), fmt.size(value, unit), text))
        blocks.append(Heading(f"Memory lines of {pid}", 2))
        blocks.append(Table(("line", unit, "formula with this model's numbers"), tuple(body), "lrl", wrap=(2,),
                            caption="The same text as the app's tooltips."))
        others = [(r["precision"], fmt.size(r["memory"]["weights"], unit), formulas[r["precision"]]["weights"])
                  for r in data["rows"] if r["precision"] in formulas and "weights" in formulas[r["precision"]]
                  and r["precision"] != pid]
        if others:
            blocks.append(Heading("Weights of every precision", 2))
            blocks.append(Table(("precision", unit, "formula"), tuple(others), "lrl", wrap=(2,)))
    assumptions = list(data.get("assumptions") or [])
    if assumptions:
        blocks.append(Heading("Assumptions", 2))
        blocks.append(Bullets(tuple(spans(a) for a in assumptions)))
    return blocks
