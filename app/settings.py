"""Persist the last request, window state, units and theme with QSettings."""
from __future__ import annotations

import json
from dataclasses import asdict, fields

from PySide6.QtCore import QByteArray, QSettings

from app.state import Request
from quantcore.errors import QuantPlannerError
from quantcore.formats.catalog import precision_ids
from quantcore.planner.workload import Workload

ORG, APP = "QuantPlanner", "QuantPlanner"


def settings() -> QSettings:
    return QSettings(ORG, APP)


def save_request(s: QSettings, request: Request) -> None:
    s.setValue("model", request.model)
    s.setValue("workload", json.dumps(asdict(request.workload)))
    s.setValue("engine_auto", True)  # saved by a version whose default engine is "auto"
    s.setValue("gpus", json.dumps(list(request.gpus)))
    s.setValue("unit", request.unit)
    s.setValue("hidden_precisions", json.dumps(list(request.hidden_precisions)))


def load_request(s: QSettings) -> Request:
    """The saved request; any part that no longer makes sense falls back to the default."""
    default = Request()
    model = str(s.value("model", default.model) or default.model)
    workload = default.workload
    try:
        raw = json.loads(str(s.value("workload", "{}")))
        known = {f.name for f in fields(Workload)}
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        if data.get("engine") == "hf" and str(s.value("engine_auto", "false")).lower() != "true":
            data["engine"] = "auto"  # "hf" was the only default before engine auto; the new default replaces it
        workload = Workload(**data)
    except (ValueError, TypeError, AttributeError, RecursionError, QuantPlannerError):  # a damaged settings file
        pass
    try:
        gpus = tuple(str(g) for g in json.loads(str(s.value("gpus", "[]")))) or default.gpus
    except (ValueError, TypeError, AttributeError, RecursionError):
        gpus = default.gpus
    unit = str(s.value("unit", default.unit))
    try:
        hidden = tuple(str(p) for p in json.loads(str(s.value("hidden_precisions", "[]"))) if p in precision_ids())
    except (ValueError, TypeError, AttributeError, RecursionError):
        hidden = ()
    return Request(model=model, workload=workload, gpus=gpus, unit=unit if unit in ("GiB", "GB") else "GiB",
                   hidden_precisions=hidden)


def save_window(s: QSettings, geometry: QByteArray, state: QByteArray) -> None:
    s.setValue("geometry", geometry)
    s.setValue("window_state", state)


def theme(s: QSettings) -> str:
    return str(s.value("theme", "system"))


MAX_RECENT = 10


def recent(s: QSettings) -> list[tuple[str, bool]]:
    """Recently loaded models, newest first, with whether they came from the Hub."""
    try:
        items = json.loads(str(s.value("recent_models", "[]")))
        return [(str(spec), bool(use_hub)) for spec, use_hub in items][:MAX_RECENT]
    except (ValueError, TypeError, AttributeError, RecursionError):
        return []


def add_recent(s: QSettings, spec: str, use_hub: bool) -> None:
    items = [(spec, use_hub)] + [r for r in recent(s) if r[0] != spec]
    s.setValue("recent_models", json.dumps(items[:MAX_RECENT]))
