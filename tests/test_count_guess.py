"""A bare count ("70B") is shaped like a real Llama-3 model of that size, so its plans track the real model's, and
every output says it is a guess."""
from __future__ import annotations

import pytest

from quantcore.formats.catalog import bits_per_weight, weight_bytes
from quantcore.model.count_model import from_parameter_count
from quantcore.planner.plan import make_plan
from quantcore.planner.plan_json import plan_to_dict
from quantcore.planner.workload import Workload
from quantcore.sources.source import load_model


@pytest.mark.parametrize("n", [50_000_000, 135_000_000, 1_000_000_000, 3_000_000_000, 8_000_000_000,
                               13_000_000_000, 70_000_000_000, 405_000_000_000, 1_000_000_000_000])
def test_guess_is_shaped_like_a_real_dense_model(n: int) -> None:
    inv = from_parameter_count(n)
    a = inv.arch
    assert inv.parameters == n  # exact, with under 3% in an unassigned matrix
    assert sum(t.numel for t in inv.tensors if t.role == "other") < 0.03 * n
    assert a.intermediate_size % 256 == 0  # so llama.cpp's 256-weight k-quant blocks divide every row
    assert a.num_heads & (a.num_heads - 1) == 0 and a.num_kv_heads == min(8, a.num_heads)
    assert a.hidden_size == a.num_heads * a.head_dim and a.num_heads % a.num_kv_heads == 0
    assert any(t.kind == "ffn_down" and t.shape[1] % 256 == 0 for t in inv.tensors)


@pytest.mark.parametrize("count, real", [("8B", "meta-llama/Llama-3.1-8B"), ("70B", "meta-llama/Llama-3.1-70B"),
                                         ("405B", "meta-llama/Llama-3.1-405B")])
def test_guess_plans_like_the_real_llama(count: str, real: str) -> None:
    guess, model = load_model(count), load_model(real, use_hub=False)
    for pid in ("q4_k_m", "q5_k_m", "nf4", "bf16"):
        # the real model has its own parameter count: compare bytes per parameter
        ours = weight_bytes(guess, pid) / guess.parameters
        theirs = weight_bytes(model, pid) / model.parameters
        assert ours == pytest.approx(theirs, rel=0.03), pid
    # the symptom: 23,893-wide MLP rows kept ffn_down in 16-bit, 7.15 bits/weight for q4_k_m
    assert bits_per_weight(guess, "q4_k_m") == pytest.approx(bits_per_weight(model, "q4_k_m"), abs=0.1)
    assert guess.arch.num_kv_heads == model.arch.num_kv_heads == 8


def test_seventy_b_guess_is_about_40_gib_at_q4_k_m_and_splits_like_the_real_one() -> None:
    from quantcore.planner.hardware import find_gpu

    guess = load_model("70B")
    assert 38 * 2**30 < weight_bytes(guess, "q4_k_m") < 42 * 2**30
    plan = make_plan(guess, Workload(engine="vllm"), ("awq-4bit-g128", "bf16"), (find_gpu("a100-80gb-sxm"),))
    # 64 heads: tensor-parallel degrees are powers of two, never the 5/7/14 a 70-head guess gave
    assert {r.gpus[0].placement.gpus for r in plan.rows} <= {1, 2, 4, 8}


def test_every_output_flags_the_guess() -> None:
    plan = make_plan(load_model("70B"), Workload(), ("q4_k_m",), ())
    assert any("guess" in w for w in plan.warnings)
    data = plan_to_dict(plan)
    assert data["model"]["guessed"] is True and any("guess" in w for w in data["warnings"])
    assert any(a.startswith("a guess from a bare count") for a in data["assumptions"])
