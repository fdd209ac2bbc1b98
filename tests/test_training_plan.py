"""Training plans as practitioners run them: recipes, checkpointing defaults, throughput, time and cost."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from quantcore.cli import main
from quantcore.errors import BadInputError
from quantcore.planner.hardware import find_gpu, load_gpus
from quantcore.planner.memory import memory_breakdown
from quantcore.planner.plan import make_plan
from quantcore.planner.plan_json import plan_to_dict
from quantcore.planner.train_speed import training_estimate
from quantcore.planner.workload import Workload
from quantcore.sources.source import load_model


@pytest.fixture(scope="module")
def llama8b():
    return load_model("meta-llama/Llama-3.1-8B", None)


@pytest.fixture(scope="module")
def h100():
    return find_gpu("h100-sxm", load_gpus())


@pytest.mark.parametrize("model, published_gpu_hours", [
    # Meta's Llama 3.1 model card: 30.84M H100-80GB GPU hours for the 405B, 7.0M for the 70B, pre-trained on
    # ~15.6T tokens (the card's "over 15 trillion"; the Llama 3 paper gives 15.6T for the 405B).
    ("meta-llama/Llama-3.1-405B", 30.84e6),
    ("meta-llama/Llama-3.1-70B", 7.0e6),
])
def test_training_gpu_hours_near_metas_published_figures(model, published_gpu_hours, h100):
    inv = load_model(model, None)
    est = training_estimate(h100, 1, inv.active_parameters, "full", "none", "bf16", 15_600_000_000_000, 1)
    # at the stated 40% MFU: -14% (405B) and -34% (70B, which Meta ran at a lower MFU)
    assert est.gpu_hours == pytest.approx(published_gpu_hours, rel=0.35)
    assert est.gpu_hours == pytest.approx(est.hours)  # one GPU: GPU-hours are hours


def test_recomputation_costs_a_third_more_and_lora_skips_weight_gradients(llama8b, h100):
    n = llama8b.active_parameters

    def rate(mode: str, recompute: str) -> float:
        return training_estimate(h100, 2, n, mode, recompute, "bf16", 10**9, 2).tokens_per_s
    assert rate("full", "none") / rate("full", "full") == pytest.approx(8 / 6)
    assert rate("lora", "none") / rate("full", "none") == pytest.approx(6 / 4)
    est = training_estimate(h100, 2, n, "full", "none", "bf16", 10**9, 2)
    assert est.hours == pytest.approx(2 * 10**9 / est.tokens_per_s / 3600)
    assert est.gpu_hours == pytest.approx(2 * est.hours)
    assert est.cost_usd == pytest.approx(est.gpu_hours * h100.hourly_usd)


def test_training_plans_show_training_speed_not_decode(llama8b, h100):
    plan = make_plan(llama8b, Workload(mode="lora", context=2048), ("bf16",), (h100,))
    opt = plan.rows[0].gpus[0]
    assert opt.decode_tokens_per_s is None and opt.cost_per_million_tokens is None
    assert opt.prefill_tokens_per_s is None
    d = plan_to_dict(plan, limits=False)["rows"][0]["gpus"][0]
    assert set(d["training"]) == {"tokens_per_s", "hours", "gpu_hours", "cost_usd"}
    inference = plan_to_dict(make_plan(llama8b, Workload(context=2048), ("bf16",), (h100,)), limits=False)
    assert "training" not in inference["rows"][0]["gpus"][0]


def test_full_fine_tune_is_planned_in_bf16_and_fp32_only_on_request(llama8b, h100):
    plan = make_plan(llama8b, Workload(mode="full", context=1024), gpus=(h100,))
    assert "fp32" in plan.skipped and {r.precision.id for r in plan.rows} >= {"bf16"}
    asked = make_plan(llama8b, Workload(mode="full", context=1024), ("fp32",), (h100,))
    assert [r.precision.id for r in asked.rows] == ["fp32"]


def test_lora_and_qlora_default_to_gradient_checkpointing(llama8b):
    w = Workload(mode="qlora", context=4096)
    assert w.recompute == "auto" and w.effective_recompute == "full"
    assert Workload(mode="full").effective_recompute == "none"
    auto = memory_breakdown(llama8b, "nf4", w)
    off = memory_breakdown(llama8b, "nf4", replace(w, recompute="none"))
    assert auto.activations < off.activations / 3
    # issue 13: QLoRA of Llama-3.1-8B at 4k context fits a 24 GB card with checkpointing
    assert auto.total < 24 * 2**30


def test_recipes_change_what_a_full_fine_tune_keeps(llama8b):
    n = llama8b.parameters
    w = Workload(mode="full", context=512, engine="none")
    lines = {r: memory_breakdown(llama8b, "bf16", replace(w, recipe=r)) for r in ("bf16-mixed", "bf16-pure",
                                                                               "hf-trainer")}
    assert (lines["bf16-mixed"].weights, lines["bf16-mixed"].gradients, lines["bf16-mixed"].optimizer) == \
        (lines["bf16-mixed"].weights, 4 * n, 12 * n)
    assert (lines["bf16-pure"].gradients, lines["bf16-pure"].optimizer) == (2 * n, 4 * n)
    assert (lines["hf-trainer"].gradients, lines["hf-trainer"].optimizer) == (4 * n, 8 * n)
    assert lines["hf-trainer"].weights == 4 * n


def test_workload_rejects_unknown_recipe_and_bad_dataset():
    with pytest.raises(BadInputError, match="recipe"):
        Workload(mode="full", recipe="fp64")
    with pytest.raises(BadInputError, match="epochs"):
        Workload(mode="full", epochs=0)


def test_cli_plans_a_recipe_with_training_columns(capsys):
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--mode", "full", "--recipe", "bf16-pure", "--gpu",
                 "h100-sxm", "--dataset-tokens", "1000000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workload"]["recipe"] == "bf16-pure" and data["workload"]["dataset_tokens"] == 1_000_000
    g = data["rows"][0]["gpus"][0]
    assert g["training"]["tokens_per_s"] > 0 and g["decode_tokens_per_s"] is None
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--mode", "full", "--recipe", "fp64"]) == 2
