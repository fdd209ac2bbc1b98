"""Best for this GPU: model x precision pairs that fit, ranked by expected quality on the k-bit scaling curve.

Dettmers & Zettlemoyer (arXiv 2212.09720): for a fixed number of total model bits, 4-bit precision is almost
universally optimal; at 3 bits the trend reverses; small blocks and float-like types are the only improvements.
So pairs are ranked by their 16-bit-equivalent size (planner/quality.py: parameters x exp(-k x noise / alpha),
where the noise comes from the format's bits, block size and data type), within two tiers: every pair at 4 bits or
more before any pair below 4 bits, which only leads when the memory budget leaves nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass

from quantcore.planner import quality
from quantcore.planner.advice import candidates, native_precision
from quantcore.planner.plan import Plan, PlanRow
from quantcore.planner.quality import FOUR_BITS
from quantcore.units import format_bytes

TIGHT = 0.05  # less free memory than this share of the card is called tight (the recommendation's caveat too)


@dataclass(frozen=True)
class Pair:
    """One model at one precision that fits the budget, with its expected quality."""

    model: str
    family: str
    parameters: int
    precision: str
    nominal_bits: float
    bits_per_weight: float
    total_bytes: int  # memory per GPU
    noise: float
    equivalent_parameters: float
    ppl_increase_pct: float
    native: bool = False  # the checkpoint's own format (ties go to it: nothing gains from a conversion)
    spare_bytes: int = 0  # usable memory left on each GPU

    @property
    def tight(self) -> bool:
        """Less than TIGHT of the card left free: a longer prompt or fragmentation can push it out."""
        return self.spare_bytes < TIGHT * (self.total_bytes + self.spare_bytes)

    @property
    def tier(self) -> int:
        """1 at 4 bits or more, 0 below: sub-4-bit pairs come after every 4-bit+ pair that fits."""
        return 1 if self.nominal_bits >= FOUR_BITS else 0

    def key(self) -> tuple[int, float, bool, bool, int]:
        """Tier, 16-bit-equivalent size; among equals the checkpoint's own format, bf16's range, less memory."""
        return (self.tier, self.equivalent_parameters, self.native, self.precision == "bf16", -self.total_bytes)

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "native": self.native, "family": self.family, "parameters": self.parameters,
                "precision": self.precision, "nominal_bits": self.nominal_bits,
                "bits_per_weight": self.bits_per_weight, "total_bytes": self.total_bytes,
                "relative_noise": self.noise, "equivalent_parameters": self.equivalent_parameters,
                "expected_ppl_increase_pct": self.ppl_increase_pct, "spare_bytes": self.spare_bytes}


def fits_on(row: PlanRow, gpu_index: int, count: int = 1) -> bool:
    """Whether the row runs entirely on `count` GPUs of the plan's GPU number gpu_index (never a partial offload
    to system RAM: its speed is another question)."""
    places = getattr(row, "placements", None)
    if places is not None:  # plans that work out placements per GPU (single / tensor parallel / layer split / offload)
        if places[gpu_index].kind == "single":
            return True
        multi = getattr(row, "multi_gpu", None)
        gpus = multi[gpu_index].gpus if multi is not None else None
        return count > 1 and gpus is not None and gpus <= count
    needed = row.counts[gpu_index]
    return needed is not None and needed <= count


def _per_gpu_total(row: PlanRow, gpu_index: int) -> int:
    per = row.per_gpu[gpu_index]
    return per.total if per is not None else row.memory.total


def pairs(plan: Plan, gpu_index: int = 0, count: int = 1) -> list[Pair]:
    """Every row of the plan that fits on `count` GPUs number gpu_index, as a Pair (ternary / binary only when
    the checkpoint itself is stored so: they suit models trained that way)."""
    inv = plan.inventory
    curve = quality.curve(inv.id)
    family = quality.family_key(inv.id)
    own = native_precision(inv)
    out = []
    for r in candidates(plan.rows, own):
        if not fits_on(r, gpu_index, count):
            continue
        n = quality.model_noise(inv, r.precision)
        total = _per_gpu_total(r, gpu_index)
        out.append(Pair(inv.id, family, inv.parameters, r.precision.id, r.precision.nominal_bits, r.bits_per_weight,
                        total, n, curve.equivalent_parameters(inv.parameters, n), curve.ppl_increase_pct(n),
                        r.precision.id == own and r.precision.nominal_bits <= 16,
                        r.gpu_list[gpu_index].usable_bytes - total))
    return out


def family_models(model_id: str) -> tuple[str, ...]:
    """The bundled models of model_id's family ('meta-llama/Llama-3.1-8B' -> its 8B, 70B and 405B siblings),
    model_id itself included, smallest name first."""
    from quantcore.sources.bundled import bundled_models

    fam = quality.family_key(model_id)
    found = [m.id for m in bundled_models() if quality.family_key(m.id) == fam]
    if not any(m.lower() == model_id.lower() for m in found):
        found.append(model_id)
    return tuple(found)


def distinct(ranked: list[Pair]) -> list[Pair]:
    """Drop pairs that repeat an earlier one of the same model at the same quality and memory (fp16 after bf16)."""
    seen: set[tuple[str, float, int]] = set()
    out = []
    for p in ranked:
        key = (p.model, round(p.equivalent_parameters), p.total_bytes)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def rank(found: list[Pair]) -> list[Pair]:
    """Best first: tier, then 16-bit-equivalent size, then less memory."""
    return sorted(found, key=lambda p: p.key(), reverse=True)


def by_family(found: list[Pair]) -> list[tuple[str, list[Pair]]]:
    """(family, its pairs ranked) for each family, the family with the best top pair first."""
    groups: dict[str, list[Pair]] = {}
    for p in found:
        groups.setdefault(p.family, []).append(p)
    ranked = [(fam, rank(ps)) for fam, ps in groups.items()]
    return sorted(ranked, key=lambda g: g[1][0].key(), reverse=True)


def _short(model: str) -> str:
    return model.split("/")[-1]


def _bits(p: Pair) -> str:
    return f"{p.nominal_bits:.3g}-bit"


def recommend(plans: list[Plan], gpu_index: int = 0, count: int = 1) -> str:
    """One sentence over several models (e.g. one family's sizes): which model x precision to run on the plans'
    GPU number gpu_index, and why (the ranking advice.best_row applies within one model, across models)."""
    found = [p for plan in plans for p in pairs(plan, gpu_index, count)]
    return why(rank(found)) if found else "None of these models fits at any precision."


def why(ranked: list[Pair]) -> str:
    """One sentence: the winner, what it wins over, and the reason (and a word when it only just fits)."""
    if not ranked:
        return "Nothing fits."
    text = _why(ranked)
    top = ranked[0]
    if top.tight:
        roomy = next((p for p in ranked[1:] if not p.tight and p.tier == top.tier), None)
        text = text[:-1] + (f"; it leaves only {format_bytes(top.spare_bytes)} free"
                            + (f" ({_short(roomy.model)} at {roomy.precision} leaves {format_bytes(roomy.spare_bytes)})"
                               if roomy else "") + ".")
    return text


def _why(ranked: list[Pair]) -> str:
    top = ranked[0]
    name = f"{_short(top.model)} at {top.precision}"
    if top.tier == 0:
        return (f"{name}: nothing fits at 4 bits or more, so a sub-4-bit format leads; below 4 bits quality falls "
                "off sharply (k-bit scaling laws).")
    if top.nominal_bits >= 16:
        return f"{name}: the largest model that fits runs unquantized (k-bit scaling laws rank it first)."
    others = [p for p in ranked[1:] if p.model != top.model and p.tier == 1 and p.nominal_bits <= 16]
    smaller = next((p for p in others if p.parameters < top.parameters and p.nominal_bits > top.nominal_bits), None)
    if smaller is not None:
        return (f"{name} over {_short(smaller.model)} at {smaller.precision}: {_bits(top)} of a larger model wins at "
                f"equal memory (k-bit scaling laws; worth {top.equivalent_parameters / 1e9:.3g}B against "
                f"{smaller.equivalent_parameters / 1e9:.3g}B parameters at 16 bits).")
    same = [p for p in ranked[1:] if p.model == top.model and p.tier == 1]
    lower = next((p for p in same if p.noise > top.noise), None)
    if lower is not None and not others:
        return (f"{name}: the least rounding noise of the formats that fit (expected {top.ppl_increase_pct:+.2f}% "
                f"perplexity against {lower.ppl_increase_pct:+.2f}% for {lower.precision}; k-bit scaling laws).")
    return (f"{name}: the highest expected quality that fits (worth {top.equivalent_parameters / 1e9:.3g}B "
            "parameters at 16 bits; k-bit scaling laws).")
