"""A per-tensor precision assignment ("these layers at int8, the rest nf4"): its exact bytes from the catalog, and a
catalog entry of its own so the planner sizes it as one more row (the lab's mixed-precision suggestion)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from quantcore.errors import BadInputError
from quantcore.formats import catalog, gguf_mix
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

MIXED_FAMILY = "mixed"
_ID_OF: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}  # assignment -> its id, unique in this process


@dataclass(frozen=True)
class Mixture:
    """base: the precision of every tensor not named in overrides; overrides: (tensor name, precision id) pairs,
    sorted. For one model (tensor names are the model's own); on another model only the base applies."""

    base: str
    overrides: tuple[tuple[str, str], ...]
    note: str = ""  # why (e.g. "suggested by layer sensitivity: -38% output error")

    def __post_init__(self) -> None:
        base = catalog.get_precision(self.base)
        if base.family == MIXED_FAMILY:
            raise BadInputError("a mixture's base must be a catalog precision, not another mixture")
        for _, pid in self.overrides:
            catalog.get_precision(pid)
        object.__setattr__(self, "base", base.id)
        object.__setattr__(self, "overrides", tuple(sorted((n, catalog.get_precision(p).id)
                                                           for n, p in self.overrides)))

    @cached_property
    def _map(self) -> dict[str, str]:
        return dict(self.overrides)

    @property
    def id(self) -> str:
        """base+<override precisions>x<count>, e.g. 'nf4+int8x5' (short enough for a plot's axis); a different
        assignment that would get the same id in this process gets '~2', '~3', ... (ids never change meaning)."""
        got = _ID_OF.get(self._key)
        if got is None:
            highs = "+".join(sorted({p for _, p in self.overrides})) or "none"
            short = f"{self.base}+{highs}x{len(self.overrides)}"
            taken = set(_ID_OF.values())
            got = next(c for c in (short if k == 1 else f"{short}~{k}" for k in range(1, 10**6)) if c not in taken)
            _ID_OF[self._key] = got
        return got

    @property
    def _key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.base, self.overrides)

    @property
    def label(self) -> str:
        highs = ", ".join(sorted({p for _, p in self.overrides}))
        return f"{self.base} with {len(self.overrides)} tensor(s) at {highs}"

    def precision_of(self, tensor_name: str) -> str:
        return self._map.get(tensor_name, self.base)

    @cached_property
    def precision(self) -> catalog.Precision:
        """The catalog entry the planner shows for the mixture (its base's figures; bytes come per tensor)."""
        b = catalog.get_precision(self.base)
        highs = ", ".join(sorted({p for _, p in self.overrides}))
        keeps = f"{len(self.overrides)} sensitive tensor(s) in {highs}; the rest as {b.id}: {b.keeps}"
        source = "per-tensor assignment" + (f" ({self.note})" if self.note else "") + \
            "; bytes of each tensor from its own precision's layout"
        return catalog.Precision(self.id, self.label, MIXED_FAMILY, b.nominal_bits, b.storage_bits, b.block_size,
                                 keeps, source, "", b.compute, True)

    @property
    def layout(self) -> catalog.Layout:
        return catalog.layout(self.base)

    def quantized_by(self, t: TensorInfo) -> bool:
        return catalog.quantized_by(t, catalog.get_precision(self.precision_of(t.name)))

    def tensor_bytes(self, t: TensorInfo, arch: Architecture | None = None) -> int:
        """Bytes of one tensor looked at alone in its assigned precision (catalog.tensor_bytes)."""
        return catalog.tensor_bytes(t, catalog.get_precision(self.precision_of(t.name)), arch)

    def per_tensor(self, inv: Inventory) -> dict[str, int]:
        """Exact bytes of every weight of the model in its assigned precision, GGUF types chosen in the model's
        context (as weight_bytes does)."""
        base = per_tensor_bytes(inv, self.base)
        out = dict(base)
        for pid in {p for _, p in self.overrides}:
            theirs = per_tensor_bytes(inv, pid)
            for name, p in self.overrides:
                if p == pid and name in theirs:
                    out[name] = theirs[name]
        return out

    def model_bytes(self, inv: Inventory) -> int:
        return sum(self.per_tensor(inv).values())


def per_tensor_bytes(inv: Inventory, pid: str) -> dict[str, int]:
    """Bytes of each weight (buffers left out) of the model stored in precision pid; sums to catalog.weight_bytes."""
    p = catalog.get_precision(pid)
    weights = [t for t in inv.tensors if t.role != "buffer"]
    out: dict[str, int] = {}
    if p.family == "gguf":
        for t, ty, copies in gguf_mix.tensor_types(weights, p.id, gguf_mix.context_for(inv)):
            cols = max(t.shape[-1], 1) if t.shape else 1
            rows = (t.numel // max(t.count, 1)) // cols
            out[t.name] = out.get(t.name, 0) + gguf_mix.type_bytes(ty, rows * copies, cols)
        return out
    for t in weights:
        out[t.name] = out.get(t.name, 0) + catalog.tensor_bytes(t, p, inv.arch)
    return out


def register(m: Mixture) -> catalog.Precision:
    """Make the mixture's id known to the catalog (idempotent); returns its catalog entry."""
    catalog.register_mixture(m)
    return m.precision
