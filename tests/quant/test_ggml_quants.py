"""ggml block quantizers against the gguf package: identical blocks for the types it quantizes (Q8_0, Q4_0, Q4_1,
Q5_0, Q5_1, TQ1_0) and identical floats from its dequantizers for every type, on real MiniLM weights and on random
tensors with outliers."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf import quants

from quantcore.errors import BadInputError
from quantcore.formats import ggml_quants as gq
from quantcore.formats.ggml_ksearch import nearest_int, seq_sum

from .ggml_fixture_inputs import special_rows

Q = gguf.GGMLQuantizationType
GGUF_QUANTIZES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "TQ1_0"]
K_QUANTS = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    w = load_file(str(minilm_dir / "model.safetensors"))
    return {k: v for k, v in w.items() if v.ndim == 2 and v.dtype == np.float32 and k.startswith("encoder.layer.")}


def _outliers(seed: int, rows: int, cols: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    x = (r.standard_normal((rows, cols)) * 0.02).astype(np.float32)
    mask = r.random(x.shape) < 0.005
    x[mask] *= r.uniform(20, 200, mask.sum()).astype(np.float32)  # LLM-style outlier weights
    x[:, r.integers(0, cols, 3)] *= 50  # and outlier columns
    return x


def _cases(minilm: dict[str, np.ndarray]) -> list[np.ndarray]:
    real = [minilm[k].reshape(-1, 768) for k in sorted(minilm) if "layer.0." in k or "layer.5." in k]
    return real + [_outliers(s, 64, 1536) for s in range(3)] + [special_rows(11, 24, 256).reshape(-1, 768)]


@pytest.mark.parametrize("type_name", GGUF_QUANTIZES)
def test_blocks_identical_to_gguf_quants(type_name: str, minilm: dict[str, np.ndarray]) -> None:
    for x in _cases(minilm):
        assert np.array_equal(gq.quantize_rows(type_name, x), quants.quantize(x, Q[type_name]))


@pytest.mark.parametrize("type_name", ["Q8_0", "Q4_0"])
def test_torch_fallback_blocks_identical_to_the_c_loop_and_gguf(type_name: str, minilm: dict[str, np.ndarray],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Q8_0 / Q4_0 run as one C pass where a compiler exists (formats/_native.c) and in torch otherwise: both give
    gguf.quants' blocks, all-zero blocks, ties of +-amax and subnormal scales included (special_rows)."""
    from quantcore.formats import native

    cases = _cases(minilm)
    tiny = np.full((2, 64), 1e-36, dtype=np.float32)  # d below fp16's smallest subnormal, then in its range
    tiny[1] = np.linspace(-3e-6, 3e-6, 64, dtype=np.float32)
    cases.append(tiny)
    with_c = [gq.quantize_rows(type_name, x) for x in cases]
    monkeypatch.setattr(native, "library", lambda: None)
    for x, fast in zip(cases, with_c):
        ref = quants.quantize(x, Q[type_name])
        assert np.array_equal(gq.quantize_rows(type_name, x), ref) and np.array_equal(fast, ref)


@pytest.mark.parametrize("type_name", ["Q8_0", "Q4_0"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nan_and_inf_are_refused_by_name_on_every_path(type_name: str, dtype: torch.dtype,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loops test each block for NaN / Inf as they quantize (no pass of its own); the torch path checks first:
    both refuse with the tensor's name, wherever in the tensor the bad value sits."""
    from quantcore.formats import native
    from quantcore.formats.gguf_codec import quantize_ggml

    for bad in (float("nan"), float("inf"), -float("inf")):
        for where in (0, 31, 4095):
            x = torch.zeros(32, 128, dtype=dtype)
            x.view(-1)[where] = bad
            with pytest.raises(BadInputError, match="^blk.0.ffn_up.weight: holds NaN or Inf"):
                quantize_ggml(x, type_name, name="blk.0.ffn_up.weight")
            with monkeypatch.context() as m:
                m.setattr(native, "library", lambda: None)
                with pytest.raises(BadInputError, match="^blk.0.ffn_up.weight: holds NaN or Inf"):
                    quantize_ggml(x, type_name, name="blk.0.ffn_up.weight")
    ok = torch.randn(32, 128).to(dtype)
    assert np.array_equal(quantize_ggml(ok, type_name).stored["weight"].numpy(),
                          quants.quantize(ok.float().numpy(), Q[type_name]))


def test_c_half_conversion_equals_numpy() -> None:
    """The C loops' float32 -> fp16 (round half to even, overflow to inf, subnormals) equals numpy's astype on 4M
    random bit patterns and on every boundary; an exhaustive run over all 2^32 patterns is in BENCHMARKS.md."""
    from quantcore.formats import native

    lib = native.library()
    if lib is None:
        pytest.skip("no C compiler here: the torch path converts")
    r = np.random.default_rng(3)
    bits = r.integers(0, 1 << 32, 1 << 22, dtype=np.uint64).astype(np.uint32)
    edges = np.array([0, 0x80000000, 0x33000000, 0x33000001, 0x337FFFFF, 0x38800000, 0x387FFFFF, 0x477FE000,
                      0x477FEFFF, 0x477FF000, 0x47800000, 0x7F800000, 0xFF800000], dtype=np.uint32)
    f = np.concatenate([bits, edges]).view(np.float32)
    f = f[~np.isnan(f)]
    out = np.empty(f.size, dtype=np.uint16)
    lib.qp_f16(f.ctypes.data, f.size, out.ctypes.data)
    with np.errstate(over="ignore"):
        assert np.array_equal(out, f.astype(np.float16).view(np.uint16))


@pytest.mark.parametrize("type_name", GGUF_QUANTIZES + K_QUANTS)
def test_dequantize_identical_to_gguf_dequantize(type_name: str, minilm: dict[str, np.ndarray]) -> None:
    for x in _cases(minilm)[:4] + _cases(minilm)[-2:]:
        raw = gq.quantize_rows(type_name, x)
        ours = gq.dequantize_rows(type_name, raw, x.shape)
        assert ours.dtype == np.float32 and ours.shape == x.shape
        assert np.array_equal(ours, quants.dequantize(raw, Q[type_name]))


# RMSE on 256 x 4096 N(0, 1) weights measured with the gguf package (shared/research/quant.md: Q8_0 0.00536,
# Q4_0 0.08603; seed-dependent in the 4th digit)
@pytest.mark.parametrize("type_name,published", [("Q8_0", 0.00536), ("Q4_0", 0.08603)])
def test_error_matches_published_gguf_figure(type_name: str, published: float) -> None:
    x = np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32)
    back = gq.dequantize_rows(type_name, gq.quantize_rows(type_name, x), x.shape)
    assert float(np.sqrt(np.mean((back - x) ** 2))) == pytest.approx(published, rel=0.02)


def test_k_quant_errors_are_ordered_by_bits() -> None:
    x = _outliers(9, 64, 2048)
    err = {t: float(np.sqrt(np.mean((gq.dequantize_rows(t, gq.quantize_rows(t, x), x.shape) - x) ** 2)))
           for t in ["Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"]}
    assert list(err.values()) == sorted(err.values())


def test_block_sizes_equal_gguf_constants() -> None:
    for name, (block, size) in gq.BLOCKS.items():
        assert gguf.GGML_QUANT_SIZES[Q[name]] == (block, size)


def test_torch_input_and_plain_types() -> None:
    x = _outliers(4, 8, 256)
    assert np.array_equal(gq.quantize_rows("Q6_K", torch.from_numpy(x).to(torch.bfloat16)),
                          gq.quantize_rows("Q6_K", torch.from_numpy(x).to(torch.bfloat16).float().numpy()))
    assert np.array_equal(gq.quantize_rows("F16", x), quants.quantize(x, Q.F16).view(np.uint8))
    assert np.array_equal(gq.dequantize_rows("F32", gq.quantize_rows("F32", x), x.shape), x)


def test_nearest_int_is_the_c_magic_number_trick() -> None:
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.4999998, 4194303.0, -4194303.0], dtype=np.float32)
    assert nearest_int(v).tolist() == [0, 2, 2, 0, -2, 3, 4194303, -4194303]  # half to even, like the C code
    big = np.array([5e6, 1e9, np.inf], dtype=np.float32)  # beyond 2^22 the C function wraps: so do we
    expect = [(int(np.float32(b) + np.float32(12582912.0)).__index__() if np.isfinite(b) else 0) for b in big]
    bits = (big + np.float32(12582912.0)).view(np.int32)
    assert nearest_int(big).tolist() == ((bits & 0x7FFFFF) - 0x400000).tolist()
    assert expect[0] != nearest_int(big)[0]  # i.e. not plain rounding


def test_seq_sum_accumulates_in_order() -> None:
    p = np.array([[1e8], [1.0], [-1e8], [1.0]], dtype=np.float32)
    assert seq_sum(p)[0] == np.float32(1.0)  # ((1e8 + 1) - 1e8) + 1 in float32; a pairwise sum gives 0 or 2


def test_row_length_must_be_whole_blocks() -> None:
    with pytest.raises(BadInputError, match="not a whole number of Q4_K blocks"):
        gq.quantize_rows("Q4_K", np.zeros((2, 300), np.float32))
    with pytest.raises(BadInputError, match="no quantizer"):
        gq.quantize_rows("IQ2_XXS", np.zeros((2, 256), np.float32))
    with pytest.raises(BadInputError, match="bytes do not hold"):
        gq.dequantize_rows("Q8_0", np.zeros(33, np.uint8), (1, 32))
