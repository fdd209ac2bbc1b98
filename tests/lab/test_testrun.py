"""Test-runs on the real MiniLM weights (CPU): bytes held equal to the catalog's and to what bitsandbytes holds, the
native int8 path equal to bitsandbytes' int8 matmul, the CPU peak-memory tracker against known allocations, devices
that are not here refused in one line."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from quantcore.errors import BadInputError
from quantcore.lab import devices
from quantcore.lab.kernels import DEQUANT, NATIVE_FP8, NATIVE_INT8, build_linear
from quantcore.lab.memtrack import cpu_tracker, storage_bytes
from quantcore.lab.testrun import testrun
from quantcore.lab.timing import median_latency_ms, peak_bytes

LAYER = "encoder.layer.3.intermediate.dense"


def test_tracker_counts_live_storages_and_their_peak() -> None:
    tracker = cpu_tracker()
    with tracker:
        a = torch.empty(1000, dtype=torch.float32)  # 4,000 B
        b = torch.empty(500, dtype=torch.float64)  # 4,000 B
        view = b[10:20]  # same storage: nothing new
        assert tracker.current == 8000 and view.numel() == 10
        del a
        assert tracker.current == 4000 and tracker.peak == 8000
        x, w = torch.ones(64, 384), torch.ones(1536, 384)
        y = x @ w.T  # 64 x 1536 float32 more
        assert tracker.current == 4000 + 4 * (64 * 384 + 1536 * 384 + 64 * 1536)
        del x, w, y
    assert tracker.current == 4000
    assert tracker.peak == 4000 + 4 * (64 * 384 + 1536 * 384 + 64 * 1536)  # b, x, w and y alive at once


def test_storage_bytes_counts_each_storage_once() -> None:
    t = torch.zeros(100, dtype=torch.int8)
    assert storage_bytes([t, t[:10], t.view(10, 10)]) == 100
    assert storage_bytes([t, torch.zeros(3, dtype=torch.float32)]) == 112


def test_peak_bytes_of_a_forward_is_its_tensors() -> None:
    w = torch.randn(256, 128)
    x = torch.randn(32, 128)
    peak, made, out = peak_bytes(lambda: (w.clone(), x.clone()), lambda m: m[1] @ m[0].T, torch.device("cpu"))
    assert out.shape == (32, 256)
    assert peak == 4 * (256 * 128 + 32 * 128 + 32 * 256)


def test_median_latency_after_warmup() -> None:
    calls = []

    def fn() -> None:
        calls.append(1)
        time.sleep(0.002)

    ms, runs = median_latency_ms(fn, torch.device("cpu"), warmup=2, min_runs=5, max_runs=5)
    assert runs == 5 and len(calls) == 7
    assert 2.0 <= ms < 50.0


def test_devices_here_and_the_ones_that_are_not() -> None:
    cpu = devices.resolve("cpu")
    assert cpu.device == "cpu" and cpu.name and cpu.total_bytes and cpu.free_bytes and cpu.free_bytes > 0
    assert devices.resolve("auto").device == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert devices.list_devices()[0].device == "cpu"
    if not torch.cuda.is_available():  # no GPU in this task: the CUDA paths can only say they are not available
        for spec in ("cuda", "cuda:1"):
            with pytest.raises(BadInputError, match="not available") as exc:
                devices.resolve(spec)
            assert "\n" not in str(exc.value)
    with pytest.raises(BadInputError, match="unknown device"):
        devices.resolve("tpu")
    with pytest.raises(BadInputError, match="unknown device"):
        devices.resolve("cuda:x")


def test_int8_native_path_matches_bitsandbytes_int8_matmul(minilm_weights: dict[str, torch.Tensor]) -> None:
    """LLM.int8() without outlier columns: our torch._int_mm path gives bitsandbytes' own int8 matmul result."""
    F = pytest.importorskip("bitsandbytes.functional")
    from quantcore.formats.quantize import quantize

    w = minilm_weights["encoder.layer.3.intermediate.dense.weight"]
    x = torch.randn(24, w.shape[1], generator=torch.Generator().manual_seed(1))
    layer = build_linear(quantize(w, "int8"), None, torch.device("cpu"), int8_threshold=0.0)
    ours = layer(x)
    assert layer.path == NATIVE_INT8
    cb, scb, _ = F.int8_vectorwise_quant(w)
    xq, sx, _ = F.int8_vectorwise_quant(x)
    theirs = F.int8_mm_dequant(F.int8_linear_matmul(xq, cb), sx, scb).float()  # fp16 output
    assert torch.allclose(ours, theirs, rtol=2e-3, atol=2e-3 * float(theirs.abs().max()))


def test_int8_outlier_columns_go_through_float(minilm_weights: dict[str, torch.Tensor]) -> None:
    from quantcore.formats.quantize import dequantize, quantize

    w = minilm_weights["encoder.layer.3.intermediate.dense.weight"]
    x = torch.randn(8, w.shape[1], generator=torch.Generator().manual_seed(2))
    x[:, 7] = 40.0  # one systematic outlier channel
    q = quantize(w, "int8")
    layer = build_linear(q, None, torch.device("cpu"))
    ref = x @ dequantize(q).T
    with_outliers = layer(x)
    assert "1 input columns" in layer.note
    plain = build_linear(q, None, torch.device("cpu"), int8_threshold=0.0)(x)
    err = lambda y: float((y - ref).norm() / ref.norm())  # noqa: E731
    assert err(with_outliers) < err(plain) / 3  # the outlier column no longer squeezes the int8 grid


def test_fp8_native_path_and_dequantize_path(minilm_weights: dict[str, torch.Tensor]) -> None:
    from quantcore.formats.quantize import dequantize, quantize

    w = minilm_weights["encoder.layer.3.intermediate.dense.weight"]
    x = torch.randn(16, w.shape[1], generator=torch.Generator().manual_seed(3))
    q = quantize(w, "fp8")
    layer = build_linear(q, None, torch.device("cpu"))
    y = layer(x)
    assert layer.path == NATIVE_FP8
    ref = x @ dequantize(q).T  # same weights; the activations' E4M3 rounding is the only difference
    assert float((y - ref).norm() / ref.norm()) < 0.05
    nf4 = build_linear(quantize(w, "nf4"), None, torch.device("cpu"))
    assert torch.allclose(nf4(x), x @ dequantize(quantize(w, "nf4")).T, rtol=1e-5, atol=1e-5)
    assert nf4.path == DEQUANT


def test_testrun_bytes_equal_catalog_and_bitsandbytes(minilm_dir: Path) -> None:
    """Measured bytes (storages the quantized layer holds) == the catalog's prediction == what bitsandbytes holds
    for the same weight (packed codes + its quant state / CB + SCB)."""
    F = pytest.importorskip("bitsandbytes.functional")
    from safetensors import safe_open

    run = testrun(minilm_dir, ["int8", "nf4", "fp16", "int4-g128"], LAYER, "cpu", "synthetic", batch=2, tokens=16)
    by = {r.precision: r for r in run.results}
    assert set(by) == {"int8", "nf4", "fp16", "int4-g128"} and not run.skipped
    for r in run.results:
        assert r.measured_bytes == r.predicted_bytes > 0
        assert r.latency_ms > 0 and r.runs >= 5 and r.peak_bytes > r.measured_bytes
        assert 0 < r.output_error < 0.5
    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        w = f.get_tensor(LAYER + ".weight")
    packed, st = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    bnb4 = sum(t.nbytes for t in (packed, st.absmax, st.code, st.state2.absmax, st.state2.code, st.offset))
    assert by["nf4"].measured_bytes == bnb4
    cb, scb, _ = F.int8_vectorwise_quant(w)
    assert by["int8"].measured_bytes == cb.nbytes + scb.nbytes
    assert by["fp16"].measured_bytes == w.numel() * 2
    assert by["int8"].kernel == NATIVE_INT8 and by["nf4"].kernel == DEQUANT
    assert by["fp16"].kernel == "native float16 matmul"
    assert run.baseline_bytes == w.numel() * 4
    # the error ranks as the formats do: 16-bit < 8-bit < 4-bit
    assert by["fp16"].output_error < by["int8"].output_error < by["nf4"].output_error


def test_testrun_blocks_with_real_activations(minilm_dir: Path) -> None:
    for layer, weights in (("mlp:1", 2), ("attention:1", 4)):
        run = testrun(minilm_dir, ["int8", "q4_k_m"], layer, "auto", "real", batch=2, tokens=24)
        assert run.calibration.startswith("real:")
        assert len(run.block.weights) == weights and run.device.device == "cpu"
        assert [r.precision for r in run.results] == ["int8", "q4_k_m"] and not run.skipped
        for r in run.results:
            assert r.measured_bytes == r.predicted_bytes
            assert r.output_error < (0.05 if r.precision == "int8" else 0.2)  # 4-bit: about 10% on MiniLM


def test_testrun_bad_input(minilm_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no linear layer matches"):
        testrun(minilm_dir, ["int8"], "nope.dense")
    with pytest.raises(BadInputError, match="batch and tokens"):
        testrun(minilm_dir, ["int8"], LAYER, batch=0)
    with pytest.raises(BadInputError, match="no attention block in layer 9"):
        testrun(minilm_dir, ["int8"], "attention:9")
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="device cuda is not available"):
            testrun(minilm_dir, ["int8"], LAYER, device="cuda")
    with pytest.raises(BadInputError, match="give a local folder"):
        testrun(tmp_path / "missing", ["int8"])
