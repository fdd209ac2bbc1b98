"""Metrics against hand computations, streaming histograms against numpy on every safetensors dtype and on a real
GGUF, and the whole-model streaming quantize (bytes, atomic output, cancel, bounded memory)."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from quantcore.errors import BadInputError
from quantcore.formats.quantize import dequantize, quantize
from quantcore.lab.histogram import CancelledError, histogram_of_model, histogram_of_tensor
from quantcore.lab.levels import quantization_levels
from quantcore.lab.metrics import block_errors, error_metrics, outlier_stats, output_error
from quantcore.lab.model_quantize import quantize_model
from quantcore.sources.tensors import list_tensors, select

from .conftest import outlier_matrix


def test_error_metrics_equal_their_definitions():
    w = outlier_matrix(64, 96, seed=1)
    q = dequantize(quantize(w, "int4-g128"))
    m = error_metrics(w, q)
    a, b = w.double().numpy(), q.double().numpy()
    e = a - b
    assert m.mse == pytest.approx((e ** 2).mean(), rel=1e-12)
    assert m.rel_frobenius == pytest.approx(np.linalg.norm(e) / np.linalg.norm(a), rel=1e-12)
    assert m.sqnr_db == pytest.approx(10 * np.log10((a ** 2).sum() / (e ** 2).sum()), rel=1e-12)
    assert m.max_abs_error == pytest.approx(np.abs(e).max())
    assert m.cosine == pytest.approx((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-12)
    exact = error_metrics(w, w)
    assert exact.mse == 0 and math.isinf(exact.sqnr_db) and exact.as_dict()["sqnr_db"] is None


def test_output_error_and_block_errors():
    w = outlier_matrix(32, 128, seed=2)
    x = torch.randn(50, 128, generator=torch.Generator().manual_seed(3))
    q = dequantize(quantize(w, "nf4"))
    want = np.linalg.norm(x.double().numpy() @ (w - q).double().numpy().T) / np.linalg.norm(
        x.double().numpy() @ w.double().numpy().T)
    assert output_error(w, q, x) == pytest.approx(want, rel=1e-9)
    be = block_errors(w, q, 64)
    assert be.shape == (32, 2)
    blk = (w - q)[0, :64].double().norm() / w[0, :64].double().norm()
    assert float(be[0, 0]) == pytest.approx(float(blk), rel=1e-9)
    with pytest.raises(BadInputError):
        output_error(w, q, torch.randn(5, 7))


def test_outlier_stats_see_the_outliers():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(200, 300, generator=g)
    s = outlier_stats(w)
    assert abs(s.kurtosis) < 0.1 and s.beyond_6_sigma == 0.0
    w[:, 17] = 20.0
    w[5, 3] = -9.0
    s = outlier_stats(w)
    assert s.outlier_columns == 2 and s.kurtosis > 1 and s.absmax == 20.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn,
                                   torch.float8_e5m2], ids=str)
def test_streaming_histogram_equals_numpy_on_every_dtype(tmp_path: Path, dtype):
    g = torch.Generator().manual_seed(5)
    a = (torch.randn(300, 257, generator=g) * 2).to(dtype)
    b = (torch.randn(64, generator=g) * 30).to(dtype)
    save_file({"a.weight": a, "b.bias": b, "ids": torch.arange(10)}, str(tmp_path / "m.safetensors"))
    h = histogram_of_model(tmp_path / "m.safetensors", None, bins=32)
    values = np.concatenate([a.float().numpy().ravel(), b.float().numpy().ravel()])
    assert h.total == values.size and h.tensors == ("a.weight", "b.bias")  # the int tensor is not a weight
    assert h.minimum == values.min() and h.maximum == values.max()
    assert h.mean == pytest.approx(values.astype(np.float64).mean(), rel=1e-9, abs=1e-12)
    assert h.std == pytest.approx(values.astype(np.float64).std(), rel=1e-9)
    counts, _ = np.histogram(values, bins=32, range=(values.min(), values.max()))
    # counts are re-binned from a fine histogram: each value lands in its bin or a neighbour
    assert sum(h.counts) == values.size
    assert np.abs(np.array(h.counts) - counts).sum() <= 0.01 * values.size
    fine = 2 * 2 ** math.ceil(math.log2(np.abs(values).max() + 1e-30)) * 2 / 8192
    for p in (1, 50, 99):
        assert h.percentiles[f"p{p:g}"] == pytest.approx(np.percentile(values, p), abs=2 * fine)


def test_histogram_of_a_layer_and_of_the_real_minilm(minilm_dir: Path):
    layer = histogram_of_model(minilm_dir, ["encoder.layer.3."], bins=20)
    assert all(n.startswith("encoder.layer.3.") for n in layer.tensors) and len(layer.tensors) == 16
    one = histogram_of_model(minilm_dir, ["encoder.layer.3.intermediate.dense.weight"], bins=20)
    w = select(list_tensors(minilm_dir), ["encoder.layer.3.intermediate.dense.weight"])[0].load()
    ref = histogram_of_tensor(w, 20, "w")
    assert one.counts == ref.counts and one.total == w.numel() == 1536 * 384


def test_histogram_of_a_gguf_dequantizes_through_the_gguf_package(tmp_path: Path):
    import gguf

    g = np.random.default_rng(9)
    w = g.standard_normal((64, 256)).astype(np.float32)
    path = tmp_path / "m.gguf"
    wr = gguf.GGUFWriter(str(path), "llama")
    raw = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
    wr.add_tensor("blk.0.ffn_up.weight", raw, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    wr.add_tensor("blk.0.attn_norm.weight", np.ones(256, dtype=np.float32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    refs = {r.name: r for r in list_tensors(path)}
    assert refs["blk.0.ffn_up.weight"].shape == (64, 256) and refs["blk.0.ffn_up.weight"].dtype == "Q8_0"
    h = histogram_of_model(path, ["blk.0.ffn_up.weight"], bins=16)
    values = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q8_0).ravel()
    assert h.total == values.size and h.minimum == values.min() and h.maximum == values.max()
    assert h.mean == pytest.approx(values.astype(np.float64).mean(), rel=1e-9)


def test_histogram_cancel_and_bad_bins(minilm_dir: Path):
    ev = threading.Event()
    ev.set()
    with pytest.raises(CancelledError):
        histogram_of_model(minilm_dir, None, 10, cancel=ev)
    with pytest.raises(BadInputError):
        histogram_of_model(minilm_dir, None, 0)


@pytest.mark.parametrize("pid", ["nf4", "int8", "fp8", "int4-g128", "mxfp4", "nvfp4", "binary"])
def test_levels_are_the_formats_grid(pid):
    w = outlier_matrix(64, 256, seed=8)
    levels, note = quantization_levels(pid, w)
    assert len(levels) >= 2 and pid in note
    back = dequantize(quantize(w, pid))
    if pid in ("nf4", "int8", "binary"):
        # the typical block's values are drawn from its grid
        assert len(levels) == {"nf4": 16, "int8": 255, "binary": 2}[pid]
    assert min(levels) < 0 < max(levels) or pid == "int4-g128"
    assert max(abs(v) for v in levels) <= float(back.abs().max()) * 1.01 + 1e-6


def test_whole_model_quantize_bytes_file_and_bnb_layout(minilm_dir: Path, tmp_path: Path):
    out = tmp_path / "all.safetensors"
    res = quantize_model(minilm_dir, "nf4", out=out, metrics=False)
    assert len(res) == 104 and out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "all.safetensors"]  # no temporary left
    quantized = [r for r in res if r.precision == "nf4"]
    assert len(quantized) == 37  # 6 layers x (q, k, v, o, up, down) and the pooler, as the catalog counts
    assert all(r.predicted_bytes == r.written_bytes for r in res)
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        keys = set(f.keys())
    assert "encoder.layer.0.attention.self.query.weight.quant_state.bitsandbytes__nf4" in keys
    assert "embeddings.word_embeddings.weight" in keys


def test_cancel_and_errors_leave_no_file(minilm_dir: Path, tmp_path: Path):
    out = tmp_path / "x.safetensors"
    ev = threading.Event()
    calls = []

    def progress(msg, frac):
        calls.append(frac)
        if len(calls) == 3:
            ev.set()

    with pytest.raises(CancelledError):
        quantize_model(minilm_dir, "int8", out=out, progress=progress, cancel=ev)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadInputError, match="does not apply|higher precision"):
        quantize_model(minilm_dir, "nf4", ["embeddings.LayerNorm.weight"], out=out)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadInputError, match="gguf"):
        quantize_model(minilm_dir, "nf4", ["encoder.layer.0.output.dense.weight"], out=tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_histogram_fused_c_pass_equals_the_torch_path(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled histogram (formats/_native.c: one fused pass for float32, counts per bit pattern for bf16 and
    fp16) bins every value where the torch path does, and its sums agree to float64 rounding; a range that must
    grow mid-stream (a later chunk with larger values) too."""
    from quantcore.formats import native
    from quantcore.lab.histogram import StreamingHistogram

    if native.library() is None:
        pytest.skip("no C compiler here: only the torch path exists")
    g = torch.Generator().manual_seed(5)
    chunks = [(torch.randn(300_000, generator=g) * s).to(getattr(torch, dtype)) for s in (0.02, 0.02, 3.0, 0.5)]
    fused = StreamingHistogram()
    for c in chunks:
        fused.add(c)
    monkeypatch.setattr(native, "library", lambda: None)
    plain = StreamingHistogram()
    for c in chunks:
        plain.add(c)
    fused.settle()
    plain.settle()
    assert fused.radius == plain.radius and torch.equal(fused.fine, plain.fine)
    assert (fused.n, fused.lo, fused.hi) == (plain.n, plain.lo, plain.hi)
    assert fused.s1 == pytest.approx(plain.s1, rel=1e-9, abs=1e-9) and fused.s2 == pytest.approx(plain.s2, rel=1e-12)
    bad = torch.tensor([1.0, float("nan")], dtype=getattr(torch, dtype))
    monkeypatch.undo()
    with pytest.raises(BadInputError, match="1 NaN/Inf"):
        StreamingHistogram().add(bad)
    # and every value is in its true bin: floor(x * 8192 / 2r) + 4096 in exact arithmetic (numpy, float64), tiny
    # negative values included (a float32 (x + r) * scale once rounded them into the bin above zero)
    import numpy as np

    tiny = torch.tensor([-1e-30, 1e-30, -0.0], dtype=getattr(torch, dtype))
    exact = StreamingHistogram()
    for c in chunks + [tiny]:
        exact.add(c)
    exact.settle()
    allv = np.concatenate([c.to(torch.float64).numpy() for c in chunks + [tiny]])
    want = np.bincount(np.clip(np.floor(allv * (8192 / (2 * exact.radius))) + 4096, 0, 8191).astype(np.int64),
                       minlength=8192)
    assert np.array_equal(exact.fine.numpy().astype(np.int64), want)
