"""GPU catalog, user GPUs file, lookup and roofline speed/cost, checked against datasheets and published figures."""
from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from quantcore.errors import BadInputError, QuantPlannerError, UnknownGPUError
from quantcore.planner import hardware, speed
from quantcore.planner.hardware import (
    CATALOG_KEYS,
    GPU,
    catalog_gpus,
    find_gpu,
    load_gpus,
    save_user_gpu,
)
from quantcore.sources.resources import resources_dir

GiB = 2**30

REQUIRED_IDS = (
    "a100-40gb-sxm", "a100-80gb-sxm", "a100-80gb-pcie", "h100-pcie", "h100-sxm", "h200", "b200", "l4", "l40s",
    "a10g", "a10", "t4", "v100-16gb", "v100-32gb", "mi300x", "mi250x", "rtx-3090", "rtx-4090", "rtx-5090",
    "rtx-4060ti-16gb", "rtx-a6000", "rtx-6000-ada", "m2-ultra-192gb", "m3-max-128gb", "m4-max-128gb",
)


@pytest.fixture(autouse=True)
def no_user_file(tmp_path, monkeypatch):
    """Keep the developer's own ~/.config/quantplanner/gpus.toml out of these tests."""
    monkeypatch.setenv(hardware.USER_FILE_ENV, str(tmp_path / "absent-gpus.toml"))


def gpu(gid: str) -> GPU:
    return find_gpu(gid, catalog_gpus())


# ------------------------------------------------------------------------------------------------ catalog


def test_catalog_has_every_required_gpu_with_every_field():
    raw = tomllib.loads((resources_dir() / "gpus.toml").read_text())["gpu"]
    assert len(raw) >= 24
    ids = [t["id"] for t in raw]
    assert len(set(ids)) == len(ids)
    assert set(REQUIRED_IDS) <= set(ids)
    for t in raw:
        for key in CATALOG_KEYS:
            present = ("memory_gib" in t) != ("memory_gb" in t) if key == "memory" else key in t
            assert present, f"{t['id']} lacks {key}"
        assert t["date"] == "2026-11"
        assert t["source"].strip()
    gpus = catalog_gpus()
    assert [g.id for g in gpus] == ids
    assert all(g.unified_memory == (g.vendor == "Apple") for g in gpus)


@pytest.mark.parametrize("gid, bandwidth, memory, source", [
    ("h100-sxm", 3.35e12, 80 * GiB, "NVIDIA H100 datasheet, SXM: 80GB HBM3, 3.35TB/s"),
    ("a100-80gb-sxm", 2.039e12, 80 * GiB, "NVIDIA A100 datasheet, 80GB SXM: 2,039GB/s (nvidia-smi: 81920 MiB)"),
    ("rtx-4090", 1008e9, 24 * GiB, "NVIDIA Ada whitepaper, RTX 4090: 24GB GDDR6X, 1008 GB/s"),
    ("mi300x", 5.3e12, 192 * GiB, "AMD Instinct MI300X data sheet: 192GB HBM3, 5.3 TB/s"),
    ("t4", 320e9, 16 * GiB, "NVIDIA T4 datasheet: 16GB GDDR6, 320+ GB/s"),
])
def test_memory_and_bandwidth_match_datasheets(gid, bandwidth, memory, source):
    g = gpu(gid)
    assert g.bandwidth_bytes_per_s == pytest.approx(bandwidth, rel=1e-9), source
    assert g.memory_bytes == memory, source
    assert g.usable_bytes == memory  # discrete: all of it


@pytest.mark.parametrize("gid, field, dense_tflops, source", [
    # NVIDIA H100 datasheet lists BF16 1,979 TFLOPS "with sparsity"; the Hopper whitepaper gives 989.4 dense.
    ("h100-sxm", "bf16_flops", 989.4, "NVIDIA H100 datasheet / Hopper whitepaper"),
    ("h100-sxm", "fp8_flops", 1978.9, "NVIDIA H100 datasheet: FP8 3,958* with sparsity"),
    # NVIDIA A100 datasheet: BF16 312 | 624*, INT8 624 | 1,248* TOPS.
    ("a100-80gb-sxm", "bf16_flops", 312, "NVIDIA A100 datasheet"),
    ("a100-80gb-sxm", "int8_ops", 624, "NVIDIA A100 datasheet"),
    # NVIDIA L4 datasheet: FP16 242* teraFLOPS with sparsity.
    ("l4", "fp16_flops", 121, "NVIDIA L4 datasheet"),
    # AMD MI300X data sheet: FP16 1,307.4 TFLOPS (2,614.9 with sparsity).
    ("mi300x", "fp16_flops", 1307.4, "AMD MI300X data sheet"),
    # NVIDIA Ada whitepaper, RTX 4090: FP16 tensor with FP32 accumulate 165.2 dense (330.4 sparse).
    ("rtx-4090", "fp16_flops", 165.2, "NVIDIA Ada whitepaper"),
])
def test_tensor_rates_are_dense(gid, field, dense_tflops, source):
    assert getattr(gpu(gid), field) == pytest.approx(dense_tflops * 1e12, rel=1e-3), source


def test_dense_and_sparse_figures_are_not_mixed():
    """Every vendor doubles the rate from 16-bit to 8-bit matmuls, dense to dense; a sparse figure stored for
    one of them breaks the 2x ratio. And no NVIDIA GPU reaches 1 PFLOPS dense 16-bit before Blackwell (B200)."""
    for g in catalog_gpus():
        if g.fp8_flops:
            assert g.fp8_flops / g.fp16_flops == pytest.approx(2, rel=0.02), g.id
        assert g.bf16_flops in (0, g.fp16_flops), g.id
        assert g.fp16_flops >= g.fp32_flops or g.vendor == "Apple", g.id
        if g.vendor == "NVIDIA" and g.id != "b200":
            assert g.fp16_flops < 1000e12, g.id


def test_unified_memory_share_matches_what_macos_reports():
    # Metal's recommendedMaxWorkingSetSize as logged by llama.cpp / ollama:
    # 96 GB M2 Max -> 73728.00 MB (ggml-org/llama.cpp#3213); 32 GB M2 Max -> 21845.34 MB (ollama/ollama#434);
    # 16 GB M1 Pro -> 10922.67 MB (abetlen/llama-cpp-python#687); M2 Ultra 192 GB -> 144 GB (raullenchai/Rapid-MLX#183).
    mac = gpu("m2-ultra-192gb")
    assert mac.usable_bytes == 144 * GiB
    for ram_gib, reported_mib in ((96, 73728.00), (32, 21845.34), (16, 10922.67)):
        g = replace(mac, memory_bytes=ram_gib * GiB)
        assert g.usable_bytes / 2**20 == pytest.approx(reported_mib, abs=0.01)
    assert replace(mac, usable_fraction=0.9).usable_bytes == int(0.9 * 192 * GiB)


def test_flops_for_falls_back_to_fp16_when_the_unit_is_missing():
    t4 = gpu("t4")  # Turing: no BF16, no FP8 (T4 datasheet)
    assert t4.flops_for("fp8") == t4.flops_for("bf16") == t4.fp16_flops == 65e12
    assert t4.flops_for("int8") == 130e12
    assert t4.flops_for("fp32") == pytest.approx(8.1e12)
    with pytest.raises(BadInputError, match="compute"):
        t4.flops_for("fp64")


# ------------------------------------------------------------------------------------------------ user file


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_adds_and_overrides(tmp_path):
    f = write(tmp_path / "gpus.toml", """
[[gpu]]
id = "h100-sxm"
hourly_usd = 1.5

[[gpu]]
id = "my-card"
name = "Lab Card 20GB"
memory_gb = 20
bandwidth_gbps = 500
fp32_tflops = 10
fp16_tflops = 40
""")
    gpus = load_gpus(f)
    assert len(gpus) == len(catalog_gpus()) + 1
    h100 = find_gpu("h100-sxm", gpus)
    assert h100.custom and h100.hourly_usd == 1.5
    assert h100.memory_bytes == 80 * GiB and h100.purchase_usd == gpu("h100-sxm").purchase_usd
    mine = find_gpu("lab card 20gb", gpus)
    assert mine.custom and mine.id == "my-card"
    assert mine.memory_bytes == 20 * 10**9
    assert mine.flops_for("int8") == 40e12 and mine.purchase_usd is None and mine.hourly_usd is None
    assert not find_gpu("a100-80gb-sxm", gpus).custom


def test_user_override_may_switch_memory_unit(tmp_path):
    f = write(tmp_path / "gpus.toml", "[[gpu]]\nid = 'h100-sxm'\nmemory_gb = 80\n")  # replaces memory_gib
    assert find_gpu("h100-sxm", load_gpus(f)).memory_bytes == 80 * 10**9


def test_default_user_file_from_environment(tmp_path, monkeypatch):
    f = write(tmp_path / "env.toml", '[[gpu]]\nid = "t4"\nhourly_usd = "n/a"\n')
    monkeypatch.setenv(hardware.USER_FILE_ENV, str(f))
    assert find_gpu("t4").hourly_usd is None and find_gpu("t4").custom
    monkeypatch.setenv(hardware.USER_FILE_ENV, str(tmp_path / "missing.toml"))
    assert find_gpu("t4").hourly_usd == 0.35 and len(load_gpus()) == len(catalog_gpus())


@pytest.mark.parametrize("text, field", [
    ("[[gpu]]\nid = 'x'\nname = 'X'\nbandwidth_gbps = 1\nfp32_tflops = 1\nfp16_tflops = 1\n", "memory_gib"),
    ("[[gpu]]\nid = 'x'\nname = 'X'\nmemory_gib = 8\nfp32_tflops = 1\nfp16_tflops = 1\n", "bandwidth_gbps"),
    ("[[gpu]]\nid = 'x'\nname = 'X'\nmemory_gib = 8\nbandwidth_gbps = 'fast'\nfp32_tflops = 1\nfp16_tflops = 1\n",
     "bandwidth_gbps"),
    ("[[gpu]]\nid = 'x'\nname = 'X'\nmemory_gib = -8\nbandwidth_gbps = 1\nfp32_tflops = 1\nfp16_tflops = 1\n",
     "memory_gib"),
    ("[[gpu]]\nid = 'h100-sxm'\nhourly_usd = 'cheap'\n", "hourly_usd"),
    ("[[gpu]]\nid = 'h100-sxm'\nunified_memory = 'no'\n", "unified_memory"),
    ("[[gpu]]\nid = 'h100-sxm'\nbandwith_gbps = 3000\n", "bandwidth_gbps"),  # typo -> suggestion
    ("[[gpu]]\nname = 'no id'\n", "id"),
    ("[[gpu]]\nid = 'a'\n[[gpu]]\nid = 'a'\n", "twice"),
    ("[gpu\nid = 'x'", "TOML"),
    ("gpu = 3\n", "[[gpu]]"),
])
def test_malformed_user_file_names_file_and_field(tmp_path, text, field):
    f = write(tmp_path / "bad.toml", text)
    with pytest.raises(BadInputError) as e:
        load_gpus(f)
    assert str(f) in str(e.value) and field in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_explicit_user_file_is_an_error(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        load_gpus(tmp_path / "nope.toml")


def test_save_user_gpu_round_trips_and_replaces_atomically(tmp_path):
    f = tmp_path / "sub" / "gpus.toml"
    card = GPU(id="bench-1", name='Bench "One" 48GB', vendor="Acme", memory_bytes=48 * GiB,
               bandwidth_bytes_per_s=1.2e12, fp32_flops=50e12, fp16_flops=200e12, bf16_flops=200e12,
               fp8_flops=0.0, int8_ops=400e12, tdp_w=300, purchase_usd=None, hourly_usd=0.9,
               unified_memory=False, source="my measurements", date="2026-11")
    assert save_user_gpu(card, f) == f
    save_user_gpu(replace(gpu("h100-sxm"), hourly_usd=2.0), f)
    save_user_gpu(replace(card, hourly_usd=0.5), f)  # replaces, does not append
    assert [p.name for p in f.parent.iterdir()] == ["gpus.toml"]  # no temporary file left behind
    assert [t["id"] for t in tomllib.loads(f.read_text())["gpu"]] == ["bench-1", "h100-sxm"]
    back = find_gpu("bench-1", load_gpus(f))
    assert back.custom and back.hourly_usd == 0.5 and back.purchase_usd is None
    assert back.memory_bytes == card.memory_bytes and back.name == card.name
    for field in ("bandwidth_bytes_per_s", "fp32_flops", "fp16_flops", "int8_ops"):
        assert getattr(back, field) == pytest.approx(getattr(card, field), rel=1e-12)
    assert find_gpu("h100-sxm", load_gpus(f)).hourly_usd == 2.0


def test_save_user_gpu_refuses_to_overwrite_a_malformed_file(tmp_path):
    f = write(tmp_path / "gpus.toml", "[[gpu]\n")
    with pytest.raises(BadInputError, match="TOML"):
        save_user_gpu(gpu("t4"), f)
    assert f.read_text() == "[[gpu]\n"


# ------------------------------------------------------------------------------------------------ lookup


@pytest.mark.parametrize("query, gid", [
    ("H100 SXM", "h100-sxm"), ("h100sxm", "h100-sxm"), ("NVIDIA H100 SXM 80GB", "h100-sxm"),
    ("rtx_4090", "rtx-4090"), ("4090", "rtx-4090"), ("RTX 6000 Ada", "rtx-6000-ada"), ("mi300x", "mi300x"),
    ("T4", "t4"), ("Apple M2 Ultra", "m2-ultra-192gb"), ("a100 80gb pcie", "a100-80gb-pcie"),
])
def test_find_gpu_matches_ids_and_names(query, gid):
    assert find_gpu(query, catalog_gpus()).id == gid


def test_find_gpu_unknown_and_ambiguous():
    with pytest.raises(UnknownGPUError, match="h100-sxm") as e:
        find_gpu("H100 SMX", catalog_gpus())
    assert isinstance(e.value, QuantPlannerError)
    with pytest.raises(UnknownGPUError, match="ambiguous: .*h100-pcie.*h100-sxm"):
        find_gpu("H100", catalog_gpus())
    with pytest.raises(UnknownGPUError, match="unknown GPU 'quantum'"):
        find_gpu("quantum", catalog_gpus())


# ------------------------------------------------------------------------------------------------ speed and cost

# Llama-2-7B: 6,738,415,616 parameters (32 layers, hidden 4096, MLP 11008, vocab 32000), fp16 -> 13,476,831,232
# bytes, the "13.5 GB" of the meta-llama/Llama-2-7b-hf checkpoint.
LLAMA2_7B_FP16_BYTES = 2 * 6_738_415_616


def test_decode_roofline_llama2_7b_on_a100_is_bandwidth_over_bytes():
    a100 = gpu("a100-80gb-sxm")
    tps = speed.decode_tokens_per_s(a100, 1, LLAMA2_7B_FP16_BYTES, 2 * 6_738_415_616, 1, "fp16",
                                    bandwidth_efficiency=1.0, flops_efficiency=1.0)
    assert tps == pytest.approx(2039 / 13.4768, rel=1e-4)  # ~151 tokens/s
    step = speed.decode_step(a100, 1, LLAMA2_7B_FP16_BYTES, 2 * 6_738_415_616, 1, "fp16")
    assert step.bound == "memory"
    # Tensor parallel over 2 GPUs doubles the bandwidth (no communication cost by default).
    assert speed.decode_tokens_per_s(a100, 2, LLAMA2_7B_FP16_BYTES, 2 * 6.7e9, 1, "fp16") == pytest.approx(
        2 * speed.decode_tokens_per_s(a100, 1, LLAMA2_7B_FP16_BYTES, 2 * 6.7e9, 1, "fp16"))


def test_decode_becomes_compute_bound_at_large_batch():
    a100 = gpu("a100-80gb-sxm")
    small = speed.decode_tokens_per_s(a100, 1, LLAMA2_7B_FP16_BYTES, 13.5e9, 1, "fp16")
    large = speed.decode_step(a100, 1, LLAMA2_7B_FP16_BYTES, 13.5e9, 4096, "fp16")
    assert large.bound == "compute"
    assert 4096 / large.seconds == pytest.approx(312e12 * speed.FLOPS_EFFICIENCY / 13.5e9)
    assert 4096 / large.seconds > small


# cli99/llm-analysis examples/llama, decapoda-research_llama-7b-hf on a100-sxm-80gb, w16a16e16, batch 1, prompt 512,
# 32 generated tokens (research/planners.md §2.4). Its summary reports weight_memory_per_gpu 13.15 GB,
# embedding_memory_per_gpu 262.14 MB, kv_cache_memory_per_gpu 285.21 MB, decode_num_flops_fwd_total 13.15 G,
# prefill_num_flops_fwd_total 6.87 T, and latencies below (decimal units; its A100 config: 2039 GB/s, 312 TFLOPS).
LLM_ANALYSIS_DECODE_BYTES = 13.15e9 + 262.14e6 + 285.21e6


@pytest.mark.parametrize("hbm_eff, flops_eff, decode_ms", [
    (0.9, 0.7, 7.48),  # outputs_infer/...-fe0.7-hbme0.9-summary-readable.txt: decode_latency 7.48 ms
    (1.0, 1.0, 6.73),  # outputs_infer_ideal/...-fe1-hbme1-summary-readable.txt: decode_latency 6.73 ms
])
def test_decode_latency_reproduces_llm_analysis(hbm_eff, flops_eff, decode_ms):
    step = speed.decode_step(gpu("a100-80gb-sxm"), 1, int(LLM_ANALYSIS_DECODE_BYTES), 13.15e9, 1, "fp16",
                             bandwidth_efficiency=hbm_eff, flops_efficiency=flops_eff)
    assert step.seconds * 1e3 == pytest.approx(decode_ms, rel=0.01)


@pytest.mark.parametrize("flops_eff, prefill_ms", [
    (0.7, 31.89),  # outputs_infer: prefill_latency 31.89 ms
    (1.0, 22.41),  # outputs_infer_ideal: prefill_latency 22.41 ms
])
def test_prefill_latency_reproduces_llm_analysis(flops_eff, prefill_ms):
    # llm-analysis counts 6.87 TFLOPs for the 512-token prompt, i.e. 2 x 6.706e9 params (13.15 GB + 262 MB at 2 B).
    params = int((13.15e9 + 262.14e6) / 2)
    assert speed.prefill_flops(params, 512) == pytest.approx(6.87e12, rel=0.005)
    tps = speed.prefill_tokens_per_s(gpu("a100-80gb-sxm"), 1, params, 512, "fp16", flops_efficiency=flops_eff)
    assert 512 / tps * 1e3 == pytest.approx(prefill_ms, rel=0.03)  # llm-analysis adds small memory-bound terms


def test_prefill_attention_term():
    # Causal attention over T tokens: sum_i 2 * 2 * i * d per layer = 2 * d * T * (T + 1).
    assert speed.prefill_flops(1000, 4, num_layers=2, attention_dim=8) == 2 * 1000 * 4 + 2 * 2 * 8 * 4 * 5


def test_cost_arithmetic():
    # $2.00 per hour at 1000 tokens/s: 3.6 M tokens per hour -> $0.5556 per million tokens.
    assert speed.cost_per_million_tokens(2.0, 1000) == pytest.approx(2.0 / 3.6)
    assert speed.gpu_hours(8, 3.6e6, 1000) == pytest.approx(8.0)
    assert speed.cost_for_tokens(16.0, 3.6e6, 1000) == pytest.approx(16.0)
    assert speed.energy_kwh(gpu("h100-sxm"), 8, 3600) == pytest.approx(5.6)  # 8 x 700 W for an hour


@pytest.mark.parametrize("call", [
    lambda g: speed.decode_tokens_per_s(g, 0, 10**9, 1e9, 1, "fp16"),
    lambda g: speed.decode_tokens_per_s(g, 1, 10**9, 1e9, 0, "fp16"),
    lambda g: speed.decode_tokens_per_s(g, 1, 10**9, 1e9, 1, "fp16", bandwidth_efficiency=1.5),
    lambda g: speed.decode_tokens_per_s(g, 1, 0, 0, 1, "fp16"),
    lambda g: speed.prefill_tokens_per_s(g, 1, 10**9, 0, "fp16"),
    lambda g: speed.cost_per_million_tokens(1.0, 0),
])
def test_speed_rejects_absurd_inputs(call):
    with pytest.raises(BadInputError):
        call(gpu("l4"))


def test_tensor_parallel_decode_waits_for_allreduces() -> None:
    # Megatron-LM layout: 2 all-reduces per layer per decode step; latency-bound at batch 1.
    from quantcore.planner import speed
    from quantcore.planner.hardware import find_gpu

    gpu = find_gpu("h100-sxm")
    one = speed.decode_step(gpu, 2, 10**9, 1e9, 1, "fp16", num_layers=32)
    none = speed.decode_step(gpu, 2, 10**9, 1e9, 1, "fp16", num_layers=32, allreduce_latency_s=0.0)
    assert one.sync_seconds == pytest.approx(2 * 32 * speed.ALLREDUCE_LATENCY_S)
    assert one.seconds == pytest.approx(none.seconds + 2 * 32 * speed.ALLREDUCE_LATENCY_S)
    assert speed.decode_step(gpu, 1, 10**9, 1e9, 1, "fp16", num_layers=32).sync_seconds == 0.0
