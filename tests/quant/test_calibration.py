"""Calibration inputs: real activations of MiniLM's linears (checked against the model's own embedding output),
bounded tokens, and the synthetic fallback with outlier channels when no model can be loaded."""
from __future__ import annotations

import json
import threading

import pytest
import torch

from quantcore.lab import calibration as cal


@pytest.fixture(scope="module")
def real(minilm_dir) -> cal.Calibration:
    return cal.capture(minilm_dir, sentences=cal.SENTENCES[:6], max_tokens=4096)


def test_real_inputs_are_the_models_own_activations(minilm_dir, real: cal.Calibration) -> None:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(minilm_dir), local_files_only=True).eval()
    encoded = [tok(s, return_tensors="pt") for s in cal.SENTENCES[:6]]
    n = sum(int(e["input_ids"].shape[-1]) for e in encoded)
    assert real.kind == "real" and real.tokens == n and real.sentences == 6
    assert real.description == f"real: {n} tokens from 6 sentences"
    # the first projection reads the embeddings' LayerNorm output, computed here without any hook
    with torch.inference_mode():
        emb = torch.cat([model.embeddings(input_ids=e["input_ids"], token_type_ids=e["token_type_ids"])[0]
                         for e in encoded])
    query = real.input_for("encoder.layer.0.attention.self.query.weight")
    assert torch.allclose(query, emb, atol=1e-5)
    # q, k and v are fed the same tensor: stored once
    assert real.inputs["encoder.layer.0.attention.self.key"] is query
    config = json.loads((minilm_dir / "config.json").read_text())
    assert real.inputs["encoder.layer.2.output.dense"].shape == (n, config["intermediate_size"])
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert len(real.inputs) == linears == 6 * 6 + 1  # six per layer, and the pooler


def test_token_budget_is_respected(minilm_dir) -> None:
    seen = []
    c = cal.capture(minilm_dir, max_tokens=40, modules=lambda n: n.endswith("intermediate.dense"),
                    progress=lambda msg, frac: seen.append(frac))
    assert c.tokens <= 40 and c.tokens >= 30
    assert set(c.inputs) == {f"encoder.layer.{i}.intermediate.dense" for i in range(6)}
    assert all(x.shape == (c.tokens, 384) for x in c.inputs.values())
    assert seen and seen == sorted(seen) and seen[-1] <= 1.0


def test_cancel_stops_before_the_first_sentence(minilm_dir) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(cal.CalibrationUnavailable):
        cal.capture(minilm_dir, cancel=stop)


def test_calibration_for_weights_of_the_model(minilm_dir) -> None:
    names = {"encoder.layer.1.attention.self.value.weight": 384, "encoder.layer.4.output.dense.weight": 1536}
    c = cal.calibration_for(minilm_dir, names, max_tokens=64)
    assert c.kind == "real" and c.description.startswith("real: ")
    assert c.input_for("encoder.layer.4.output.dense.weight").shape[1] == 1536
    assert set(c.inputs) == {n.removesuffix(".weight") for n in names}


def test_unloadable_model_falls_back_to_synthetic(tmp_path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    c = cal.calibration_for(tmp_path, {"model.layers.0.mlp.down_proj.weight": 4096}, max_tokens=512)
    assert c.kind == "synthetic"
    assert c.description.startswith("synthetic with outlier channels") and "no .safetensors" in c.description
    x = c.input_for("model.layers.0.mlp.down_proj.weight")
    assert x.shape == (512, 4096)
    # LLM.int8()-style outliers: a few channels (0.15% of 4096 = 6) beyond 6.0 in most tokens, the rest not
    share_beyond_6 = (x.abs() > 6).float().mean(0)
    assert int((share_beyond_6 > 0.9).sum()) == 6
    assert float(share_beyond_6.sort().values[:-6].max()) < 0.01
    assert cal.calibration_for(None, {"w": 64}).kind == "synthetic"


def test_synthetic_inputs_are_correlated_and_reproducible() -> None:
    a = cal.synthetic_inputs(256, 400, seed=3)
    assert torch.equal(a, cal.synthetic_inputs(256, 400, seed=3))
    inliers = a[:, (a.abs() > 6).float().mean(0) < 0.5]
    eig = torch.linalg.eigvalsh(torch.cov(inliers.t())).flip(0)
    assert float(eig[:16].sum() / eig.sum()) > 0.3  # a decaying spectrum, unlike white noise (16/254 = 6%)
