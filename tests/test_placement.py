"""Placement: one GPU, partial offload to host RAM (llama.cpp -ngl), layer split over any count, tensor parallel over
degrees that divide the heads; engine "auto" per row."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from quantcore.errors import BadInputError
from quantcore.planner import memory
from quantcore.planner.engines import engine_for
from quantcore.planner.hardware import find_gpu
from quantcore.planner.placement import HOST_RESERVED_BYTES, Host
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.gguf_header import read_gguf
from quantcore.sources.source import load_model

GiB = 2**30


def _gpu(usable_bytes: int, name: str = "test GPU"):  # noqa: ANN202
    """A discrete GPU of exactly `usable_bytes` (a catalog card resized)."""
    return replace(find_gpu("rtx-4090"), id="test", name=name, memory_bytes=usable_bytes)


def test_partial_offload_keeps_as_many_real_blocks_as_fit(smollm2_gguf: Path) -> None:
    inv = read_gguf(smollm2_gguf)  # 30 blocks of Q4_1, tied Q8_0 embedding
    w = Workload(context=2048)
    full = make_plan(inv, w, ("stored",), ()).rows[0].memory
    blocks = [sum(t.stored_bytes for t in inv.tensors if t.layer == i) for i in range(30)]
    kv_per_block = full.kv_cache // 30
    gpu = _gpu(full.overhead + full.activations + 12 * (blocks[0] + kv_per_block) + 1000)
    option = make_plan(inv, w, ("stored",), (gpu,)).rows[0].gpus[0]
    place = option.placement
    # ground truth from the file's own tensor bytes: blocks 0..k-1 and their KV must fit beside the fixed part
    k = max(n for n in range(31) if full.overhead + full.activations + sum(blocks[:n]) + n * kv_per_block
            <= gpu.usable_bytes)
    assert place.kind == "offload" and place.gpu_layers == k == 12 and place.total_layers == 30
    assert option.badge == "partial offload 12/30 layers" and option.count == 1 and not option.fits
    outside = sum(blocks[k:]) + sum(t.stored_bytes for t in inv.tensors if t.layer is None)
    assert place.host_bytes == pytest.approx(outside + (30 - k) * kv_per_block, abs=64)
    assert option.multi_gpu.kind == "pipeline" and option.multi_gpu.gpus >= 3


def test_seventy_b_q4_k_m_on_one_24gb_card() -> None:
    # the LM Studio / llama.cpp case: 70B q4_k_m on one 24 GB card with -ngl, the rest in a 64 GiB desktop's RAM
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    option = make_plan(inv, Workload(), ("q4_k_m",), (find_gpu("rtx-4090"),)).rows[0].gpus[0]
    assert option.engine == "llamacpp" and option.placement.kind == "offload"
    assert 30 < option.placement.gpu_layers < 80 and 0 < option.placement.host_bytes <= 60 * GiB
    assert option.per_gpu.total <= option.gpu.usable_bytes
    assert 1 < option.decode_tokens_per_s < 10  # host-bandwidth bound
    assert option.multi_gpu.badge == "2 GPUs, layer split"
    assert "CPU from host RAM" in option.speed_basis


def test_layer_split_uses_any_count_where_tensor_parallel_needs_a_divisor() -> None:
    # the issue: ~49 GiB of q5_k_m on 24 GB cards "needs 4" (tensor parallel over 64 heads); a layer split runs it on 3
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    row = make_plan(inv, Workload(), ("q5_k_m",), (find_gpu("rtx-3090"),), host=None).rows[0]
    option = row.gpus[0]
    usable = option.gpu.usable_bytes
    assert row.memory.total > 2 * usable  # two cards cannot hold it however it is cut
    assert option.placement.kind == "pipeline" and option.count == 3 and option.badge == "3 GPUs, layer split"
    assert option.per_gpu.total <= usable
    forced = make_plan(inv, Workload(engine="vllm"), ("awq-4bit-g128",), (find_gpu("l4"),), host=None).rows[0]
    place = forced.gpus[0].placement
    # vLLM: tensor parallel when a divisor of the 64 heads is no more GPUs than a pipeline would take
    assert place.kind in ("tensor_parallel", "pipeline")
    if place.kind == "tensor_parallel":
        assert 64 % place.gpus == 0 and place.tensor_parallel == place.gpus
    assert place.per_gpu.total <= find_gpu("l4").usable_bytes


def test_host_ram_limits_offload_and_zero_turns_it_off() -> None:
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    gpu = (find_gpu("rtx-4090"),)
    roomy = make_plan(inv, Workload(), ("q4_k_m",), gpu).rows[0].gpus[0].placement
    need = roomy.host_bytes
    tight = Host(ram_bytes=HOST_RESERVED_BYTES + need - 1)
    assert make_plan(inv, Workload(), ("q4_k_m",), gpu, host=tight).rows[0].gpus[0].placement.kind == "pipeline"
    enough = Host(ram_bytes=HOST_RESERVED_BYTES + need)
    assert make_plan(inv, Workload(), ("q4_k_m",), gpu, host=enough).rows[0].gpus[0].placement.kind == "offload"
    assert make_plan(inv, Workload(), ("q4_k_m",), gpu, host=None).rows[0].gpus[0].placement.kind == "pipeline"
    with pytest.raises(BadInputError):
        Host(ram_bytes=-1)


def test_no_offload_for_training_or_unified_memory() -> None:
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    qlora = make_plan(inv, Workload(mode="qlora", context=512), ("nf4",), (find_gpu("rtx-4090"),)).rows[0].gpus[0]
    assert qlora.placement.kind in ("pipeline", "too_large") and qlora.decode_tokens_per_s is None
    mac = make_plan(inv, Workload(), ("bf16",), (find_gpu("m4-max-128gb"),)).rows[0].gpus[0]
    assert mac.placement.kind != "offload"


def test_faster_host_memory_gives_faster_offload_and_full_gpu_is_faster_still() -> None:
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    slow = make_plan(inv, Workload(), ("q4_k_m",), (find_gpu("rtx-4090"),), host=Host()).rows[0].gpus[0]
    fast = make_plan(inv, Workload(), ("q4_k_m",), (find_gpu("rtx-4090"),),
                     host=Host(bandwidth_bytes_per_s=2 * Host().bandwidth_bytes_per_s)).rows[0].gpus[0]
    full = make_plan(inv, Workload(), ("q4_k_m",), (find_gpu("h100-sxm"),)).rows[0].gpus[0]
    assert slow.decode_tokens_per_s < fast.decode_tokens_per_s < full.decode_tokens_per_s


@pytest.mark.parametrize("pid, engine", [("q4_k_m", "llamacpp"), ("q8_0", "llamacpp"), ("gptq-4bit-g128", "vllm"),
                                         ("awq-4bit-g128", "vllm"), ("fp8", "vllm"), ("mxfp4", "vllm"),
                                         ("nvfp4", "vllm"), ("nf4", "hf"), ("int8", "hf"), ("int4-g128", "hf"),
                                         ("bf16", "hf"), ("fp32", "hf"), ("ternary", "llamacpp")])
def test_engine_auto_per_precision(pid: str, engine: str) -> None:
    assert engine_for(pid) == engine
    row = make_plan(load_model("meta-llama/Llama-3.1-8B", use_hub=False), Workload(), (pid,), ()).rows[0]
    assert row.engine == engine
    # the row's memory is that engine's accounting, exactly as if the user had chosen it
    forced = memory.memory_breakdown(row.inventory, pid, Workload(engine=engine))
    assert row.memory == forced
    assert engine_for(pid, mode="qlora") == "hf"


def test_a_forced_engine_applies_to_every_row() -> None:
    plan = make_plan(load_model("meta-llama/Llama-3.1-8B", use_hub=False), Workload(engine="vllm"),
                     ("q4_k_m", "nf4", "bf16"), ())
    assert {r.engine for r in plan.rows} == {"vllm"}


def test_geforce_fp16_matmuls_run_at_the_fp32_accumulate_rate() -> None:
    from quantcore.planner.estimate import matmul_rate

    rtx, h100 = find_gpu("rtx-4090"), find_gpu("h100-sxm")
    assert matmul_rate(rtx, "fp16", "hf") == pytest.approx(82.6e12, rel=0.01)  # PyTorch: fp32 accumulate
    assert matmul_rate(rtx, "fp16", "llamacpp") == pytest.approx(165.2e12, rel=0.01)  # llama.cpp F16: fp16 acc
    assert matmul_rate(rtx, "int8", "vllm") == rtx.int8_ops and matmul_rate(h100, "fp16", "hf") == h100.fp16_flops
    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    option = make_plan(inv, Workload(), ("bf16",), (rtx,)).rows[0].gpus[0]
    assert "fp32 accumulate" in option.speed_basis and option.speed_basis.startswith("estimate")
