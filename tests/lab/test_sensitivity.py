"""Layer sensitivity on the real MiniLM weights: real activations equal transformers' own hidden states, each
value equals the output error of bitsandbytes' quantized weight, and the mixed-precision suggestion's bytes (the
planner's extra row) equal the bytes of the tensors actually quantized that way."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from quantcore.errors import BadInputError
from quantcore.formats import catalog
from quantcore.formats.mixture import Mixture, per_tensor_bytes
from quantcore.lab.activations import activations_for
from quantcore.lab.calibration import SENTENCES, synthetic_inputs
from quantcore.lab.sensitivity import sensitivity, suggest
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.local import load_path

LAYERS = ["encoder.layer.0.attention.self.query.weight", "encoder.layer.0.output.dense.weight",
          "encoder.layer.4.attention.self.value.weight", "encoder.layer.4.intermediate.dense.weight"]


def test_real_activations_are_transformers_hidden_states(minilm_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    acts = activations_for(minilm_dir, {"encoder.layer.0.attention.self.query": 384,
                                        "encoder.layer.2.output.dense": 1536}, "real", 512)
    assert acts.kind == "real" and acts.description.startswith("real:")
    tok = AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(minilm_dir), local_files_only=True, dtype=torch.float32).eval()
    enc = tok(SENTENCES[0], return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc, output_hidden_states=True).hidden_states[0][0]  # the embeddings' output
    n = hidden.shape[0]
    x = acts.inputs["encoder.layer.0.attention.self.query"]
    assert x.shape[1] == 384 and torch.allclose(x[:n], hidden, atol=1e-5)
    assert acts.inputs["encoder.layer.2.output.dense"].shape[1] == 1536  # the MLP's intermediate width


def test_synthetic_inputs_have_outlier_channels(tmp_path: Path) -> None:
    x = synthetic_inputs(4096, 200)
    big = (x.abs() > 6).float().mean(dim=0)
    assert int((big > 0.9).sum()) == 6  # 0.15% of channels (LLM.int8()), systematic in every token
    assert float(x[:, big < 0.5].std()) == pytest.approx(1.0, abs=0.1)
    acts = activations_for(tmp_path, {"a": 64}, "auto", 10)  # nothing loadable there: synthetic, and says why
    assert acts.kind == "synthetic" and "config.json" in acts.description
    with pytest.raises(BadInputError, match="real activations are not available"):
        activations_for(tmp_path, {"a": 64}, "real", 10)


def test_sensitivity_values_are_output_errors_of_bitsandbytes_weights(minilm_dir: Path) -> None:
    F = pytest.importorskip("bitsandbytes.functional")
    from safetensors import safe_open

    s = sensitivity(minilm_dir, ["nf4", "int8"], layers=LAYERS, tokens=128)
    assert s.layers == tuple(LAYERS) and s.precisions == ("nf4", "int8")
    widths = {"encoder.layer.0.attention.self.query": 384, "encoder.layer.0.output.dense": 1536,
              "encoder.layer.4.attention.self.value": 384, "encoder.layer.4.intermediate.dense": 384}
    acts = activations_for(minilm_dir, widths, "real", 128)
    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        for name, (nf4, int8) in zip(LAYERS, s.values):
            w = f.get_tensor(name).double()
            x = acts.inputs[name.removesuffix(".weight")].double()
            packed, st = F.quantize_4bit(w.float(), blocksize=64, quant_type="nf4", compress_statistics=True)
            q4 = F.dequantize_4bit(packed, st).double()
            cb, scb, _ = F.int8_vectorwise_quant(w.float())
            q8 = cb.double() * scb.double()[:, None] / 127
            ref = x @ w.T
            assert nf4 == pytest.approx(float((x @ q4.T - ref).norm() / ref.norm()), rel=1e-4)
            assert int8 == pytest.approx(float((x @ q8.T - ref).norm() / ref.norm()), rel=1e-3)
            assert int8 < nf4


def test_suggestion_bytes_are_the_quantized_tensors_bytes(minilm_dir: Path) -> None:
    """The planner's row for the suggestion holds exactly the bytes of quantizing the model that way."""
    from quantcore.lab.model_quantize import quantize_model

    inv = load_path(minilm_dir)
    s = sensitivity(minilm_dir, ["nf4", "int8"], layers=LAYERS, tokens=64)
    sug = suggest(s, inv, budget=0.02)
    assert sug is not None and sug.base == "nf4" and sug.high == "int8"
    assert 0 < len(sug.keep) < len(LAYERS) and sug.error_mixed < sug.error_base
    # the most output error saved per extra byte goes first
    gains = {n: b - h for n, (b, h) in zip(s.layers, s.values)}
    assert max(gains, key=gains.get) in sug.keep
    base = {r.name: r.written_bytes for r in quantize_model(minilm_dir, "nf4", metrics=False)}
    high = {r.name: r.written_bytes for r in quantize_model(minilm_dir, "int8", sug.keep, metrics=False)}
    weights = {t.name for t in inv.tensors if t.role != "buffer"}
    real = sum(high.get(n, base[n]) for n in weights)
    plan = make_plan(inv, Workload(), ("nf4",), mixtures=(sug.mixture,))
    assert [r.precision.id for r in plan.rows] == ["nf4", sug.mixture.id]
    assert plan.rows[1].memory.weights == real == sug.mixture.model_bytes(inv)
    size_change = plan.rows[1].memory.weights / plan.rows[0].memory.weights - 1
    assert 0 < size_change <= 0.02
    assert sug.sentence(size_change).startswith(f"keep these {len(sug.keep)} layers at int8, the rest nf4: +")


def test_mixture_is_a_catalog_row(minilm_dir: Path) -> None:
    inv = load_path(minilm_dir)
    for pid in catalog.precision_ids():
        assert sum(per_tensor_bytes(inv, pid).values()) == catalog.weight_bytes(inv, pid)
    m = Mixture("q4_k_m", (("encoder.layer.0.output.dense.weight", "int8"),))
    assert Mixture("q4_k_m", (("encoder.layer.0.output.dense.weight", "INT8"),)).id == m.id
    from quantcore.planner.hardware import find_gpu, load_gpus

    plan = make_plan(inv, Workload(), ("q4_k_m", "int8"), (find_gpu("rtx-4090", load_gpus()),), mixtures=(m,))
    q4, i8, mix = (r.memory.weights for r in plan.rows)
    assert plan.rows[2].counts == (1,) and plan.rows[2].gpus[0].fits
    t = next(t for t in inv.tensors if t.name == "encoder.layer.0.output.dense.weight")
    q4_alone = per_tensor_bytes(inv, "q4_k_m")[t.name]
    assert mix == q4 - q4_alone + catalog.tensor_bytes(t, catalog.get_precision("int8"))
    assert catalog.get_precision(m.id).family == "mixed"
    with pytest.raises(BadInputError):
        Mixture(m.id, ())


def test_sensitivity_bad_input(minilm_dir: Path) -> None:
    with pytest.raises(BadInputError, match="at least one precision"):
        sensitivity(minilm_dir, [])
    with pytest.raises(BadInputError, match="no linear layer"):
        sensitivity(minilm_dir, ["int8"], layers=["nothing"])
