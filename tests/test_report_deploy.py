"""Deployment commands from the plan dict (placement when present, else tensor parallel over "count"), and the
command that regenerates a report, parsed back by the real CLI."""
from __future__ import annotations

import copy
import shlex
from typing import Any

import pytest

from quantcore.cli import _build_parser
from quantcore.cli.common import workload_from_args
from quantcore.planner.hardware import find_gpu, load_gpus
from quantcore.planner.plan import make_plan
from quantcore.planner.plan_json import plan_to_dict
from quantcore.planner.workload import Workload
from quantcore.report.command import plan_command
from quantcore.report.deploy import deployments, layout
from quantcore.sources.source import load_model


@pytest.fixture(scope="module")
def plan70() -> dict[str, Any]:
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    catalog = load_gpus()
    # host=None: no partial offload, so models too big for one card take several (the multi-GPU commands)
    return plan_to_dict(make_plan(inv, Workload(context=8192, kv_dtype="fp8"), None,
                                  (find_gpu("rtx-4090", catalog), find_gpu("h100-sxm", catalog)), host=None))


def _without_placement(data: dict[str, Any]) -> dict[str, Any]:
    """The plan as JSON written before placements existed: only `count` says how many GPUs."""
    out = copy.deepcopy(data)
    for r in out["rows"]:
        for g in r["gpus"]:
            g.pop("placement", None)
            g.pop("multi_gpu", None)
    return out


def _by_engine(data: dict[str, Any], pid: str, gpu: int = 0) -> dict[str, Any]:
    return {d.engine: d for d in deployments(data, pid, gpu)}


def _option(data: dict[str, Any], pid: str, gpu: int = 0) -> dict[str, Any]:
    return next(r for r in data["rows"] if r["precision"] == pid)["gpus"][gpu]


def test_tensor_parallel_size_comes_from_count_without_placement(plan70: dict[str, Any]) -> None:
    plan70 = _without_placement(plan70)
    count = _option(plan70, "awq-4bit-g128")["count"]
    assert count and count > 1
    d = _by_engine(plan70, "awq-4bit-g128")
    vllm = shlex.split(d["vllm"].command.replace("\\\n", " "))
    assert vllm[vllm.index("--tensor-parallel-size") + 1] == str(count)
    assert vllm[vllm.index("--quantization") + 1] == "awq"
    assert vllm[vllm.index("--max-model-len") + 1] == "8192"
    assert vllm[vllm.index("--kv-cache-dtype") + 1] == "fp8"
    tgi = shlex.split(d["tgi"].command.replace("\\\n", " "))
    assert tgi[tgi.index("--num-shard") + 1] == str(count) and tgi[tgi.index("--quantize") + 1] == "awq"
    assert d["llamacpp"].command is None and "GGUF" in d["llamacpp"].notes[0]
    single = _by_engine(plan70, "fp8", 1)["vllm"].command  # fp8 fits on one H100: no parallel flag
    assert _option(plan70, "fp8", 1)["count"] == 1 and "--tensor-parallel-size" not in single


def test_gguf_rows_deploy_on_llama_cpp(plan70: dict[str, Any]) -> None:
    plan70 = _without_placement(plan70)
    d = _by_engine(plan70, "q4_k_m")
    llama = shlex.split(d["llamacpp"].command.replace("\\\n", " "))
    count = _option(plan70, "q4_k_m")["count"]
    assert llama[:3] == ["llama-server", "-m", "Llama-3.1-70B-Q4_K_M.gguf"]
    assert llama[llama.index("-c") + 1] == "8192" and llama[llama.index("-ngl") + 1] == "999"
    assert llama[llama.index("--tensor-split") + 1] == ",".join(["1"] * count)
    assert llama[llama.index("-fa") + 1] == "on"
    assert any("fp8 KV cache" in n for n in d["llamacpp"].notes)  # llama.cpp has no fp8 cache: said, not faked
    assert d["tgi"].command is None and d["transformers"].command is None


def test_placement_object_wins_over_count(plan70: dict[str, Any]) -> None:
    data = copy.deepcopy(plan70)
    opt = _option(data, "q5_k_m")
    opt["placement"] = {"kind": "pipeline", "gpus": 3, "tensor_parallel": 1, "pipeline_parallel": 3,
                        "gpu_layers": 80, "total_layers": 80, "host_bytes": 0, "badge": "3 GPUs, layer split"}
    opt["count"] = 3
    d = _by_engine(data, "q5_k_m")
    assert "--tensor-split 1,1,1" in d["llamacpp"].command and "--split-mode layer" in d["llamacpp"].command
    assert "--pipeline-parallel-size 3" in d["vllm"].command and "--tensor-parallel-size" not in d["vllm"].command
    off = _option(data, "q4_k_m")
    off["placement"] = {"kind": "offload", "gpus": 1, "tensor_parallel": 1, "pipeline_parallel": 1,
                        "gpu_layers": 61, "total_layers": 80, "host_bytes": 12 * 2**30, "badge": "partial offload"}
    d = _by_engine(data, "q4_k_m")
    assert "-ngl 61" in d["llamacpp"].command and "--cpu-offload-gb 12" in d["vllm"].command
    assert d["tgi"].command is None and "offload" in d["tgi"].notes[0]
    assert layout(off, data["model"]).host_bytes == 12 * 2**30


def test_row_engine_comes_first_and_impossible_plans_say_why(plan70: dict[str, Any]) -> None:
    data = _without_placement(plan70)
    row = next(r for r in data["rows"] if r["precision"] == "q4_k_m")
    row["engine"] = "llamacpp"
    assert deployments(data, "q4_k_m")[0].engine == "llamacpp"
    row = next(r for r in data["rows"] if r["precision"] == "nf4")
    row["gpus"][0]["count"] = None
    assert all(d.command is None for d in deployments(data, "nf4"))


def test_transformers_snippets_follow_the_format(plan70: dict[str, Any]) -> None:
    nf4 = _by_engine(plan70, "nf4")["transformers"].command
    assert 'bnb_4bit_quant_type="nf4"' in nf4 and "BitsAndBytesConfig" in nf4
    compile(nf4, "<snippet>", "exec")  # valid Python
    gptq = _by_engine(plan70, "gptq-4bit-g128")["transformers"].command
    assert "GPTQConfig(bits=4, group_size=128" in gptq
    compile(gptq, "<snippet>", "exec")
    assert "load_in_8bit=True" in _by_engine(plan70, "int8")["transformers"].command


@pytest.mark.parametrize("workload", [
    Workload(),
    Workload(batch=4, context=32768, kv_dtype="q8_0", engine="llamacpp", flash_attention=False),
    Workload(mode="qlora", lora_rank=64, lora_targets=("attn_q", "attn_v", "ffn_up"), recompute="full",
             optimizer="adamw8bit", zero_stage=2, data_parallel=4, overhead_bytes=3 * 2**30),
])
def test_the_recorded_command_plans_the_same_workload(workload: Workload) -> None:
    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    w = plan_to_dict(make_plan(inv, workload, None if workload.mode == "inference" else ("nf4",)))["workload"]
    cmd = plan_command("meta-llama/Llama-3.1-8B", w, ["rtx-4090", "h100-sxm"], report="out dir/plan.pdf",
                       paper="letter", precisions=["nf4"] if workload.mode == "qlora" else None)
    argv = shlex.split(cmd)
    assert argv[:2] == ["quantplanner", "plan"]
    args = _build_parser().parse_args(argv[1:])
    assert workload_from_args(args, inv) == workload
    assert args.gpu == ["rtx-4090", "h100-sxm"] and str(args.report) == "out dir/plan.pdf" and args.paper == "letter"
