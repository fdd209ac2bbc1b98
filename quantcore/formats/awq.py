"""AWQ (Lin et al., arXiv 2306.00978): activation-aware input-channel scales, then 4-bit groups in AutoAWQ's GEMM layout.

The search is the one of mit-han-lab/llm-awq auto_scale.py / AutoAWQ quantizer.py, for one linear layer:
s = mean|x|^alpha (optionally / mean(|w| / group max)^(1 - alpha), AutoAWQ's duo_scaling), normalised by
sqrt(max s * min s), for alpha = 0, 1/20, ..., 19/20; the alpha whose quantized W * diag(s), applied to x / s, gives
the smallest mean squared output error wins (alpha = 0 is plain round-to-nearest, so the result is never worse on the
calibration inputs). Then auto_clip: per output row and group, the clipping range max|w| * (1 - i/20), i < 10, with
the smallest output error on (up to) 512 calibration tokens. The grid is AutoAWQ's pseudo_quantize_tensor:
scale = max(max - min, 1e-5) / 15, zero = clamp(-round(min / scale), 0, 15), q = clamp(round(w / scale) + zero).
Differences from AutoAWQ, none in kind: scales are rounded to fp16 before the codes are chosen (the values the
checkpoint holds); errors are computed in float32 (AutoAWQ: in the model's fp16 on a GPU), through X^T X when that is
the cheaper product; an input width that is not a multiple of the group size gets a partial last group (AutoAWQ
asserts divisibility).

What is stored: exactly what AutoAWQ's WQLinear_GEMM serializes, qweight int32 [in, out/8], qzeros int32
[groups, out/8] (raw zero-points, no v1 "- 1"), scales fp16 [groups, out], the 8 columns of each word in the order
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]. These are the quantized W * diag(s): in a whole model AutoAWQ folds 1/s into
the operator before the layer (a norm's weight, or the previous linear's rows) at no cost in bytes. A layer
quantized alone keeps s in meta["input_scale"] (float32 [in], or [m, in] for stacked matrices): the caller scales
its inputs by 1/s. dequantize() returns the stored weights times 1/s, i.e. the layer's effective weight, comparable
with the original; stored_weight() returns the quantized W * diag(s) as the checkpoint holds it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quantcore.formats import gptq_pack as gp
from quantcore.formats.gptq import FP16_MAX, round_half_even_
from quantcore.formats.quantized import QuantizedTensor, QuantRequest, register

if TYPE_CHECKING:
    import torch

DEFAULT_ID = "awq-4bit-g128"
N_GRID = 20
CLIP_SHRINK = 0.5  # auto_clip tries max_val * (1 - i / N_GRID) for i < CLIP_SHRINK * N_GRID
CLIP_TOKENS = 512  # auto_clip's n_sample_token


def _grouped(w: torch.Tensor, gs: int) -> torch.Tensor:
    """w [rows, cols] -> [rows, groups, gs]; a partial last group is padded with copies of its last column."""
    import torch

    pad = -w.shape[1] % gs
    if pad:
        w = torch.cat([w, w[:, -1:].expand(-1, pad)], dim=1)
    return w.reshape(w.shape[0], -1, gs)


def _grid_grouped(w: torch.Tensor, bits: int, gs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AutoAWQ's asymmetric grid on w [rows, cols]: codes [rows, groups, gs], scales and zeros [rows, groups, 1]."""
    maxq = 2**bits - 1
    wg = _grouped(w, gs)
    hi, lo = wg.amax(dim=2, keepdim=True), wg.amin(dim=2, keepdim=True)
    scales = ((hi - lo).clamp(min=1e-5) / maxq).clamp(max=FP16_MAX).half().float()
    zeros = round_half_even_(-lo / scales).clamp_(0, maxq)
    codes = round_half_even_(wg / scales).add_(zeros).clamp_(0, maxq)
    return codes, scales, zeros


def grid(w: torch.Tensor, bits: int, gs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AutoAWQ's asymmetric grid: (codes [rows, cols], scales [rows, groups] fp16 values, zeros [rows, groups])."""
    codes, scales, zeros = _grid_grouped(w, bits, gs)
    return codes.reshape(w.shape[0], -1)[:, :w.shape[1]], scales.squeeze(2), zeros.squeeze(2)


def pseudo_quantize(w: torch.Tensor, bits: int = 4, gs: int = 128) -> torch.Tensor:
    """Round-to-nearest on the AWQ grid: the dequantized weights [rows, cols]."""
    codes, scales, zeros = _grid_grouped(w, bits, gs)
    return ((codes - zeros) * scales).reshape(w.shape[0], -1)[:, :w.shape[1]]


def _expand(per_group: torch.Tensor, gs: int, cols: int) -> torch.Tensor:
    return per_group.repeat_interleave(gs, dim=1)[:, :cols]


def _output_mse(x: torch.Tensor, gram: torch.Tensor | None, d: torch.Tensor) -> float:
    """mean((x @ d^T)^2) for a weight error d [rows, cols]; through gram = x^T x / N when that is cheaper."""
    if gram is not None:
        return float(((d @ gram) * d).sum()) / d.shape[0]
    return float((x @ d.t()).pow(2).mean())


def search_scale(w: torch.Tensor, x: torch.Tensor, bits: int, gs: int, *, n_grid: int = N_GRID,
                 duo_scaling: bool = False) -> tuple[torch.Tensor, float, list[float]]:
    """(s [cols], alpha, losses per alpha): the per-input-channel scale minimising the layer's output MSE."""
    import torch

    x_mean = x.abs().mean(0)
    w_mean = None
    if duo_scaling:
        wg = _grouped(w.abs(), gs)
        w_mean = (wg / (wg.amax(dim=2, keepdim=True) + 1e-6)).reshape(w.shape[0], -1)[:, :w.shape[1]].mean(0)
    gram = (x.t() @ x) / x.shape[0] if x.shape[0] > x.shape[1] else None
    best = (float("inf"), 0.0, torch.ones_like(x_mean))
    history = []
    for i in range(n_grid):
        alpha = i / n_grid
        if w_mean is None:
            s = x_mean.pow(alpha).clamp(min=1e-4)
        else:
            s = (x_mean.pow(alpha) / (w_mean.pow(1 - alpha) + 1e-4)).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        s = torch.where(torch.isfinite(s), s, torch.ones_like(s))
        loss = _output_mse(x, gram, w - pseudo_quantize(w * s, bits, gs) / s)
        history.append(loss)
        if loss < best[0]:
            best = (loss, alpha, s)
    return best[2], best[1], history


def search_clip(w: torch.Tensor, x: torch.Tensor, bits: int, gs: int, *, n_grid: int = N_GRID) -> torch.Tensor:
    """Best clipping range [rows, groups] per output row and group (AutoAWQ _compute_best_clip).

    The error of row r, group g on the sampled tokens, mean_t (x_tg . (q_rg - w_rg))^2, is computed as
    d G_g d^T with G_g = mean_t x_tg^T x_tg, the same number without a [rows, tokens, groups] product per step.
    """
    import torch

    rows, cols = w.shape
    step = max(1, x.shape[0] // CLIP_TOKENS)
    xg = _grouped(x[::step], gs).clone()  # [tokens, groups, gs]; a padded tail repeats a column: zeroed here
    pad = -cols % gs
    if pad:
        xg[:, -1, gs - pad:] = 0
    gram = torch.einsum("tgk,tgl->gkl", xg, xg) / xg.shape[0]  # [groups, gs, gs]
    wg = _grouped(w, gs)  # [rows, groups, gs]
    org_max = wg.abs().amax(dim=2, keepdim=True)
    best_err = torch.full(org_max.shape[:2], float("inf"))
    best_max = org_max.squeeze(2).clone()
    for i in range(int(CLIP_SHRINK * n_grid)):
        max_val = org_max * (1 - i / n_grid)
        cur = torch.maximum(torch.minimum(wg, max_val), -max_val).reshape(rows, -1)[:, :cols]
        d = (_grouped(pseudo_quantize(cur, bits, gs), gs) - wg).transpose(0, 1)  # [groups, rows, gs]
        err = (torch.bmm(d, gram) * d).sum(dim=2).t()  # [rows, groups]
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_max = torch.where(better, max_val.squeeze(2), best_max)
    return best_max


def _clip(w: torch.Tensor, max_val: torch.Tensor, gs: int) -> torch.Tensor:
    """w clamped to [-max_val, max_val] of its row and group."""
    import torch

    m = _expand(max_val, gs, w.shape[1])
    return torch.maximum(torch.minimum(w, m), -m)


def quantize(tensor: torch.Tensor, precision: str = DEFAULT_ID, *, calibration: Any = None, bits: int | None = None,
             group_size: int | None = None, clip: bool = True, duo_scaling: bool = False, n_grid: int = N_GRID,
             **_ignored: Any) -> QuantizedTensor:
    """AWQ-quantize a weight [out, in] (or stacked [..., out, in]) into AutoAWQ's qweight / qzeros / scales.

    calibration: this layer's inputs X [..., in] (or a list, one per stacked matrix). Without them s = 1 and no
    clipping: plain round-to-nearest on the AWQ grid (meta says so). clip=False skips auto_clip (AutoAWQ skips it
    for q/k projections, whose error the attention product magnifies).
    """
    import torch

    _, b, g = gp.family_params(precision, bits=bits, group_size=group_size)
    mats = gp.matrices(tensor, "AWQ")
    m, _, cols = mats.shape
    gs = cols if g == gp.NO_GROUP else g
    xs = gp.per_matrix(calibration, m, cols, "AWQ calibration inputs", square=False)
    stored: dict[str, list[torch.Tensor]] = {"qweight": [], "qzeros": [], "scales": []}
    input_scales, alphas = [], []
    for i in range(m):
        w, x = mats[i], xs[i]
        s, alpha = torch.ones(cols), None
        if x is not None and x.shape[0] > 0:
            s, alpha, _ = search_scale(w, x, b, gs, n_grid=n_grid, duo_scaling=duo_scaling)
        ws = w * s
        if clip and alpha is not None:
            ws = _clip(ws, search_clip(ws, x / s, b, gs, n_grid=n_grid), gs)
        codes, scales, zeros = grid(ws, b, gs)
        stored["qweight"].append(gp.pack_cols(gp.awq_interleave(codes.t().to(torch.int64)), b))
        stored["qzeros"].append(gp.pack_cols(gp.awq_interleave(zeros.t().to(torch.int64)), b))
        stored["scales"].append(scales.t().contiguous().half())
        input_scales.append(s)
        alphas.append(alpha)
    lead = tuple(tensor.shape[:-2])
    tensors = {k: (v[0] if not lead else torch.stack(v).reshape(*lead, *v[0].shape)) for k, v in stored.items()}
    scale = input_scales[0] if not lead else torch.stack(input_scales).reshape(*lead, cols)
    meta = {"quant_method": "awq", "version": "gemm", "bits": b, "group_size": g, "w_bit": b, "q_group_size": g,
            "zero_point": True,
            "input_scale": scale, "alpha": alphas, "clip": bool(clip and alphas[0] is not None),
            "duo_scaling": duo_scaling, "calibration": "inputs" if calibration is not None else "none (s = 1: RTN)"}
    pid = f"awq-{b}bit-" + ("nogroup" if g == gp.NO_GROUP else f"g{g}")
    return QuantizedTensor(pid, tuple(tensor.shape), str(tensor.dtype).removeprefix("torch."), tensors, meta)


def stored_weight(q: QuantizedTensor) -> torch.Tensor:
    """The quantized W * diag(s) [..., out, in] in float32, as AutoAWQ's kernels see the checkpoint."""
    import torch

    b = int(q.meta["w_bit"])
    *_, out, cols = q.shape
    gs = cols if int(q.meta["q_group_size"]) == gp.NO_GROUP else int(q.meta["q_group_size"])
    qw = q.stored["qweight"].reshape(-1, *q.stored["qweight"].shape[-2:])
    qz = q.stored["qzeros"].reshape(-1, *q.stored["qzeros"].shape[-2:])
    sc = q.stored["scales"].reshape(-1, *q.stored["scales"].shape[-2:])
    mats = []
    for i in range(qw.shape[0]):
        wide = -(-out // 8) * 8
        codes = gp.awq_deinterleave(gp.unpack_cols(qw[i], b, wide), out).to(torch.float32)  # [in, out]
        zeros = gp.awq_deinterleave(gp.unpack_cols(qz[i], b, wide), out).to(torch.float32)  # [groups, out]
        mats.append((codes.t() - _expand(zeros.t(), gs, cols)) * _expand(sc[i].float().t(), gs, cols))
    return torch.stack(mats).reshape(q.shape)


def dequantize(q: QuantizedTensor) -> torch.Tensor:
    """The layer's effective weight: stored_weight(q) / s, back in the original dtype."""
    import torch

    w = stored_weight(q)
    s = q.meta.get("input_scale")  # absent for a checkpoint read from disk: 1/s lives in the previous op there
    if s is not None:
        w = w / s.to(torch.float32).unsqueeze(-2)
    return w.to(getattr(torch, q.dtype))


def register_codec() -> None:
    """Plug AWQ into the engine (Layout scheme "awq"); the one place to adapt if the registry's API changes."""
    register("awq", _from_request, dequantize, options=_OPTIONS)


_OPTIONS = ("clip", "duo_scaling", "n_grid")


def _from_request(w: torch.Tensor, req: QuantRequest) -> QuantizedTensor:
    """The engine's calling convention: bits and group from the parsed catalog entry, inputs as calibration."""
    return quantize(w, req.precision.id, calibration=req.calibration, **dict(req.options))


register_codec()
