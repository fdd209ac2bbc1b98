"""`quantplanner quantize` and `inspect --histogram` end to end; the acceptance line of issue 9."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from quantcore.cli import main

TENSOR = "encoder.layer.3.intermediate.dense.weight"


def test_acceptance_nf4_file_loads_in_bitsandbytes_and_dequantizes_to_its_own_result(minilm_dir: Path,
                                                                                        tmp_path: Path, capsys):
    bnbf = pytest.importorskip("bitsandbytes.functional")
    from safetensors import safe_open
    from safetensors.torch import load_file

    out = tmp_path / "q.safetensors"
    assert main(["quantize", str(minilm_dir), "--precision", "nf4", "--tensor", TENSOR, "--out", str(out)]) == 0
    assert "written to" in capsys.readouterr().out
    sd = load_file(str(out))
    prefix = TENSOR.removesuffix("weight")
    assert set(sd) == {TENSOR, *(prefix + k for k in ("weight.absmax", "weight.quant_map", "weight.nested_absmax",
                                                       "weight.nested_quant_map",
                                                       "weight.quant_state.bitsandbytes__nf4"))}
    state = bnbf.QuantState.from_dict({k[len(prefix):]: v for k, v in sd.items() if k != TENSOR},
                                      torch.device("cpu"))
    with safe_open(str(minilm_dir / "model.safetensors"), "pt") as f:
        w = f.get_tensor(TENSOR)
    ref, ref_state = bnbf.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    assert torch.equal(sd[TENSOR], ref)
    assert torch.equal(bnbf.dequantize_4bit(sd[TENSOR], state), bnbf.dequantize_4bit(ref, ref_state))


def test_quantize_json_reports_bytes_and_metrics_per_tensor(minilm_dir: Path, capsys):
    assert main(["quantize", str(minilm_dir), "--precision", "int8", "--tensor", "encoder.layer.0.*.weight",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "quantplanner.quantize/1" and data["out"] is None
    rows = {r["name"]: r for r in data["tensors"]}
    r = rows["encoder.layer.0.attention.self.query.weight"]
    assert r["precision"] == "int8" and r["shape"] == [384, 384]
    assert r["predicted_bytes"] == r["written_bytes"] == 384 * 384 + 384 * 4
    assert 0 < r["metrics"]["rel_frobenius"] < 0.02 and r["metrics"]["cosine"] > 0.999
    assert rows["encoder.layer.0.attention.output.LayerNorm.weight"]["precision"].startswith("kept:")


@pytest.mark.parametrize("argv, message", [
    (["--precision", "nf4", "--tensor", "embeddings.LayerNorm.weight"], "stays in higher precision"),
    (["--precision", "nf5"], "unknown precision"),
    (["--precision", "nf4", "--tensor", "no.such.tensor"], "no tensor matches"),
    (["--precision", "nf4", "--tensor", "embeddings.position_ids"], "cannot be quantized"),
])
def test_quantize_bad_input_is_one_line_exit_2(minilm_dir: Path, capsys, argv, message):
    assert main(["quantize", str(minilm_dir), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_inspect_histogram_text_and_json(minilm_dir: Path, capsys):
    assert main(["inspect", str(minilm_dir), "--histogram", "--tensor", TENSOR, "--bins", "12",
                 "--precision", "nf4"]) == 0
    text = capsys.readouterr().out
    assert "percentiles" in text and "589,824 values" in text and "levels" in text
    assert main(["inspect", str(minilm_dir), "--histogram", "--bins", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "quantplanner.histogram/1" and len(data["counts"]) == 8
    assert sum(data["counts"]) == data["total"] > 22_000_000


def test_precisions_lists_the_defaults_and_the_families(capsys):
    assert main(["precisions"]) == 0
    out = capsys.readouterr().out
    assert "gptq-<bits>bit-g<group>" in out and "int<bits>-g<group>" in out


def test_gptq_on_the_cli_uses_real_activations_and_says_so(minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`quantize --precision gptq-4bit-g128` feeds GPTQ the layer's real inputs captured from MiniLM (not H = I,
    which would be plain rounding) and says which inputs it used; bytes stay exactly the predicted ones."""
    from quantcore.cli import main

    name = "encoder.layer.3.intermediate.dense.weight"
    assert main(["quantize", str(minilm_dir), "--precision", "gptq-4bit-g128", "--tensor", name]) == 0
    assert "calibration inputs: real:" in capsys.readouterr().out
    assert main(["quantize", str(minilm_dir), "--precision", "gptq-4bit-g128", "--tensor", name, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["tensors"][0]
    assert row["calibration"].startswith("real:") and row["written_bytes"] == row["predicted_bytes"]
