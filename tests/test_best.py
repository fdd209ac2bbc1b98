"""Best for this GPU: the k-bit scaling laws' headline (at equal total bits a 4-bit larger model beats an 8-bit
smaller one; sub-4-bit only when the budget forces it), the recommendation never below 4 bits when 4 fit, the CLI."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from quantcore.cli import main
from quantcore.planner import best
from quantcore.planner.advice import best_row, candidates, native_precision, recommendation
from quantcore.planner.hardware import find_gpu
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.bundled import bundled_models
from quantcore.sources.source import load_model


def _pairs(models: list[str], gpu: str = "h100-sxm", budget_gib: float | None = None,
           precisions: tuple[str, ...] | None = None) -> list[best.Pair]:
    g = find_gpu(gpu)
    if budget_gib is not None:  # a card of exactly this much memory (a custom GPU)
        g = replace(g, id="budget", name=f"{budget_gib:g} GiB card", memory_bytes=int(budget_gib * 2**30))
    found = []
    for m in models:
        inv = load_model(m, use_hub=False)
        found += best.pairs(make_plan(inv, Workload(context=2048), precisions, (g,)), 0)
    return best.rank(found)


def _find(ranked: list[best.Pair], model: str, pid: str) -> int:
    return next(i for i, p in enumerate(ranked) if p.model == model and p.precision == pid)


@pytest.mark.parametrize("model_id", ["", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-2-7b-hf"])
def test_on_the_curve_4_bits_is_the_best_use_of_a_fixed_number_of_bits(model_id: str) -> None:
    """The paper's headline on the fitted curve itself: spend the same total bits on 16, 8, 4 or 3 bits per weight
    (int grids, blocks of 128 below 8 bits) and 4 bits buys the largest 16-bit-equivalent model."""
    from quantcore.formats.catalog import get_precision
    from quantcore.planner import noise, quality

    curve = quality.curve(model_id)
    budget = 8e9 * 16  # the bits of an 8B model at 16 bits
    worth = {}
    for pid in ("bf16", "int8", "int4-g128", "int3-g128", "int2-g64"):
        n = noise.relative_noise(noise.rounding_of(pid))
        worth[pid] = curve.equivalent_parameters(budget / get_precision(pid).storage_bits, n)
    assert worth["int4-g128"] > worth["int8"] > worth["bf16"]
    assert worth["int4-g128"] > worth["int3-g128"] and worth["int4-g128"] > worth["int2-g64"]


@pytest.mark.parametrize("small, large, four", [("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "q4_k_m"),
                                                ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "q4_0")])
def test_four_bit_larger_model_ranks_above_eight_bit_smaller_at_equal_total_bits(small: str, large: str,
                                                                                  four: str) -> None:
    ranked = _pairs([small, large])
    big, little = ranked[_find(ranked, large, four)], ranked[_find(ranked, small, "q8_0")]
    # the premise: about the same total model bits (weights within 15% of each other)
    bits_big, bits_little = big.parameters * big.bits_per_weight, little.parameters * little.bits_per_weight
    assert abs(bits_big - bits_little) / bits_little < 0.15
    assert ranked.index(big) < ranked.index(little)
    assert big.equivalent_parameters > little.equivalent_parameters


def test_the_70b_at_4_bits_beats_the_8b_at_16_bits_and_says_why() -> None:
    # 44 GiB: 70B fits at 4 bits (q4_k_m, about 40 GiB) but not at 5 (q5_k_m, about 47.6 GiB)
    ranked = _pairs(["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B"], budget_gib=44)
    top = ranked[0]
    assert top.model == "meta-llama/Llama-3.1-70B" and 4 <= top.nominal_bits < 5
    assert _find(ranked, "meta-llama/Llama-3.1-70B", "q4_k_m") < _find(ranked, "meta-llama/Llama-3.1-8B", "bf16")
    why = best.why(ranked)
    assert why.startswith(f"Llama-3.1-70B at {top.precision} over Llama-3.1-8B at bf16: 4-bit of a larger model")
    assert "k-bit scaling laws" in why


def test_three_bits_and_below_rank_after_every_four_bit_pair_that_fits() -> None:
    ranked = _pairs(["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-70b-hf"],
                    budget_gib=40)
    tiers = [p.tier for p in ranked]
    assert 0 in tiers and 1 in tiers and tiers == sorted(tiers, reverse=True)
    # 70B at q3_k_m would be "worth" more parameters than 13B at 16 bits on the curve, yet it ranks after
    q3 = ranked[_find(ranked, "meta-llama/Llama-2-70b-hf", "q3_k_m")]
    bf = ranked[_find(ranked, "meta-llama/Llama-2-13b-hf", "fp16")]
    assert q3.equivalent_parameters > bf.equivalent_parameters and ranked.index(q3) > ranked.index(bf)


def test_below_four_bits_leads_only_when_the_budget_forces_it() -> None:
    ranked = _pairs(["meta-llama/Llama-2-70b-hf"], budget_gib=34)
    assert ranked and ranked[0].nominal_bits < 4
    assert all(p.nominal_bits < 4 for p in ranked)  # nothing at 4 bits fits 34 GiB
    assert "nothing fits at 4 bits or more" in best.why(ranked)


def test_within_a_model_less_noise_wins_and_ties_go_to_the_checkpoint() -> None:
    ranked = _pairs(["meta-llama/Llama-3.1-8B"], precisions=("bf16", "fp16", "q8_0", "q4_k_m", "q4_0", "int4-g32",
                                                             "int4-g128"))
    order = [p.precision for p in best.distinct(ranked)]
    assert order[0] == "bf16"  # the checkpoint's own 16-bit format before fp16 (same quality)
    assert "fp16" not in order  # a repeat of bf16's quality and memory
    assert order.index("q8_0") < order.index("q4_k_m") < order.index("q4_0")
    assert order.index("int4-g32") < order.index("int4-g128")  # smaller blocks


GPUS = ("t4", "rtx-4090", "a100-40gb-sxm", "h100-sxm")


def test_recommendation_never_picks_sub_4_bit_when_a_4_bit_option_of_the_same_model_fits() -> None:
    gpus = tuple(find_gpu(g) for g in GPUS)
    checked = 0
    for m in bundled_models():
        inv = load_model(m.id, use_hub=False)
        plan = make_plan(inv, Workload(context=min(4096, inv.arch.max_context or 4096) if inv.arch else 4096),
                         None, gpus)
        native = native_precision(inv)
        for i in range(len(gpus)):
            fitting = [r for r in candidates(plan.rows, native) if best.fits_on(r, i)]
            if not any(r.precision.nominal_bits >= 4 for r in fitting):
                continue
            chosen = best_row(fitting, native)
            assert chosen is not None and chosen.precision.nominal_bits >= 4, (m.id, GPUS[i], chosen.precision.id)
            assert f"use {chosen.precision.id} " in recommendation(plan, i)
            checked += 1
    assert checked > 100


def test_family_members_are_the_bundled_sizes() -> None:
    assert set(best.family_models("meta-llama/Llama-3.1-8B")) == {
        "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-405B"}
    assert best.family_models("/some/file.gguf") == ("/some/file.gguf",)


def test_fit_rank_quality_cli(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "--gpu", "h100-sxm", "--rank", "quality", "--model", "meta-llama/Llama-3.1-8B", "--model",
            "meta-llama/Llama-3.1-70B", "--context", "4096"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "llama-3.1: Llama-3.1-70B at q8_0 over Llama-3.1-8B at bf16: 8-bit of a larger model" in out
    assert "arXiv 2212.09720" in out
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (fam,) = data["families"]
    assert fam["family"] == "llama-3.1" and fam["pairs"][0]["model"] == "meta-llama/Llama-3.1-70B"
    keys = [(p["nominal_bits"] >= 4, p["equivalent_parameters"]) for p in fam["pairs"]]
    assert keys == sorted(keys, reverse=True)
    assert main(["fit", "--gpu", "h100-sxm", "--rank", "quality", "--top", "0"]) == 2


def test_fit_rank_quality_over_every_bundled_model_on_a_24_gb_card(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--gpu", "rtx-4090", "--rank", "quality", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fams = {f["family"]: f for f in data["families"]}
    assert fams["llama-3.1"]["pairs"][0]["precision"] == "bf16"  # 8B unquantized; 70B does not fit at 4 bits
    assert fams["qwen3"]["why"].startswith("Qwen3-30B-A3B at ")
    assert all(p["total_bytes"] <= find_gpu("rtx-4090").usable_bytes for f in data["families"] for p in f["pairs"])


def test_a_pair_that_only_just_fits_says_so() -> None:
    gpu = find_gpu("rtx-4090")
    ranked = best.rank([p for m in ("google/gemma-2-9b", "google/gemma-2-27b")
                        for p in best.pairs(make_plan(load_model(m, use_hub=False), Workload(context=4096), None,
                                                      (gpu,)), 0)])
    top = ranked[0]
    assert top.model == "google/gemma-2-27b" and top.tight and top.spare_bytes >= 0
    assert top.spare_bytes == find_gpu("rtx-4090").usable_bytes - top.total_bytes
    why = best.why(ranked)
    assert "leaves only" in why and why.count(".") >= 1 and why.endswith(").")
