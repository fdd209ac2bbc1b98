"""Already-quantized checkpoints: their precision id from quantization_config, their packed tensors as logical ones."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from quantcore.model.bounds import BITS, HIDDEN, check
from quantcore.model.inventory import TensorInfo
from quantcore.model.naming import classify, layer_of

# Auxiliary tensors each method stores beside a quantized weight (name suffix -> the suffix of the weight it
# belongs to). Their bytes are added to that weight; they are never counted as parameters.
#   GPTQ (AutoGPTQ/GPTQModel v1):  <module>.qweight int32 [in*bits/32, out], .qzeros, .scales fp16, .g_idx int32 [in]
#   AWQ (AutoAWQ GEMM):            <module>.qweight int32 [in, out*bits/32], .qzeros, .scales
#   bitsandbytes 4-bit (Params4bit.quant_state.as_dict): <module>.weight uint8 [n/2, 1] + weight.absmax,
#       weight.quant_map, weight.nested_absmax, weight.nested_quant_map, weight.quant_state.bitsandbytes__nf4
#   bitsandbytes 8-bit (Int8Params): <module>.weight int8 [out, in] + .SCB (+ .weight_format)
#   FP8 (transformers FineGrainedFP8 / fbgemm / compressed-tensors): .weight F8_E4M3 + .weight_scale(_inv), .input_scale
#   MXFP4 (transformers Mxfp4 / gpt-oss): <param>_blocks uint8 [..., out, in/32, 16] + <param>_scales uint8
_PACKED_SUFFIXES = (".qweight",)
_AUX_SUFFIXES = (".qzeros", ".scales", ".g_idx", ".weight.absmax", ".weight.quant_map", ".weight.nested_absmax",
                 ".weight.nested_quant_map", ".weight.quant_state.bitsandbytes__nf4",
                 ".weight.quant_state.bitsandbytes__fp4", ".SCB", ".weight_format", ".weight_scale",
                 ".weight_scale_inv", ".input_scale", ".weight_zero_point", ".weight_global_scale",
                 ".input_global_scale", ".weight_scale_2")
_MX_BLOCKS, _MX_SCALES = "_blocks", "_scales"


def checkpoint_precision(config: dict[str, Any] | None) -> tuple[str | None, str]:
    """(our precision id or None, a short description) of config.json's quantization_config; (None, "") if none."""
    q = (config or {}).get("quantization_config")
    if not isinstance(q, dict):
        return None, ""
    method = q.get("quant_method")
    method = method.lower()[:60] if isinstance(method, str) else ""
    pid: str | None = None
    desc = method or "unknown method"
    if method in ("gptq", "awq"):
        bits = q.get("bits", q.get("w_bit"))
        group = q.get("group_size", q.get("q_group_size"))
        if bits is not None:
            check(bits, BITS, "quantization_config.bits", "config.json")
        if group is not None and group != -1:  # -1: one group per column (GPTQ's "no grouping")
            check(group, HIDDEN, "quantization_config.group_size", "config.json")
        desc = f"{method.upper()} {bits}-bit, group size {group}"
        pid = f"{method}-{bits}bit-g{group}"
    elif method == "bitsandbytes":
        if q.get("load_in_4bit"):
            kind = str(q.get("bnb_4bit_quant_type") or "fp4").lower()
            pid, desc = kind, f"bitsandbytes 4-bit {kind.upper()}"
        elif q.get("load_in_8bit"):
            pid, desc = "int8", "bitsandbytes LLM.int8()"
    elif method in ("fp8", "fbgemm_fp8"):
        pid, desc = "fp8", "FP8 E4M3" + (f" with {q['weight_block_size']} blocks" if q.get("weight_block_size") else "")
    elif method == "mxfp4":
        pid, desc = "mxfp4", "MXFP4 (OCP microscaling)"
    elif method == "compressed-tensors":
        pid, desc = _compressed_tensors(q)
    return (pid if pid is not None and _known(pid) else None), desc


def _compressed_tensors(q: dict[str, Any]) -> tuple[str | None, str]:
    groups = q.get("config_groups")
    weights = next((g.get("weights") for g in groups.values() if isinstance(g, dict)), None) if isinstance(
        groups, dict) else None
    if isinstance(weights, dict) and weights.get("num_bits") == 8 and weights.get("type") == "float":
        return "fp8", "compressed-tensors FP8"
    return None, "compressed-tensors"


def _known(pid: str) -> bool:
    from quantcore.formats.catalog import precision_ids

    return pid in precision_ids()


def _bits(config: dict[str, Any]) -> int:
    q = config.get("quantization_config") or {}
    bits = q.get("bits", q.get("w_bit", 4))
    return int(bits) if isinstance(bits, int) and 1 <= bits <= 16 else 4


def logical_tensors(tensors: list[TensorInfo], config: dict[str, Any] | None,
                    analytic: dict[str, tuple[int, ...]] | None = None) -> tuple[list[TensorInfo], list[str]]:
    """The checkpoint's tensors as the model's logical weights: packed weights get their real shape and carry the
    bytes of their scales / zero-points / indices; those auxiliary tensors disappear (never parameters).

    `analytic` maps weight name -> logical shape (from config.json) for formats whose header loses the shape
    (bitsandbytes 4-bit stores a flat uint8 column). Returns the tensors and notes on anything approximate.
    Without a quantization_config the tensors are returned unchanged.
    """
    q = (config or {}).get("quantization_config")
    if not isinstance(q, dict):
        return tensors, []
    method = q.get("quant_method")
    method = method.lower()[:60] if isinstance(method, str) else ""
    bits = _bits(config or {})
    by_name = {t.name: t for t in tensors}
    extra: dict[str, int] = {}  # logical weight name -> bytes of its auxiliary tensors
    owner: dict[str, str] = {}  # auxiliary tensor name -> logical weight name
    for t in tensors:
        base = _aux_owner(t.name, by_name)
        if base is not None:
            owner[t.name] = base
            extra[base] = extra.get(base, 0) + t.stored_bytes
    out: list[TensorInfo] = []
    notes: list[str] = []
    flat = 0
    for t in tensors:
        if t.name in owner:
            continue
        if t.name.endswith(_PACKED_SUFFIXES):
            name = t.name[: -len(".qweight")] + ".weight"
            shape = _unpack_int32(t.shape, method, bits)
        elif t.name.endswith(_MX_BLOCKS) and t.dtype == "U8" and len(t.shape) >= 3:
            name = t.name[: -len(_MX_BLOCKS)]
            shape = (*t.shape[:-2], t.shape[-2] * t.shape[-1] * 2)  # 16 bytes = 32 E2M1 values per block
        elif method == "bitsandbytes" and t.dtype == "U8" and t.name + ".absmax" in by_name:
            name = t.name
            shape = (analytic or {}).get(t.name) or (1, t.numel * 2)  # two 4-bit values per byte
            flat += (analytic or {}).get(t.name) is None
        else:
            out.append(t if t.name not in extra else replace(t, nbytes=t.stored_bytes + extra[t.name]))
            continue
        role, kind = classify(name)
        out.append(TensorInfo(name=name, shape=tuple(int(d) for d in shape), dtype=t.dtype, role=role, kind=kind,
                              layer=layer_of(name), count=t.count, nbytes=t.stored_bytes + extra.get(name, 0)))
    kept = {o.name for o in out}
    orphans = [n for n, base in owner.items() if base not in kept]
    if orphans:  # scales whose weight is not in these tensors (another shard, or an unknown layout): keep as buffers
        out.extend(replace(by_name[n], role="buffer", kind="buffer") for n in orphans)
    if flat:
        notes.append(f"{flat} bitsandbytes 4-bit weights have no shape in the header and no config.json match: "
                     "counted as flat rows of 2 values per byte")
    return out, notes


def _aux_owner(name: str, by_name: dict[str, TensorInfo]) -> str | None:
    """The logical weight an auxiliary tensor belongs to, or None if `name` is not auxiliary."""
    for suffix in _AUX_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if suffix.startswith(".weight."):
                return stem + ".weight"
            if suffix in (".qzeros", ".scales", ".g_idx"):
                return stem + ".weight" if stem + ".qweight" in by_name else None
            return stem + ".weight"
    if name.endswith(_MX_SCALES) and name[: -len(_MX_SCALES)] + _MX_BLOCKS in by_name:
        return name[: -len(_MX_SCALES)]
    return None


def _unpack_int32(shape: tuple[int, ...], method: str, bits: int) -> tuple[int, ...]:
    """Logical (out, in) of an int32-packed qweight: GPTQ packs along in ([in*bits/32, out]), AWQ along out."""
    if len(shape) != 2:
        return shape
    rows, cols = shape
    if method == "awq":
        return (cols * 32 // bits, rows)
    return (cols, rows * 32 // bits)


_SHARD = re.compile(r"^(?P<stem>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.(?P<ext>safetensors|gguf|bin)$")


def shard_parts(name: str) -> tuple[str, int, int] | None:
    """('model', 3, 30) for 'model-00003-of-00030.safetensors' (transformers' and llama.cpp's shard names)."""
    m = _SHARD.match(name)
    return (m["stem"], int(m["i"]), int(m["n"])) if m else None
