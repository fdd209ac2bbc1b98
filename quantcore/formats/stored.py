"""The file as stored: a per-model Precision for the "as stored" plan row, with the file's own types and bytes."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from quantcore.formats.catalog import AS_STORED, Precision, get_precision, precision_ids, weight_bytes
from quantcore.model.inventory import DTYPE_BYTES, Inventory

# Sources whose tensor bytes are the file's own (headers), so an "as stored" row is exact.
EXACT_SOURCES = ("gguf", "safetensors")
_FLOATS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16}
_TERNARY = {"TQ1_0": 1.58, "TQ2_0": 2.0}


def stored_types(inv: Inventory) -> Counter[str]:
    """Bytes per stored tensor type over the model's weight matrices (vectors and buffers left out)."""
    out: Counter[str] = Counter()
    for t in inv.tensors:
        if t.role != "buffer" and len(t.shape) >= 2:
            out[t.dtype] += t.stored_bytes
    return out


def type_bits(dtype: str) -> float:
    """Nominal bits of a GGUF tensor type or safetensors dtype: Q4_1 -> 4, IQ3_S -> 3, MXFP4 -> 4, BF16 -> 16."""
    name = dtype.upper()
    if name in _FLOATS:
        return float(_FLOATS[name])
    if name in _TERNARY:
        return _TERNARY[name]
    m = re.match(r"^I?Q(\d)", name) or re.match(r"^MXFP(\d)", name) or re.match(r"^NVFP(\d)", name)
    if m:
        return float(m.group(1))
    return 8 * DTYPE_BYTES.get(name, 2)


def _compute(dtype: str, gguf: bool) -> str:
    name = dtype.upper()
    if name in ("F32", "F64"):
        return "fp32"
    if name in ("F16", "BF16"):
        return "fp16"
    if name.startswith("F8"):
        return "fp8"
    return "int8" if gguf else "fp16"  # llama.cpp multiplies quantized blocks with int8 dot products (MMQ/MMVQ)


def describe(inv: Inventory) -> str:
    """The stored format in a few words: "Q4_1", "Q4_K + Q6_K", "BF16", or the quantized checkpoint's label."""
    if inv.source == "safetensors" and inv.quantization in precision_ids():
        return get_precision(inv.quantization).label
    types = stored_types(inv)
    if not types:
        return "no weight matrices"
    total = sum(types.values())
    main = [name for name, b in types.most_common() if b >= 0.1 * total][:3]
    return " + ".join(main)


def as_stored_precision(inv: Inventory) -> Precision | None:
    """The "as stored" entry for this model's file, or None when its bytes are not the file's (config, count)."""
    if inv.source not in EXACT_SOURCES or not inv.tensors or inv.parameters <= 0:
        return None
    base = get_precision(AS_STORED)
    bits = 8 * weight_bytes(inv, AS_STORED) / inv.parameters
    gguf = inv.source == "gguf"
    types = stored_types(inv)
    main = types.most_common(1)[0][0] if types else "BF16"
    if inv.source == "safetensors" and inv.quantization in precision_ids():
        q = get_precision(inv.quantization)
        nominal, compute = q.nominal_bits, q.compute
    else:
        nominal, compute = type_bits(main), _compute(main, gguf)
    return replace(base, label=f"as stored ({describe(inv)})", nominal_bits=nominal, storage_bits=bits,
                   compute=compute, source=f"exact bytes of the {inv.source} file's tensors")
