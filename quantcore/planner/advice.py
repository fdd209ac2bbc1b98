"""The recommendation for a chosen GPU: the highest-quality precision the table shows as "full GPU", with caveats."""
from __future__ import annotations

from dataclasses import dataclass

from quantcore.formats.catalog import AS_STORED, Precision, get_precision
from quantcore.model.inventory import Inventory
from quantcore.planner.estimate import ENGINE_NAMES
from quantcore.planner.hardware import GPU
from quantcore.planner.plan import Plan, PlanRow
from quantcore.units import format_bytes

# Dettmers & Zettlemoyer, "The case for 4-bit precision: k-bit inference scaling laws" (ICML 2023): for a fixed
# memory budget, 4-bit weights with small blocks (64-128) are almost universally the best trade of model size and
# accuracy; below 4 bits quality falls off faster than the memory saved.
KBIT_NOTE = ("for a fixed memory budget 4-bit weights with small blocks usually beat a smaller model at higher "
             "precision (Dettmers & Zettlemoyer 2023, k-bit scaling laws)")
LOW_BITS_CAVEAT = ("below 4 bits quality falls off sharply (k-bit scaling laws: 4-bit is the sweet spot); prefer a "
                   "4-bit format on more memory or a smaller model")
HEADROOM_SHARE = 0.05  # less free memory than this share of the card gets a caveat
OFFLOAD_SPEED_SHARE = 0.75  # a partial offload is recommended among those at least this share of the fastest


@dataclass(frozen=True)
class Recommendation:
    """What to use on one GPU type: the row (None when nothing fits on one), one sentence, and its caveats."""

    gpu: GPU | None
    row: PlanRow | None
    text: str
    caveats: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"gpu": self.gpu.id if self.gpu else None, "precision": self.row.precision.id if self.row else None,
                "text": self.text, "caveats": list(self.caveats)}


def _quality(row: PlanRow, native: Precision) -> tuple[float, bool, float, int, bool]:
    """Sort key, best first when largest. Quality is the precision's bits, capped at the checkpoint's own (no
    format restores what a 4-bit release lost) and at 16 (serving above 16 bits adds nothing); among equals the
    checkpoint's own format (when it is 16-bit or less: an fp32 checkpoint is served in 16-bit), then the one
    that keeps more bits per weight below 16 (q4_k_m's 6-bit attn_v / ffn_down over q4_0), then less memory, then
    bf16's range."""
    own = native.nominal_bits
    cap = min(own, 16.0)
    kept = min(row.bits_per_weight, 16.0) if row.precision.nominal_bits < 16 else 0.0
    return (min(row.precision.nominal_bits, cap), row.precision.id == native.id and own <= 16, kept,
            -row.memory.total, row.precision.id == "bf16")


def native_precision(inv: Inventory) -> str:
    """The precision id the checkpoint is stored in (bf16 unless its tensors or config say otherwise)."""
    if inv.quantization:
        return inv.quantization
    dtypes = {t.dtype for t in inv.tensors if t.role not in ("norm", "buffer")}
    if len(dtypes) == 1:
        only = next(iter(dtypes))
        if only in ("F16", "F32", "BF16"):
            return {"F16": "fp16", "F32": "fp32"}.get(only, "bf16")
    quantized = dtypes - {"F16", "F32", "BF16", "F64"}
    return AS_STORED if inv.source == "gguf" and quantized else "bf16"


def _native(plan: Plan) -> Precision:
    """The checkpoint's own precision as a Precision (the as-stored row's, with its real bits, for other files)."""
    pid = native_precision(plan.inventory)
    row = plan.row(pid)
    return row.precision if row is not None else get_precision(pid)


def candidates(rows: tuple[PlanRow, ...], native: str) -> list[PlanRow]:
    """Rows worth recommending: ternary / binary only suit models trained that way (BitNet), so they are left
    out unless the checkpoint itself is stored so."""
    return [r for r in rows if r.precision.family != "lowbit" or r.precision.id == native]


def best_row(rows: list[PlanRow], native: str | Precision) -> PlanRow | None:
    """The highest-quality row among `rows` (which the caller already filtered to those that fit)."""
    from quantcore.planner.quality import rank_key

    nat = get_precision(native) if isinstance(native, str) else native
    # ranked as planner/best.py ranks every pair (k-bit scaling laws): 4 bits or more before anything below, then
    # the least expected rounding noise; ties (16/32-bit, formats no better than the checkpoint's own) by _quality
    return max(rows, key=lambda r: (*rank_key(r), *_quality(r, nat))) if rows else None


def name(row: PlanRow) -> str:
    """How the text names a row: its precision id, or "the file as stored (Q4_1)" for the as-stored row."""
    return f"the file {row.precision.label}" if row.as_stored else row.precision.id


def caveats(row: PlanRow, gpu_index: int, plan: Plan | None = None) -> tuple[str, ...]:
    """What to know before using this row on its GPU: sub-4-bit quality, little headroom, context past the limit."""
    out = []
    place = row.placements[gpu_index]
    gpu = row.gpu_list[gpu_index]
    if row.precision.nominal_bits < 4:
        out.append(f"{name(row)}: {LOW_BITS_CAVEAT}")
    if place.per_gpu is not None and place.kind != "offload":
        free = gpu.usable_bytes - place.per_gpu.total
        if free < HEADROOM_SHARE * gpu.usable_bytes:
            out.append(f"{name(row)} on {gpu.name}: only {format_bytes(max(0, free))} "
                       f"({max(0.0, free) / gpu.usable_bytes:.1%} of the card) to spare; allocator fragmentation, a "
                       "longer prompt or another program can push it out of memory")
    if plan is not None and plan.context_above_limit:
        out.append(plan.warnings[0])
    return tuple(out)


def recommend(plan: Plan, gpu_index: int = 0) -> Recommendation:
    """Which precision to use on the plan's GPU number gpu_index, why, and what to watch out for."""
    if not plan.rows:
        return Recommendation(None, None, "No precision suits this mode.")
    if not plan.rows[0].gpu_list:
        return Recommendation(None, None, "Choose a GPU to get a recommendation.")
    gpu = plan.rows[0].gpu_list[gpu_index]
    native = _native(plan)
    rows = candidates(plan.rows, native.id)
    fitting = [r for r in rows if r.placements[gpu_index].kind == "single"]
    best = best_row(fitting, native)
    if best is not None:
        return _fits(plan, best, gpu, gpu_index, rows)
    good = [r for r in rows if r.precision.nominal_bits >= 4]
    pool = [r for r in (good or rows) if r.multi_gpu[gpu_index].gpus is not None]
    offloads = [r for r in (good or rows) if r.placements[gpu_index].kind == "offload"]
    if not pool and not offloads:
        return Recommendation(gpu, None, f"Does not fit on up to 64 x {gpu.name} at any precision with this "
                                         "workload.")
    text = f"Does not fit entirely on one {gpu.name} at any precision"
    chosen: PlanRow | None = None
    if pool:
        fewest = min(r.multi_gpu[gpu_index].gpus for r in pool)
        chosen = best_row([r for r in pool if r.multi_gpu[gpu_index].gpus == fewest], native)
        assert chosen is not None
        multi = chosen.multi_gpu[gpu_index]
        how = "tensor parallel" if multi.kind == "tensor_parallel" else "layer split"
        text += f"; {name(chosen)} needs {multi.gpus} of them ({how})"
    if offloads:
        # speed is what an offload costs: among those within 25% of the fastest, the best quality
        speed = {id(r): r.gpus[gpu_index].decode_tokens_per_s or 0.0 for r in offloads}
        fastest = max(speed.values())
        off = best_row([r for r in offloads if speed[id(r)] >= OFFLOAD_SPEED_SHARE * fastest], native)
        assert off is not None
        opt = off.gpus[gpu_index]
        speed = f", about {opt.decode_tokens_per_s:,.1f} tokens/s (estimate)" if opt.decode_tokens_per_s else ""
        text += (f"{', or' if pool else ';'} {name(off)} runs on one with {opt.badge} "
                 f"({format_bytes(opt.placement.host_bytes)} in system RAM{speed})")
        chosen = chosen or off
    return Recommendation(gpu, None, text + ".", caveats(chosen, gpu_index, plan) if chosen is not None else ())


def _fits(plan: Plan, best: PlanRow, gpu: GPU, gpu_index: int, rows: list[PlanRow]) -> Recommendation:
    total = best.placements[gpu_index].per_gpu.total
    free = gpu.usable_bytes - total
    engine = ENGINE_NAMES.get(best.engine, best.engine)
    text = (f"On one {gpu.name}, use {name(best)} ({best.bits_per_weight:.2f} bits/weight, "
            f"{format_bytes(total)} with {format_bytes(free)} to spare, in {engine})")
    notes = list(caveats(best, gpu_index, plan))
    if best.precision.nominal_bits < 4:
        four = [r for r in rows if r.precision.nominal_bits >= 4 and r.multi_gpu[gpu_index].gpus]
        if four:
            alt = min(four, key=lambda r: (r.multi_gpu[gpu_index].gpus, -r.precision.nominal_bits))
            notes.append(f"{alt.multi_gpu[gpu_index].gpus} GPUs would hold {alt.precision.id}")
        return Recommendation(gpu, best, text + "; below 4 bits quality falls off sharply" + (
            f", and {notes[-1]}" if four else "") + ".", tuple(notes))
    if best.precision.nominal_bits >= 16 or plan.workload.mode != "inference":
        return Recommendation(gpu, best, text + ".", tuple(notes))
    return Recommendation(gpu, best, text + f"; {KBIT_NOTE}.", tuple(notes))


def recommendation(plan: Plan, gpu_index: int = 0) -> str:
    """Which precision to use on the plan's GPU number gpu_index, and why, in one sentence (caveats appended)."""
    rec = recommend(plan, gpu_index)
    extra = [c for c in rec.caveats if "below 4 bits" not in c and c not in rec.text]
    return rec.text + "".join(f" Caveat: {c}." for c in extra)


