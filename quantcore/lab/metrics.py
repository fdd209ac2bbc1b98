"""Error metrics of a quantized tensor against the original, and outlier statistics of a weight matrix."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError

if TYPE_CHECKING:
    import torch

LLM_INT8_THRESHOLD = 6.0  # LLM.int8(): magnitudes >= 6 are outliers (arXiv 2208.07339)


@dataclass(frozen=True)
class ErrorMetrics:
    """How far the dequantized tensor is from the original (all in float64 arithmetic)."""

    mse: float
    rel_frobenius: float  # ||W - Q||_F / ||W||_F
    sqnr_db: float  # 10 log10(||W||^2 / ||W - Q||^2); inf when exact
    max_abs_error: float
    cosine: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def error_metrics(original: torch.Tensor, approx: torch.Tensor, chunk: int = 1 << 22) -> ErrorMetrics:
    """MSE, relative Frobenius error, SQNR (dB), max |error| and cosine similarity, accumulated in float64 over
    chunks so that a large tensor needs no float64 copy of itself."""
    import torch

    if tuple(original.shape) != tuple(approx.shape):
        raise BadInputError(f"shapes differ: {tuple(original.shape)} vs {tuple(approx.shape)}")
    a, b = original.reshape(-1), approx.reshape(-1)
    n = a.numel()
    if n == 0:
        raise BadInputError("empty tensor: no error to measure")
    ss_w = ss_e = ss_q = dot = 0.0
    max_err = 0.0
    for i in range(0, n, chunk):
        x = a[i:i + chunk].to(torch.float64)
        y = b[i:i + chunk].to(torch.float64)
        e = x - y
        ss_w += float(x.dot(x))
        ss_q += float(y.dot(y))
        ss_e += float(e.dot(e))
        dot += float(x.dot(y))
        max_err = max(max_err, float(e.abs().max()))
    if not math.isfinite(ss_w):  # the original holds NaN / Inf (float32 squares never overflow float64)
        bad = sum(int((~torch.isfinite(a[i:i + chunk])).sum()) for i in range(0, n, chunk))
        raise BadInputError(f"{bad:,} NaN/Inf value(s) of {n:,}; fix the weights first")
    if not all(math.isfinite(v) for v in (ss_e, ss_q, dot)):  # the approximation overflowed (Inf / NaN)
        top = max(float(a[i:i + chunk].abs().max()) for i in range(0, n, chunk))
        raise BadInputError(f"the result holds Inf or NaN values (the largest |weight| is {top:g}): these values "
                            "overflow this format")
    mse = ss_e / n
    rel = math.sqrt(ss_e / ss_w) if ss_w > 0 else (0.0 if ss_e == 0 else math.inf)
    sqnr = math.inf if ss_e == 0 else (10 * math.log10(ss_w / ss_e) if ss_w > 0 else -math.inf)
    cos = dot / math.sqrt(ss_w * ss_q) if ss_w > 0 and ss_q > 0 else (1.0 if ss_e == 0 else 0.0)
    return ErrorMetrics(mse, rel, sqnr, max_err, cos)


def output_error(weight: torch.Tensor, approx: torch.Tensor, inputs: torch.Tensor) -> float:
    """||X W^T - X Q^T||_F / ||X W^T||_F for inputs X (tokens, in_features): the error a layer's output sees."""
    import torch

    if inputs.dim() != 2 or inputs.shape[1] != weight.shape[-1]:
        raise BadInputError(f"inputs of shape {tuple(inputs.shape)} do not feed a weight of shape "
                            f"{tuple(weight.shape)} (need (tokens, {weight.shape[-1]}))")
    x = inputs.to(torch.float64)
    ref = x @ weight.reshape(-1, weight.shape[-1]).to(torch.float64).T
    got = x @ approx.reshape(-1, approx.shape[-1]).to(torch.float64).T
    den = float(ref.norm())
    return float((ref - got).norm()) / den if den > 0 else 0.0


@dataclass(frozen=True)
class OutlierStats:
    """Heavy tails of a weight matrix: what makes low-bit formats lose accuracy."""

    kurtosis: float  # excess kurtosis (0 for a Gaussian)
    beyond_6_sigma: float  # share of values with |x - mean| > 6 std
    outlier_columns: int  # LLM.int8(): input columns holding a value with |x| >= 6.0
    absmax: float
    std: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outlier_stats(t: torch.Tensor, threshold: float = LLM_INT8_THRESHOLD) -> OutlierStats:
    import torch

    x = t.to(torch.float64).reshape(-1)
    mean = float(x.mean())
    d = x - mean
    var = float((d * d).mean())
    std = math.sqrt(var)
    kurt = float((d ** 4).mean()) / (var * var) - 3.0 if var > 0 else 0.0
    beyond = float((d.abs() > 6 * std).double().mean()) if std > 0 else 0.0
    cols = int((t.reshape(-1, t.shape[-1]).abs() >= threshold).any(dim=0).sum()) if t.dim() >= 2 else 0
    return OutlierStats(kurt, beyond, cols, float(x.abs().max()), std)


def block_errors(original: torch.Tensor, approx: torch.Tensor, block: int) -> torch.Tensor:
    """Relative error ||w - q|| / ||w|| of each block of `block` consecutive values along the rows (a partial last
    block of a row is its own block); shape (rows, blocks). A zero block whose approximation is zero scores 0."""
    import torch

    if block <= 0:
        raise BadInputError(f"block size {block} must be positive")
    cols = original.shape[-1]
    w = original.reshape(-1, cols).to(torch.float64)
    e = w - approx.reshape(-1, cols).to(torch.float64)
    nb = -(-cols // block)
    pad = nb * block - cols
    w = torch.nn.functional.pad(w, (0, pad)).view(w.shape[0], nb, block)
    e = torch.nn.functional.pad(e, (0, pad)).view(e.shape[0], nb, block)
    num, den = e.norm(dim=-1), w.norm(dim=-1)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.where(num > 0, math.inf, 0.0))
