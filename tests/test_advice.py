"""The recommendation line: highest quality that fits, never ternary for an ordinary checkpoint, GPU counts."""
from __future__ import annotations

import re

import pytest

from quantcore.planner.advice import recommendation
from quantcore.planner.hardware import find_gpu
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.source import load_model


def _plan(model: str, *gpus: str, **workload: object):  # type: ignore[no-untyped-def]
    return make_plan(load_model(model, use_hub=False), Workload(**workload), None, tuple(find_gpu(g) for g in gpus))


def test_sixteen_bit_when_it_fits_not_fp32() -> None:
    # Llama-3.1-8B in bf16 is ~15 GiB of weights: fits a 24 GiB card; fp32 would add nothing over the bf16 checkpoint
    text = recommendation(_plan("meta-llama/Llama-3.1-8B", "rtx-4090"))
    assert "use bf16" in text and "fp32" not in text


def test_quantized_when_only_that_fits_with_kbit_note() -> None:
    # 8-bit is what fits; among the 8-bit formats the one with the least rounding noise (q8_0: blocks of 32 with
    # their own scale, llama.cpp's published +0.0026 ppl on Llama-3-8B) ranks first (planner/best.rank_key)
    text = recommendation(_plan("meta-llama/Llama-3.1-70B", "h100-sxm"))
    assert "use q8_0" in text
    assert "Dettmers" in text


def test_never_ternary_for_an_ordinary_checkpoint() -> None:
    text = recommendation(_plan("meta-llama/Llama-3.1-70B", "rtx-4090"))
    assert "ternary" not in text and "binary" not in text
    assert "needs 2" in text or "2 of them" in text


def test_training_recommendation_has_no_inference_note() -> None:
    text = recommendation(_plan("meta-llama/Llama-3.1-8B", "rtx-4090", mode="qlora", batch=1, context=1024))
    assert text.startswith("On one") and "Dettmers" not in text


def test_a_four_bit_release_is_served_as_released() -> None:
    # openai/gpt-oss-20b ships its experts in MXFP4 (its config's quantization_config): fp8 would not restore
    # quality the release never had, so its own format is the recommendation.
    plan = _plan("openai/gpt-oss-20b", "rtx-4090")
    assert plan.inventory.quantization == "mxfp4"
    assert "use mxfp4" in recommendation(plan)


def test_fp32_checkpoint_is_served_in_16_bit() -> None:
    assert "use bf16" in recommendation(_plan("openai-community/gpt2", "t4"))


# ------------------------------------------------------------------------------------------ caveats and consistency

def _sized(total: int, spare: float):  # type: ignore[no-untyped-def]
    """A discrete GPU whose usable memory is `total` bytes plus a `spare` share of itself."""
    from dataclasses import replace

    return replace(find_gpu("rtx-4090"), id="sized", name="Sized GPU", memory_bytes=int(total / (1 - spare)))


def test_little_headroom_gets_a_caveat() -> None:
    from quantcore.planner.advice import recommend

    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    total = make_plan(inv, Workload(), ("q6_k",), ()).rows[0].memory.total
    # q6_k just fits with 2% of the card to spare, and nothing better fits
    plan = make_plan(inv, Workload(), ("q6_k", "q4_k_m"), (_sized(total, 0.02),))
    rec = recommend(plan)
    assert rec.row is not None and rec.row.precision.id == "q6_k"
    assert any("to spare" in c and "out of memory" in c for c in rec.caveats)
    assert "Caveat:" in recommendation(plan)
    roomy = recommend(make_plan(inv, Workload(), ("q6_k", "q4_k_m"), (_sized(total, 0.2),)))
    assert not any("to spare" in c for c in roomy.caveats)


def test_below_four_bits_gets_a_caveat_and_the_four_bit_alternative() -> None:
    from quantcore.planner.advice import recommend

    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    q2 = make_plan(inv, Workload(), ("q2_k",), ()).rows[0].memory.total
    plan = make_plan(inv, Workload(), ("q2_k", "q3_k_m", "q4_k_m"), (_sized(q2, 0.1),), host=None)
    rec = recommend(plan)
    assert rec.row is not None and rec.row.precision.nominal_bits < 4
    assert "below 4 bits" in rec.text and any("sweet spot" in c for c in rec.caveats)
    assert "GPUs would hold q4_k_m" in rec.text


@pytest.mark.parametrize("model", ["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B", "Qwen/Qwen3-30B-A3B",
                                   "openai/gpt-oss-20b", "google/gemma-2-27b", "mistralai/Mixtral-8x7B-v0.1"])
def test_recommendation_never_contradicts_the_table(model: str) -> None:
    from quantcore.planner.advice import recommend
    from quantcore.planner.hardware import load_gpus
    from quantcore.units import format_bytes

    gpus = tuple(load_gpus())
    plan = make_plan(load_model(model, use_hub=False), Workload(), None, gpus)
    for i, gpu in enumerate(gpus):
        rec = recommend(plan, i)
        if rec.row is not None:  # "use X": the table shows X as "full GPU" on this card, with the same bytes
            option = rec.row.gpus[i]
            assert option.badge == "full GPU", (model, gpu.id, rec.row.precision.id)
            assert f"use {rec.row.precision.id} " in rec.text
            assert format_bytes(option.per_gpu.total) in rec.text
            assert format_bytes(gpu.usable_bytes - option.per_gpu.total) in rec.text
            better = [r for r in plan.rows if r.gpus[i].badge == "full GPU"
                      and r.precision.nominal_bits > rec.row.precision.nominal_bits
                      and r.precision.family != "lowbit" and r.precision.nominal_bits <= 16]
            native_bits = rec.row.inventory.quantization
            assert not better or native_bits, (model, gpu.id, [r.precision.id for r in better])
        else:  # nothing fits on one: every row the text names shows the placement the text gives it
            assert not any(r.gpus[i].badge == "full GPU" for r in plan.rows if r.precision.family != "lowbit")
            rows = {r.precision.id: r.gpus[i] for r in plan.rows}
            for pid, n, how in re.findall(r"(\S+) needs (\d+) of them \((layer split|tensor parallel)\)", rec.text):
                assert rows[pid].multi_gpu.badge == f"{n} GPUs, {how}", (model, gpu.id)
            for pid, badge in re.findall(r"(\S+) runs on one with (partial offload \d+/\d+ layers)", rec.text):
                assert rows[pid].badge == badge, (model, gpu.id)
