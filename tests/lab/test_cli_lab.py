"""`quantplanner testrun` and `sensitivity` on the real MiniLM weights: JSON that `report --lab` takes, one-line
errors with exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from quantcore.cli import main


def test_testrun_json_and_report(minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["testrun", str(minilm_dir), "--precision", "int8,nf4", "--layer", "layer.2.output.dense",
                 "--device", "cpu", "--tokens", "16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "quantplanner.testrun/1" and data["layer"] == "encoder.layer.2.output.dense"
    assert data["device"]["device"] == "cpu" and data["calibration"].startswith("real:")
    assert [r["precision"] for r in data["results"]] == ["int8", "nf4"]
    for r in data["results"]:
        assert r["measured_bytes"] == r["predicted_bytes"] and r["bytes_equal"] and r["latency_ms"] > 0
    assert data["results"][0]["kernel"] == "native int8 matmul (torch._int_mm)"
    runs = data["lab"]["runs"]
    assert [r["measured_bytes"] for r in runs] == [r["measured_bytes"] for r in data["results"]]
    lab = tmp_path / "testrun.json"
    lab.write_text(json.dumps(data))
    plan = tmp_path / "plan.json"
    assert main(["plan", str(minilm_dir), "--precision", "int8,nf4", "--report", str(plan)]) == 0
    capsys.readouterr()
    out = tmp_path / "report.md"
    assert main(["report", str(plan), "--lab", str(lab), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Measured against predicted" in text and f"{runs[1]['predicted_bytes']:,}" in text


def test_testrun_text(minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["testrun", str(minilm_dir), "--precision", "fp8", "--layer", "mlp:0", "--batch", "2",
                 "--tokens", "8", "--calibration", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert "layer 0 mlp block (up, down)" in out and "synthetic with outlier channels" in out
    assert "equal" in out and "original (fp32)" in out


@pytest.mark.parametrize("args, message", [
    (["--precision", "int8", "--device", "cuda"], "device cuda is not available"),
    (["--precision", "int8", "--layer", "no.such"], "no linear layer matches"),
    (["--precision", "nope"], "unknown precision"),
    (["--precision", "int8", "--tokens", "0"], "batch and tokens"),
])
def test_testrun_errors(minilm_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here")
    assert main(["testrun", str(minilm_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_sensitivity_json_sized_by_planner(minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sensitivity", str(minilm_dir), "--precision", "nf4,int8", "--tokens", "32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["layers"]) == 36 and data["precisions"] == ["nf4", "int8"]
    assert all(len(row) == 2 and row[1] < row[0] for row in data["values"])
    sug = data["suggestion"]
    assert sug["base"] == "nf4" and sug["high"] == "int8" and sug["keep"]
    assert sug["size_change"] == pytest.approx(sug["mixed_weight_bytes"] / sug["base_weight_bytes"] - 1)
    assert 0 < sug["size_change"] <= 0.05 and sug["error_change"] < 0
    assert data["lab"]["sensitivity"]["suggestion"]["text"] == sug["text"]
    assert main(["sensitivity", str(minilm_dir), "--precision", "int8", "--budget", "-1"]) == 2
