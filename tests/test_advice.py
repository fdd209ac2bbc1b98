"""The recommendation line: highest quality that fits, never ternary for an ordinary checkpoint, GPU counts."""
from __future__ import annotations

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
