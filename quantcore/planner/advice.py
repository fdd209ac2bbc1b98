"""A one-line recommendation from a plan: the highest-quality precision that fits a chosen GPU."""
from __future__ import annotations

from quantcore.formats.catalog import get_precision
from quantcore.model.inventory import Inventory
from quantcore.planner.plan import Plan, PlanRow
from quantcore.units import format_bytes

# Dettmers & Zettlemoyer, "The case for 4-bit precision: k-bit inference scaling laws" (ICML 2023): for a fixed
# memory budget, 4-bit weights with small blocks (64-128) are almost universally the best trade of model size and
# accuracy; below 4 bits quality falls off faster than the memory saved.
KBIT_NOTE = ("for a fixed memory budget 4-bit weights with small blocks usually beat a smaller model at higher "
             "precision (Dettmers & Zettlemoyer 2023, k-bit scaling laws)")


def _quality(row: PlanRow, native: str) -> tuple[float, bool, int, bool]:
    """Sort key, best first when largest. Quality is the precision's bits, capped at the checkpoint's own (no
    format restores what a 4-bit release lost) and at 16 (serving above 16 bits adds nothing); among equals the
    checkpoint's own format (when it is 16-bit or less: an fp32 checkpoint is served in 16-bit), then less
    memory, then bf16's range."""
    own = get_precision(native).nominal_bits
    cap = min(own, 16.0)
    return (min(row.precision.nominal_bits, cap), row.precision.id == native and own <= 16, -row.memory.total,
            row.precision.id == "bf16")


def native_precision(inv: Inventory) -> str:
    """The precision id the checkpoint is stored in (bf16 unless its tensors or config say otherwise)."""
    if inv.quantization:
        return inv.quantization
    dtypes = {t.dtype for t in inv.tensors if t.role not in ("norm", "buffer")}
    return {"F16": "fp16", "F32": "fp32"}.get(next(iter(dtypes)), "bf16") if len(dtypes) == 1 else "bf16"


def candidates(rows: tuple[PlanRow, ...], native: str) -> list[PlanRow]:
    """Rows worth recommending: ternary / binary only suit models trained that way (BitNet), so they are left
    out unless the checkpoint itself is stored so."""
    return [r for r in rows if r.precision.family != "lowbit" or r.precision.id == native]


def best_row(rows: list[PlanRow], native: str) -> PlanRow | None:
    """The highest-quality row among `rows` (which the caller already filtered to those that fit), ranked as
    planner/best.py ranks every pair (k-bit scaling laws): 4 bits or more before anything below, then the least
    expected rounding noise; ties (16/32-bit, formats no better than the checkpoint's own) by _quality."""
    from quantcore.planner.quality import rank_key

    return max(rows, key=lambda r: (*rank_key(r), *_quality(r, native))) if rows else None


def recommendation(plan: Plan, gpu_index: int = 0) -> str:
    """Which precision to use on the plan's GPU number gpu_index, and why, in one sentence."""
    if not plan.rows:
        return "No precision suits this mode."
    if not plan.rows[0].gpu_list:
        return "Choose a GPU to get a recommendation."
    gpu = plan.rows[0].gpu_list[gpu_index]
    native = native_precision(plan.inventory)
    rows = candidates(plan.rows, native)
    fitting = [r for r in rows if r.counts[gpu_index] == 1]
    good = [r for r in rows if r.precision.nominal_bits >= 4 and r.counts[gpu_index]]
    best = best_row(fitting, native)
    if best is not None:
        free = gpu.usable_bytes - best.memory.total
        text = (f"On one {gpu.name}, use {best.precision.id} ({best.bits_per_weight:.2f} bits/weight, "
                f"{format_bytes(best.memory.total)} with {format_bytes(free)} to spare)")
        if best.precision.nominal_bits >= 16 or plan.workload.mode != "inference":
            return text + "."
        if best.precision.nominal_bits >= 4:
            return text + f"; {KBIT_NOTE}."
        text += "; below 4 bits quality falls off sharply"
        if good:
            four = min(good, key=lambda r: (r.counts[gpu_index], -r.precision.nominal_bits))
            text += f", and {four.counts[gpu_index]} GPUs would hold {four.precision.id}"
        return text + "."
    if good or rows:
        fewest = min(good or rows, key=lambda r: (r.counts[gpu_index] or 10**9, -r.precision.nominal_bits))
        if fewest.counts[gpu_index]:
            return (f"Does not fit on one {gpu.name} at any precision; {fewest.precision.id} needs "
                    f"{fewest.counts[gpu_index]} of them (tensor parallel).")
    return f"Does not fit on up to 64 x {gpu.name} at any precision with this workload."
