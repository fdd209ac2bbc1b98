"""Expected quality cost of a precision on a model, from the best evidence, every number with its source.

Evidence, best first: (1) the quantization lab's measured error on this model's real tensors (the caller passes
the lab results; the planner never imports the lab), (2) published figures for the format (resources/quality.toml,
each with its paper table / file and commit / URL), (3) otherwise an estimate: the format's rounding noise on
Gaussian weights (planner/noise.py: its bits, block size and data type) placed on the k-bit scaling-law curve.

The curve (Dettmers & Zettlemoyer, arXiv 2212.09720: quality follows total model bits; 4-bit is the sweet spot;
small blocks and float-like types help) is made concrete with two fitted constants, both from published figures:
  d ln(perplexity) = k x relative noise        k: fitted to round-to-nearest figures (calibrate = true)
  ln(perplexity) = c - alpha x ln(parameters)  alpha: fitted to 16-bit perplexities across a family's sizes
so a model of N parameters with noise n is worth N x exp(-k n / alpha) parameters at 16 bits: its 16-bit-
equivalent size, the score planner/best.py ranks model x precision pairs by.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from quantcore.errors import QuantPlannerError, UnknownPrecisionError
from quantcore.formats import catalog, gguf_mix
from quantcore.formats.catalog import Precision
from quantcore.model.inventory import Inventory
from quantcore.planner import noise as rounding
from quantcore.planner.figures import (
    Figure,
    _family_matches,
    family_key,
    figures,
    parameters_of,
    published,
    quality_data,
)

__all__ = ["Curve", "Figure", "Quality", "curve", "family_key", "figures", "method_factor", "model_noise",
           "published", "rank_key", "row_quality"]

KINDS = ("measured", "published", "estimate")
FOUR_BITS = 4.0  # the k-bit scaling laws' sweet spot: below it the trade-off reverses


@dataclass(frozen=True)
class Curve:
    """The scaling-law estimate's two constants and where they come from."""

    k: float  # d ln(perplexity) per unit of relative weight noise
    alpha: float  # -d ln(perplexity) / d ln(parameters) at 16 bits
    k_points: int
    k_family: str  # the family whose calibration figures k was fitted to ("" = all of them)
    alpha_points: int

    def log_ppl_increase(self, noise: float) -> float:
        return self.k * noise

    def ppl_increase_pct(self, noise: float) -> float:
        return 100.0 * math.expm1(self.k * noise)

    def equivalent_parameters(self, parameters: float, noise: float) -> float:
        """The 16-bit model size with the same expected perplexity."""
        return parameters * math.exp(-self.k * noise / self.alpha)

    def basis(self) -> str:
        which = f"the {self.k_family} family's" if self.k_family else "all"
        return (f"k-bit scaling-law estimate (Dettmers & Zettlemoyer, arXiv 2212.09720): d ln(perplexity) = k x the "
                f"format's rounding noise on Gaussian weights, k = {self.k:.2f} (least squares over {which} "
                f"{self.k_points} published round-to-nearest figures); 16-bit-equivalent size = parameters x "
                f"exp(-k x noise / {self.alpha:.3f}), alpha fitted to {self.alpha_points} published 16-bit "
                "perplexities across model sizes (resources/quality.toml)")


@dataclass(frozen=True)
class Quality:
    """The quality column of one row: a value in `metric`, its source and kind, and the curve's estimate."""

    value: float
    metric: str
    source: str
    kind: str  # measured | published | estimate
    noise: float  # relative weight noise the estimate used (measured when kind == "measured")
    ppl_increase_pct: float  # expected perplexity increase on the scaling-law curve
    equivalent_parameters: float  # 16-bit-equivalent size on the curve
    figure: Figure | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The plan JSON's per-row "quality" object (non-finite numbers as null: JSON has no infinity)."""
        def num(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"value": num(self.value), "metric": self.metric, "source": self.source, "kind": self.kind,
                "expected_ppl_increase_pct": num(self.ppl_increase_pct),
                "equivalent_parameters": num(self.equivalent_parameters), "relative_noise": self.noise}

    def cell(self) -> str:
        """Short text for a table cell."""
        if self.kind == "measured":
            return f"{self.value:.1f} dB"
        if self.kind == "published" and self.figure is not None and self.figure.relative_pct is None:
            unit = " pt" if self.figure.higher_is_better else (" ppl" if "perplexity" in self.figure.metric else "")
            return f"{self.value:+.3g}{unit}"
        return f"{self.value:+.2f}%" + (" est." if self.kind == "estimate" else "")


# -- the curve ---------------------------------------------------------------------------------------------------

MIN_FAMILY_POINTS = 3  # a family with at least this many calibration figures gets its own k


def curve(model_id: str = "") -> Curve:
    """k and alpha fitted to the published figures; k from the model's own family when it has enough of them
    (Llama-3 loses about twice what LLaMA / Llama-2 lose to the same rounding: PR #6936), else from all."""
    own = tuple(f.family for f in _calibration() if model_id and _family_matches(f.family, model_id.lower()))
    return _fit(own[0] if len(own) >= MIN_FAMILY_POINTS else "")


def _calibration() -> tuple[Figure, ...]:
    out = tuple(f for f in figures() if f.calibrate)
    for f in out:
        if not f.rounding or not f.baseline:
            raise QuantPlannerError(f"quality.toml: calibration figure {f.format} on {f.model} needs rounding "
                                    "and baseline")
    return out


@cache
def _fit(family: str) -> Curve:
    """k by least squares through the origin of d ln(perplexity) on noise (the larger, better-resolved changes
    weigh most); alpha by least squares of ln(perplexity) on ln(parameters) with one intercept per family."""
    nd = nn = 0.0
    count = 0
    for f in _calibration():
        if family and f.family != family:
            continue
        n = rounding.relative_noise(rounding.parse_rounding(f.rounding))
        nd += n * math.log((f.baseline + f.change) / f.baseline)
        nn += n * n
        count += 1
    num = den = 0.0
    points = 0
    for s in quality_data().get("scaling", []):
        xs = [math.log(parameters_of(m)) for m in s["models"]]
        ys = [math.log(v) for v in s["values"]]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        num += sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        den += sum((x - mx) ** 2 for x in xs)
        points += len(xs)
    return Curve(k=nd / nn, alpha=-num / den, k_points=count, k_family=family, alpha_points=points)


@cache
def method_factor(family: str) -> tuple[float, int]:
    """(factor, pairs): how much less a calibrating method (GPTQ, AWQ) raises ln(perplexity) than plain
    round-to-nearest of the same grid on the same model: the geometric mean over the published pairs (vs_rtn)."""
    by_key = {(f.model, f.format, f.source.split(",")[0]): f for f in figures()}
    logs = []
    for f in figures():
        if not f.vs_rtn or not f.precision or catalog.get_precision(f.precision).family != family:
            continue
        rtn = by_key.get((f.model, f.vs_rtn, f.source.split(",")[0]))
        if rtn is None:
            raise QuantPlannerError(f"quality.toml: {f.format} on {f.model} names vs_rtn '{f.vs_rtn}', not found")
        ours = math.log((f.baseline + f.change) / f.baseline)
        theirs = math.log((rtn.baseline + rtn.change) / rtn.baseline)
        logs.append(math.log(ours / theirs))
    return (math.exp(sum(logs) / len(logs)), len(logs)) if logs else (1.0, 0)


# -- noise of a precision on a model ----------------------------------------------------------------------------

_MEMO: dict[int, tuple[weakref.ref, dict[Any, Any]]] = {}
_WEIGHTS, _SLOTS = object(), object()  # memo keys besides precision ids (objects: no id string can collide)


def _memo(inv: Inventory) -> dict[Any, Any]:
    """Per-inventory memo, keyed by object identity (hashing hundreds of frozen tensors per call would cost more)."""
    key = id(inv)
    got = _MEMO.get(key)
    if got is not None and got[0]() is inv:
        return got[1]
    values: dict[Any, Any] = {}

    def drop(ref: weakref.ref, key: int = key) -> None:
        held = _MEMO.get(key)
        if held is not None and held[0] is ref:
            del _MEMO[key]

    _MEMO[key] = (weakref.ref(inv, drop), values)
    return values


def _weights(inv: Inventory, memo: dict[Any, Any]) -> tuple[tuple, int]:
    got = memo.get(_WEIGHTS)
    if got is None:
        weights = tuple(t for t in inv.tensors if t.role != "buffer" and t.numel > 0)
        got = memo[_WEIGHTS] = (weights, sum(t.numel for t in weights))
    return got


def _format_noise(inv: Inventory, p: Precision, memo: dict[Any, Any]) -> float:
    """Parameter-weighted relative noise over the model's weights; tensors the format keeps count as exact."""
    weights, total = _weights(inv, memo)
    if total == 0 or p.nominal_bits >= 16:
        return 0.0
    if p.family == "gguf":
        if _SLOTS not in memo:
            memo[_SLOTS] = (gguf_mix.prepare(weights), gguf_mix.context_for(inv))
        slots, ctx = memo[_SLOTS]
        acc = sum(s.rows * s.cols * n * rounding.relative_noise(rounding.ggml_rounding(ty))
                  for s, ty, n in gguf_mix.slot_types(slots, p.id, ctx))
        return acc / total
    key = ("quantized", p.family, catalog.layout(p.id).scheme)  # what quantized_by looks at
    if key not in memo:
        memo[key] = sum(t.numel for t in weights if catalog.quantized_by(t, p))
    per = rounding.relative_noise(rounding.rounding_of(p.id)) * method_factor(p.family)[0]
    return per * memo[key] / total


def model_noise(inv: Inventory, precision: Precision | str) -> float:
    """Expected relative weight noise of the model stored in `precision`, never below its checkpoint's own
    (no format restores what a quantized release lost). Unknown ids fall back to min-max rounding at their
    nominal bits in blocks of 64."""
    p = precision if isinstance(precision, Precision) else catalog.get_precision(precision)
    memo = _memo(inv)
    got = memo.get(p.id)
    if got is None:
        try:
            got = _format_noise(inv, p, memo)
        except (UnknownPrecisionError, ValueError):
            bits = max(1, int(round(p.nominal_bits)))
            got = 0.0 if bits >= 16 else rounding.relative_noise(rounding.Rounding("affine", bits, 64))
        own = inv.quantization
        if own and own != p.id:
            try:
                got = max(got, model_noise(inv, own))
            except UnknownPrecisionError:
                pass
        memo[p.id] = got
    return got


def measured_noise(lab: dict[str, Any] | None, pid: str) -> tuple[float, int] | None:
    """(mean relative noise power, tensors measured) of pid in the lab results' "errors" list, if any."""
    if not isinstance(lab, dict):
        return None
    vals = []
    for e in lab.get("errors") or []:
        if not isinstance(e, dict) or e.get("precision") != pid:
            continue
        if isinstance(e.get("rel_error"), (int, float)):
            vals.append(float(e["rel_error"]) ** 2)
        elif isinstance(e.get("sqnr_db"), (int, float)):
            vals.append(10.0 ** (-float(e["sqnr_db"]) / 10.0))
    return (sum(vals) / len(vals), len(vals)) if vals else None


def row_quality(inv: Inventory, precision: Precision | str, lab: dict[str, Any] | None = None) -> Quality:
    """The best evidence for precision on this model (measured > published > estimate), with the curve's
    expected perplexity increase and 16-bit-equivalent size alongside."""
    p = precision if isinstance(precision, Precision) else catalog.get_precision(precision)
    c = curve(inv.id)
    est_noise = model_noise(inv, p)
    got = measured_noise(lab, p.id)
    if got is not None:
        n, count = got
        where = lab.get("device") if isinstance(lab, dict) else None
        return Quality(rounding.sqnr_db(n), "weight SQNR, dB (measured on this model)",
                       f"measured by the quantization lab on {count} tensor(s) of {inv.id}"
                       + (f" ({where})" if where else "") + "; on the curve: "
                       f"{c.ppl_increase_pct(n):+.2f}% perplexity. {c.basis()}", "measured", n,
                       c.ppl_increase_pct(n), c.equivalent_parameters(inv.parameters, n))
    fig = published(p.id, inv.id)
    expected, eq = c.ppl_increase_pct(est_noise), c.equivalent_parameters(inv.parameters, est_noise)
    tail = (f" Scaling-law estimate for {inv.id}: {expected:+.2f}% perplexity, worth "
            f"{eq / 1e9:.3g}B parameters at 16 bits.")
    if fig is not None:
        value = fig.relative_pct if fig.relative_pct is not None else fig.change
        unit = ", %" if fig.relative_pct is not None else (", points" if fig.higher_is_better else "")
        metric = f"{fig.metric} change vs {fig.against}{unit} ({fig.model})"
        text = "Published: " + fig.sentence() + "." + tail
        return Quality(value, metric, text, "published", est_noise, expected, eq, fig)
    return Quality(expected, "expected perplexity change, % (scaling-law estimate)",
                   f"Estimate (no published figure for {p.id}): relative rounding noise {est_noise:.3g} "
                   f"({rounding.sqnr_db(est_noise):.1f} dB SQNR over all weights). {c.basis()}.{tail}",
                   "estimate", est_noise, expected, eq)


def rank_key(row: Any) -> tuple[int, float]:
    """How rows of one model rank (advice.best_row, planner/best.py): 4 bits or more before anything below, then
    less expected rounding noise (a larger 16-bit-equivalent size)."""
    return (1 if row.precision.nominal_bits >= FOUR_BITS else 0, -model_noise(row.inventory, row.precision))
