"""Every bundled model plans on a fresh offline machine, with the exact count transformers gives."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantcore.planner.hardware import load_gpus
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.bundled import bundled_models
from quantcore.sources.source import load_model

GOLDEN = {k: v for f in (Path(__file__).parent / "golden").glob("counts_*.json")
          for k, v in json.loads(f.read_text()).items()}


def test_at_least_forty_bundled_models_with_dates() -> None:
    models = bundled_models()
    assert len(models) >= 40
    assert all(m.taken == "2026-11-22" for m in models)


@pytest.mark.parametrize("model_id", [m.id for m in bundled_models()])
def test_bundled_model_plans_offline(model_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    inv = load_model(model_id)
    assert inv.source == "config"
    assert inv.parameters == GOLDEN[model_id]["transformers_parameters"]
    plan = make_plan(inv, Workload(context=min(4096, inv.arch.max_context or 4096)), None, load_gpus()[:3])
    assert len(plan.rows) == 23
    assert all(r.memory.total > r.memory.weights > 0 for r in plan.rows)
