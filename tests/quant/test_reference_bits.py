"""Bit-exact against the reference libraries, on the real MiniLM weights and on random matrices with outliers:
bitsandbytes 0.50 (nf4, fp4, LLM.int8()), torchao 0.18 (fp8 per row, affine int groups, nvfp4) and the gguf package
(MXFP4, TQ1_0)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quantcore.formats import native
from quantcore.formats.affine import scale_dtype, unpack_codes
from quantcore.formats.quantize import dequantize, quantize

from .conftest import MINILM_MATRICES, outlier_matrix

bnbf = pytest.importorskip("bitsandbytes.functional")

DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def _weights(minilm_weights):
    yield from minilm_weights.items()
    yield "outliers 256x1000", outlier_matrix(256, 1000, seed=3)  # 1000 % 64 != 0: partial last blocks
    yield "outliers 7x9", outlier_matrix(7, 9, seed=4)  # odd element count: bitsandbytes pads one code


@pytest.fixture(params=["native", "torch"])
def path(request, monkeypatch):
    """Every bit-exact test runs on the fused C loops and on the pure-torch fallback."""
    if request.param == "torch":
        monkeypatch.setenv(native.DISABLE_ENV, "1")
    elif native.library() is None:
        pytest.skip("no C compiler here: only the torch path runs")
    return request.param


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
def test_nf4_fp4_equal_bitsandbytes_quantize_4bit(minilm_weights, quant_type, dtype, path):
    for name, w in _weights(minilm_weights):
        w = w.to(dtype)
        ref, state = bnbf.quantize_4bit(w, blocksize=64, quant_type=quant_type, compress_statistics=True)
        q = quantize(w, quant_type)
        s = q.stored
        assert torch.equal(s["weight"], ref), name
        assert torch.equal(s["weight.absmax"], state.absmax), name
        assert torch.equal(s["weight.nested_absmax"], state.state2.absmax), name
        assert torch.equal(s["weight.nested_offset"], state.offset), name
        assert torch.equal(s["weight.quant_map"], state.code), name
        assert torch.equal(s["weight.nested_quant_map"], state.state2.code), name
        assert torch.equal(dequantize(q).to(dtype), bnbf.dequantize_4bit(ref, state)), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_int8_equals_bitsandbytes_int8_vectorwise_quant(minilm_weights, dtype, path):
    for name, w in _weights(minilm_weights):
        w = w.to(dtype)
        cb, scb, _ = bnbf.int8_vectorwise_quant(w.clone())
        q = quantize(w, "int8")
        assert torch.equal(q.stored["weight"], cb), name
        assert torch.equal(q.stored["SCB"], scb), name
        assert torch.equal(dequantize(q), bnbf.int8_vectorwise_dequant(cb, scb).float()), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_fp8_equals_torchao_float8_per_row(minilm_weights, dtype):
    qp = pytest.importorskip("torchao.quantization.quant_primitives")
    for name, w in _weights(minilm_weights):
        w = w.to(dtype)
        block = [1, w.shape[-1]]
        scale = qp._choose_scale_float8(w, block, torch.float8_e4m3fn)
        ref = qp._quantize_affine_float8(w, scale, torch.float8_e4m3fn)
        q = quantize(w, "fp8")
        assert torch.equal(q.stored["weight_scale"].reshape(scale.shape), scale), name
        assert torch.equal(q.stored["weight"].view(torch.uint8), ref.view(torch.uint8)), name
        assert torch.equal(dequantize(q), qp._dequantize_affine_float8(ref, scale, torch.float32)), name


@pytest.mark.parametrize("pid,bits,group", [("int4-g128", 4, 128), ("int3-g128", 3, 128), ("int2-g64", 2, 64),
                                            ("int8-g32", 8, 32), ("int5-g64", 5, 64)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_int_family_integers_equal_torchao_affine(minilm_weights, pid, bits, group, path, dtype):
    """torchao's primitives on the float32 values of the weight (a bf16 weight is read as its exact float32)."""
    qp = pytest.importorskip("torchao.quantization.quant_primitives")
    weights = dict(minilm_weights)
    weights["outliers"] = outlier_matrix(128, 1024, seed=5)
    for name, w in weights.items():
        q = quantize(w.to(dtype), pid)
        w = w.to(dtype).float()
        s, z = qp.choose_qparams_affine(w, qp.MappingType.ASYMMETRIC, (1, group), torch.uint8, 0, 2 ** bits - 1,
                                        scale_dtype=scale_dtype(bits), zero_point_dtype=torch.int32)
        ref = qp.quantize_affine(w, (1, group), s, z, torch.uint8, 0, 2 ** bits - 1)
        rows, groups = w.shape[0], w.shape[1] // group
        codes = unpack_codes(q.stored["weight_packed"].reshape(rows, groups, -1), bits, group).reshape(w.shape)
        assert torch.equal(codes, ref.to(torch.int64)), name
        assert torch.equal(q.stored["weight_scale"], s.reshape(rows, groups)), name
        assert torch.equal(q.stored["weight_zero_point"].float(), z.float().reshape(rows, groups)), name
        want = qp.dequantize_affine(ref, (1, group), s, z, torch.uint8, 0, 2 ** bits - 1, output_dtype=torch.float32)
        assert torch.allclose(dequantize(q), want, rtol=0, atol=1e-6), name


def test_int_family_partial_group_equals_torchao_on_that_group():
    qp = pytest.importorskip("torchao.quantization.quant_primitives")
    w = outlier_matrix(16, 300, seed=6)  # 2 whole groups of 128 and one of 44
    q = quantize(w, "int4-g128")
    codes = unpack_codes(q.stored["weight_packed"].reshape(16, 3, 64), 4, 128).reshape(16, 384)
    tail = w[:, 256:].contiguous()
    s, z = qp.choose_qparams_affine(tail, qp.MappingType.ASYMMETRIC, (1, 44), torch.uint8, 0, 15,
                                    scale_dtype=torch.bfloat16, zero_point_dtype=torch.int32)
    ref = qp.quantize_affine(tail, (1, 44), s, z, torch.uint8, 0, 15)
    assert torch.equal(codes[:, 256:300], ref.to(torch.int64))
    assert (codes[:, 300:] == 0).all()


def test_int_symmetric_option_follows_the_seed_formula():
    w = outlier_matrix(8, 128, seed=7)
    q = quantize(w, "int4-g128", symmetric=True)
    s = (w.abs().amax(dim=1) / 7).to(torch.bfloat16)
    assert torch.equal(q.stored["weight_scale"].reshape(-1), s)
    codes = unpack_codes(q.stored["weight_packed"].reshape(8, 1, 64), 4, 128).reshape(8, 128) - 8
    assert codes.min() >= -7 and codes.max() <= 7
    want = torch.clamp(torch.round(w * (1.0 / s).float()[:, None]), -7, 7)  # reciprocal in the scale dtype
    assert torch.equal(codes.float(), want)


def test_mxfp4_equals_the_gguf_package(minilm_weights):
    gguf = pytest.importorskip("gguf")
    for name, w in _weights(minilm_weights):
        if w.shape[-1] % 32:
            continue
        q = quantize(w, "mxfp4")
        ref = gguf.quants.quantize(w.numpy(), gguf.GGMLQuantizationType.MXFP4)
        assert np.array_equal(q.stored["weight"].numpy(), ref), name
        back = gguf.quants.dequantize(ref, gguf.GGMLQuantizationType.MXFP4)
        assert np.array_equal(dequantize(q).numpy(), back), name


def test_mxfp4_ties_and_zeros_equal_the_gguf_package():
    gguf = pytest.importorskip("gguf")
    w = torch.zeros(4, 64)
    w[0, :32] = torch.arange(32) * 0.25  # every value on or between grid points
    w[1, :32] = -torch.arange(32) * 0.125
    w[2, 32:] = torch.linspace(-3, 3, 32)
    q = quantize(w, "mxfp4")
    assert np.array_equal(q.stored["weight"].numpy(), gguf.quants.quantize(w.numpy(), gguf.GGMLQuantizationType.MXFP4))


def _nvfp4_reference_dequant(q) -> torch.Tensor:
    """An independent NVFP4 decoder: E2M1 bits (sign, 2 exponent bits with bias 1, 1 mantissa bit) x E4M3 x fp32."""
    packed = q.stored["weight"].reshape(q.shape[0], -1).numpy().astype(np.int64)
    codes = np.stack([packed & 15, packed >> 4], axis=-1).reshape(q.shape[0], -1)
    sign = np.where(codes & 8, -1.0, 1.0)
    exp, man = (codes >> 1) & 3, codes & 1
    mag = np.where(exp == 0, man * 0.5, (1 + man / 2) * 2.0 ** (exp - 1))
    e4m3 = q.stored["weight_scale"].view(torch.uint8).numpy().astype(np.int64)
    se, sm = (e4m3 >> 3) & 15, e4m3 & 7
    scale = np.where(se == 0, sm / 8 * 2.0 ** -6, (1 + sm / 8) * 2.0 ** (se - 7))
    g = float(q.stored["weight_scale_2"])
    vals = (sign * mag).reshape(q.shape[0], -1, 16) * scale[..., None] * g
    return torch.from_numpy(vals.reshape(q.shape[0], -1)[:, :q.shape[1]]).float()


def test_nvfp4_equals_torchao_and_an_independent_decoder(minilm_weights):
    nv = pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")
    for name, w in _weights(minilm_weights):
        q = quantize(w, "nvfp4")
        assert torch.allclose(dequantize(q), _nvfp4_reference_dequant(q), rtol=1e-6, atol=0), name
        if w.shape[-1] % 16 == 0:
            scales, data = nv.nvfp4_quantize(w.contiguous(), 16, nv.per_tensor_amax_to_scale(w.abs().amax()))
            assert torch.equal(q.stored["weight"], data), name
            assert torch.equal(q.stored["weight_scale"].view(torch.uint8), scales.view(torch.uint8)), name
        rel = (dequantize(q) - w).norm() / w.norm()
        assert rel < 0.2, name


def test_binary_blocks_read_back_by_an_independent_q1_0_decoder(minilm_weights):
    w = minilm_weights["encoder.layer.3.intermediate.dense.weight"]
    q = quantize(w, "binary")
    raw = q.stored["weight"].numpy().reshape(-1, 18)
    d = raw[:, :2].copy().view(np.float16).astype(np.float32)
    bits = np.unpackbits(raw[:, 2:], axis=1, bitorder="little")
    vals = np.where(bits == 1, d, -d).reshape(w.shape)
    assert np.array_equal(dequantize(q).numpy(), vals)
    blocks = w.reshape(-1, 128)
    assert np.allclose(d[:, 0], blocks.abs().mean(dim=1).numpy(), rtol=1e-3)
    assert np.array_equal(vals > 0, (w >= 0).numpy())


def test_ternary_equals_the_gguf_package_tq1_0(minilm_weights):
    gguf = pytest.importorskip("gguf")
    w = minilm_weights["encoder.layer.5.output.dense.weight"]  # 384 x 1536: rows of whole 256-blocks
    q = quantize(w, "ternary")
    ref = gguf.quants.quantize(w.numpy(), gguf.GGMLQuantizationType.TQ1_0)
    assert np.array_equal(q.stored["weight"].numpy(), ref)
    assert set(np.unique(gguf.quants.dequantize(ref, gguf.GGMLQuantizationType.TQ1_0) != 0)) <= {True, False}


def test_minilm_matrices_are_the_real_ones(minilm_weights):
    assert set(minilm_weights) == set(MINILM_MATRICES)
    assert minilm_weights["encoder.layer.3.intermediate.dense.weight"].shape == (1536, 384)
