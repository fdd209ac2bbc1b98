"""The command line on good input: plan JSON contract, tables, fit, catalogs, reports written atomically."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantcore.cli import main
from quantcore.formats.catalog import precision_ids

COMPONENTS = {"weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total"}


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["plan", "meta-llama/Llama-2-7b-hf", "--gpu", "a100-80gb-sxm", "--gpu", "rtx-4090",
                          "--context", "544", "--json"])
    assert data["schema"] == "quantplanner.plan/1"
    assert data["model"]["source"] == "config"
    assert data["model"]["parameters"] == 6_738_415_616  # Llama-2-7b-hf: the Hub's stored parameter total
    assert [r["precision"] for r in data["rows"]] == list(precision_ids())
    for row in data["rows"]:
        assert set(row["memory"]) == COMPONENTS
        assert all(isinstance(v, int) for v in row["memory"].values())
        assert row["memory"]["total"] == sum(v for k, v in row["memory"].items() if k != "total")
        assert [g["gpu"] for g in row["gpus"]] == ["a100-80gb-sxm", "rtx-4090"]
        for g in row["gpus"]:
            assert {"gpu", "count", "fits", "purchase_usd", "hourly_usd", "decode_tokens_per_s"} <= set(g)
    fp16 = next(r for r in data["rows"] if r["precision"] == "fp16")
    # llm-analysis examples/llama: KV cache of Llama-7B for 544 tokens in fp16 = 285,212,672 bytes
    assert fp16["memory"]["kv_cache"] == 285_212_672
    assert fp16["memory"]["weights"] == 2 * 6_738_415_616
    assert fp16["gpus"][0]["fits"] is True and fp16["gpus"][0]["count"] == 1
    fp32 = next(r for r in data["rows"] if r["precision"] == "fp32")
    # 27 GB of fp32 weights > 24 GB: the cheapest placement keeps some layers in the default 64 GiB of host RAM,
    # and the fewest GPUs that hold it all are a layer split (transformers' device_map) over 2
    g = fp32["gpus"][1]
    assert g["fits"] is False and g["count"] == 1 and g["placement"]["kind"] == "offload"
    assert 0 < g["placement"]["gpu_layers"] < g["placement"]["total_layers"] == 32
    assert g["placement"]["badge"] == f"partial offload {g['placement']['gpu_layers']}/32 layers"
    assert g["placement"]["host_bytes"] + g["per_gpu"]["weights"] >= fp32["memory"]["weights"]
    assert g["multi_gpu"]["gpus"] >= 2 and g["multi_gpu"]["kind"] == "pipeline"
    q4 = next(r for r in data["rows"] if r["precision"] == "q4_k_m")
    assert fp16["engine"] == "hf" and q4["engine"] == "llamacpp"
    assert data["workload"]["engine"] == "auto" and data["workload"]["host_ram_bytes"] == 64 * 2**30
    assert all(g["speed_basis"].startswith("estimate") for r in data["rows"] for g in r["gpus"])


def test_plan_more_gpus_when_it_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    # --ram 0: no offloading, so the answer is the fewest GPUs
    data = _json(capsys, ["plan", "meta-llama/Llama-3.1-70B", "--precision", "bf16", "--gpu", "h100-sxm", "--ram",
                          "0", "--json"])
    g = data["rows"][0]["gpus"][0]
    assert g["fits"] is False
    # 141 GB of bf16 weights in transformers: a layer split (device_map) over 2 x 80 GB holds it
    assert g["count"] == 2 and g["placement"] == {**g["placement"], "kind": "pipeline", "pipeline_parallel": 2,
                                                  "badge": "2 GPUs, layer split"}
    assert g["count"] * g["gpu_memory_bytes"] >= data["rows"][0]["memory"]["weights"]
    assert g["per_gpu"]["total"] <= g["usable_bytes"]
    assert g["purchase_usd"] == pytest.approx(g["count"] * _json_gpu(capsys, "h100-sxm")["purchase_usd"])


def _json_gpu(capsys: pytest.CaptureFixture[str], gid: str) -> dict:
    return next(g for g in _json(capsys, ["gpus", "--json"]) if g["id"] == gid)


def test_plan_text_and_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "Qwen/Qwen2.5-7B", "--gpu", "rtx-4090", "--mode", "qlora"]) == 0
    out = capsys.readouterr().out
    assert "nf4" in out and "skipped for mode qlora" in out and "assumptions:" in out
    data = _json(capsys, ["plan", "Qwen/Qwen2.5-7B", "--mode", "full", "--json"])
    assert {r["precision"] for r in data["rows"]} <= {"fp32", "fp16", "bf16"}
    assert all(r["memory"]["optimizer"] > 0 and r["memory"]["gradients"] > 0 for r in data["rows"])


def test_plan_from_real_safetensors_folder(minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["plan", str(minilm_dir), "--precision", "fp32", "--json"])
    assert data["model"]["source"] == "safetensors"
    # exact bytes of the real file's float tensors at fp32 (the int64 position_ids buffer is not a weight)
    assert data["rows"][0]["memory"]["weights"] == 4 * data["model"]["parameters"]


@pytest.mark.parametrize("suffix", [".json", ".csv", ".md"])
def test_reports(suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"plan{suffix}"
    assert main(["plan", "7B", "--gpu", "l4", "--report", str(out)]) == 0
    text = out.read_text()
    if suffix == ".json":
        assert json.loads(text)["schema"] == "quantplanner.plan/1"
    elif suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert len(rows) == len(precision_ids()) and rows[0]["gpu"] == "l4"
        assert int(rows[0]["total_bytes"]) > int(rows[0]["weights_bytes"])
    else:
        assert text.startswith("# Planning report:") and "| q4_k_m |" in text
    charts = sorted(p.name for p in tmp_path.glob("plan.*.svg"))
    assert charts == (["plan.context-curves.svg", "plan.fit-heatmap.svg", "plan.memory-bars.svg"]
                      if suffix == ".md" else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, *charts])  # no temp files left behind


def test_fit_lists_best_precision(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["fit", "--gpu", "rtx-4090", "--model", "meta-llama/Llama-3.1-8B",
                          "--model", "meta-llama/Llama-3.1-70B", "--json"])
    rows = data["rows"]
    small = [r for r in rows if r["model"] == "meta-llama/Llama-3.1-8B"]
    big = [r for r in rows if r["model"] == "meta-llama/Llama-3.1-70B"]
    assert next(r for r in small if r["precision"] == "bf16")["fits"] is True
    assert next(r for r in big if r["precision"] == "bf16")["fits"] is False
    assert next(r for r in big if r["precision"] == "q2_k")["fits"] is False  # ~26 GB at 2.6+ bits > 24 GB
    fitting = [r for r in small if r["fits"]]
    assert all(r["max_context"] >= 4096 for r in fitting)
    assert main(["fit", "--gpu", "rtx-4090", "--model", "meta-llama/Llama-3.1-8B"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("meta-llama/Llama-3.1-8B"))
    assert row.split()[2] == "bf16"  # the checkpoint's own 16-bit dtype, not fp32


def test_catalog_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus"]) == 0 and "h100-sxm" in capsys.readouterr().out
    assert main(["precisions"]) == 0 and "q4_k_m" in capsys.readouterr().out
    assert len(_json(capsys, ["models", "--json"])) >= 40


def test_console_script_runs_headless() -> None:
    out = subprocess.run([sys.executable, "-m", "app.launcher", "plan", "7B", "--precision", "q4_0", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"][0]["precision"] == "q4_0"


def test_context_above_the_models_limit_is_warned(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "meta-llama/Llama-3.1-8B", "--precision", "q4_k_m", "--gpu", "h100-sxm", "--context", "200000"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "warning: context 200,000 tokens is above the model's limit of 131,072" in out
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["context_above_limit"] is True and "above the model's limit of 131,072" in data["warnings"][0]
    assert "quantplanner: note: context 200,000 tokens is above" in captured.err
    assert data["rows"][0]["memory"]["kv_cache"] > 0 and data["workload"]["context"] == 200_000  # planned as asked
    at_limit = _json(capsys, ["plan", "meta-llama/Llama-3.1-8B", "--precision", "q4_k_m", "--context", "131072",
                              "--json"])
    assert at_limit["context_above_limit"] is False and not at_limit["warnings"]


def test_plan_text_shows_placement_engine_and_estimates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "meta-llama/Llama-3.1-70B", "--precision", "q4_k_m,q5_k_m", "--gpu", "rtx-4090"]) == 0
    out = capsys.readouterr().out
    assert "llamacpp" in out and "speeds are estimates" in out
    assert "partial offload" in out and "recommendation:" in out
    assert main(["plan", "meta-llama/Llama-3.1-70B", "--precision", "q5_k_m", "--gpu", "rtx-4090", "--ram", "0"]) == 0
    assert "3 GPUs, layer split" in capsys.readouterr().out


def test_ram_option(capsys: pytest.CaptureFixture[str]) -> None:
    def kind(ram: str) -> str:
        data = _json(capsys, ["plan", "meta-llama/Llama-3.1-70B", "--precision", "q4_k_m", "--gpu", "rtx-4090",
                              "--ram", ram, "--json"])
        return data["rows"][0]["gpus"][0]["placement"]["kind"]

    assert kind("64GiB") == kind("64") == "offload"  # a bare number is GiB
    assert kind("16GiB") == kind("0") == "pipeline"  # 17.6 GiB of layers do not fit in 12 GiB of usable RAM
    assert main(["plan", "7B", "--ram", "lots"]) == 2
    assert "not a size" in capsys.readouterr().err


def test_fit_caveats_below_four_bits_and_little_headroom(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--gpu", "rtx-5090", "--model", "meta-llama/Llama-3.1-70B", "--model",
                 "Qwen/Qwen3-30B-A3B"]) == 0
    out = capsys.readouterr().out
    notes = out.split("caveats:")[1]
    assert "meta-llama/Llama-3.1-70B: q2_k: below 4 bits quality falls off sharply" in notes
    q8 = next(line for line in notes.splitlines() if line.startswith("  Qwen/Qwen3-30B-A3B: q8_0"))
    share = float(q8.split("% of the card) to spare")[0].rsplit("(", 1)[1])
    assert 0 < share < 5  # the caveat fires under 5% headroom
    data = _json(capsys, ["fit", "--gpu", "rtx-5090", "--model", "Qwen/Qwen3-30B-A3B", "--json"])
    q8 = next(r for r in data["rows"] if r["precision"] == "q8_0")
    assert q8["fits"] and q8["engine"] == "llamacpp" and any("to spare" in c for c in q8["caveats"])
    assert q8["placement"]["badge"] == "full GPU"
