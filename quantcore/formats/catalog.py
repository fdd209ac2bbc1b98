"""The precision catalog: one definition per format (layout, storage bits, what stays 16-bit) and its exact bytes."""
from __future__ import annotations

import math
import re
import weakref
from dataclasses import replace
from typing import Any

from quantcore.errors import BadInputError, UnknownPrecisionError
from quantcore.formats import gguf_mix
from quantcore.formats.layout import Layout, Precision, matrix_dims, quantized_bytes, storage_bits
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

FAMILIES = ("float", "int", "bnb", "gptq", "awq", "mx", "gguf", "lowbit", "stored", "mixed")
# The pseudo-precision of a model file as it is stored (any GGUF tensor type, any safetensors dtype): its bytes are the
# file's own, tensor by tensor. Not in precision_ids() (it is no format to convert to), but get_precision() knows it.
AS_STORED = "stored"
COMPUTES = ("fp32", "fp16", "fp8", "int8")

# -- the catalog -------------------------------------------------------------------------------------------------

_KEEP_16 = "embeddings, lm_head, norms, biases and MoE routers stay 16-bit"
_GGUF_KEEPS = {
    "q8_0": "1-D tensors (norms, biases) and routers stay F32; everything else Q8_0",
    "q6_k": "1-D tensors and routers stay F32; Q8_0 where a row is not a multiple of 256 and for attn_k/attn_v "
            "of 8-expert models",
    "q5_k_m": "1-D tensors and routers F32; output Q6_K; attn_v and ffn_down Q6_K in half the layers "
              "(use_more_bits)",
    "q4_k_m": "1-D tensors and routers F32; output Q6_K; attn_v and ffn_down Q6_K in half the layers "
              "(use_more_bits)",
    "q4_0": "1-D tensors and routers F32; output Q6_K",
    "q3_k_m": "1-D tensors and routers F32; output Q6_K; attn_v Q5_K/Q4_K, attn_output and ffn_down Q4_K "
              "(first 1/16 of ffn_down Q5_K)",
    "q2_k": "1-D tensors and routers F32; output Q6_K; attn_v Q4_K (GQA >= 4) or Q3_K, attn_output and "
            "ffn_down Q3_K",
}


def _gguf(pid: str, label: str, nominal: float, mixed: bool) -> tuple[Precision, Layout]:
    base = gguf_mix.FTYPE_BASE[pid]
    block, size = gguf_mix.block_layout(base)
    lay = Layout("gguf", 8 * size / block, block, ggml_type=base, keep_bytes=4)
    src = (f"llama.cpp src/llama-quant.cpp {pid.upper()} mixture; {base} block of {block} weights in {size} bytes "
           "(gguf.GGML_QUANT_SIZES)")
    return Precision(pid, label, "gguf", nominal, storage_bits(lay), block, _GGUF_KEEPS[pid], src, "", "int8",
                     mixed), lay


def _define(pid: str, label: str, family: str, nominal: float, lay: Layout, keeps: str, source: str,
            training: str = "", compute: str = "fp16") -> tuple[Precision, Layout]:
    return Precision(pid, label, family, nominal, storage_bits(lay), lay.group, keeps, source, training, compute,
                     False), lay


def _catalog() -> tuple[tuple[Precision, Layout], ...]:
    # bitsandbytes 4-bit state per tensor: the 16-value code (quant_map, fp32), the 256-value 8-bit dynamic map
    # of the nested absmax (nested_quant_map, fp32) and the nested offset (fp32).
    bnb_const = 16 * 4 + 256 * 4 + 4
    return (
        _define("fp32", "FP32", "float", 32, Layout("dense", 32, keep_bytes=4, codec="cast"), "nothing: every tensor in fp32",
                "IEEE 754 binary32", "full", "fp32"),
        _define("fp16", "FP16", "float", 16, Layout("dense", 16, codec="cast"), "nothing: every tensor in fp16",
                "IEEE 754 binary16", "full", "fp16"),
        _define("bf16", "BF16", "float", 16, Layout("dense", 16, codec="cast"), "nothing: every tensor in bf16",
                "bfloat16 (8-bit exponent, 7-bit mantissa; torch.bfloat16)", "full", "fp16"),
        _define("fp8", "FP8 E4M3 (per-row scale)", "float", 8, Layout("rowscale", 8, scale_bytes=4, codec="fp8"), _KEEP_16,
                "OCP 8-bit floating point E4M3FN (max 448); torchao Float8WeightOnlyConfig PerRow: one fp32 scale "
                "per output row", "", "fp8"),
        _define("int8", "INT8 LLM.int8() (bitsandbytes)", "bnb", 8, Layout("rowscale", 8, scale_bytes=4, codec="int8"), _KEEP_16,
                "bitsandbytes Linear8bitLt / Int8Params: CB int8 plus SCB, one fp32 absmax per output row "
                "(functional.int8_vectorwise_quant); arXiv 2208.07339", "qlora", "int8"),
        _define("nf4", "NF4 (bitsandbytes, double quant)", "bnb", 4,
                Layout("bnb4", 4, 64, scale_bytes=1, tensor_bytes=bnb_const, codec="bnb4"), _KEEP_16,
                "bitsandbytes functional.quantize_4bit: blocksize 64, NF4 code, absmax 8-bit quantized in blocks "
                "of 256 with one fp32 per block (compress_statistics, Linear4bit default); QLoRA arXiv 2305.14314",
                "qlora"),
        _define("fp4", "FP4 (bitsandbytes, double quant)", "bnb", 4,
                Layout("bnb4", 4, 64, scale_bytes=1, tensor_bytes=bnb_const, codec="bnb4"), _KEEP_16,
                "bitsandbytes functional.quantize_4bit quant_type='fp4' (E2M1, bnb flavour): blocksize 64, "
                "absmax double-quantized like NF4", "qlora"),
        _define("gptq-4bit-g128", "GPTQ 4-bit g128", "gptq", 4, Layout("gptq", 4, 128, scale_bytes=2), _KEEP_16,
                "GPTQ checkpoint packing (AutoGPTQ/GPTQModel v1): qweight int32 [in/8, out], qzeros int32 "
                "[groups, out/8], scales fp16 [groups, out], g_idx int32 [in]"),
        _define("awq-4bit-g128", "AWQ 4-bit g128", "awq", 4, Layout("awq", 4, 128, scale_bytes=2), _KEEP_16,
                "AutoAWQ GEMM packing: qweight int32 [in, out/8], qzeros int32 [groups, out/8], "
                "scales fp16 [groups, out]"),
        _define("int4-g128", "INT4 g128 (torchao)", "int", 4,
                Layout("blockscale", 4, 128, scale_bytes=2, zero_bytes=2, codec="affine"), _KEEP_16,
                "torchao Int4WeightOnlyConfig(group_size=128): uint4 packed, bf16 scale and zero per group of 128 "
                "along the input dimension"),
        _define("int3-g128", "INT3 g128", "int", 3, Layout("blockscale", 3, 128, scale_bytes=2, zero_bytes=2, codec="affine"),
                _KEEP_16, "torchao quant_primitives affine (asymmetric) per group of 128 along the input dimension, "
                "3-bit values bit-packed, fp16 scale and zero per group"),
        _define("int2-g64", "INT2 g64", "int", 2, Layout("blockscale", 2, 64, scale_bytes=2, zero_bytes=2, codec="affine"),
                _KEEP_16, "torchao quant_primitives affine (asymmetric) per group of 64 along the input dimension, "
                "2-bit values packed 4 per byte, fp16 scale and zero per group"),
        _define("mxfp4", "MXFP4 (OCP MX)", "mx", 4, Layout("blockscale", 4, 32, scale_bytes=1, codec="mxfp4"), _KEEP_16,
                "OCP Microscaling Formats (MX) Specification v1.0: 32 E2M1 values share one E8M0 scale "
                "(= ggml MXFP4 block, 17 bytes)"),
        _define("nvfp4", "NVFP4", "mx", 4, Layout("blockscale", 4, 16, scale_bytes=1, tensor_bytes=4, codec="nvfp4"), _KEEP_16,
                "NVIDIA NVFP4 (torchao NVFP4Tensor, ModelOpt): 16 E2M1 values share one E4M3 scale, plus one fp32 "
                "per-tensor scale"),
        _gguf("q8_0", "GGUF Q8_0", 8, False),
        _gguf("q6_k", "GGUF Q6_K", 6, False),
        _gguf("q5_k_m", "GGUF Q5_K_M", 5, True),
        _gguf("q4_k_m", "GGUF Q4_K_M", 4, True),
        _gguf("q4_0", "GGUF Q4_0", 4, True),
        _gguf("q3_k_m", "GGUF Q3_K_M", 3, True),
        _gguf("q2_k", "GGUF Q2_K", 2, True),
        # Ternary: base-3 packing of 5 trits per byte (3^5 = 243 <= 256) in blocks of 256 with an fp16 scale:
        # ceil(256 * 8/5 / 8) + 2 = 54 bytes, which is ggml's TQ1_0 block.
        _define("ternary", "Ternary 1.58-bit (BitNet b1.58)", "lowbit", math.log2(3),
                Layout("blockscale", 8 / 5, 256, scale_bytes=2, codec="ternary"),
                "only linear layers (BitLinear) are ternary; " + _KEEP_16,
                "BitNet b1.58 (arXiv 2402.17764) weights {-1, 0, 1} stored as ggml TQ1_0 blocks: 256 trits in "
                "54 bytes (5 per byte + fp16 scale)"),
        _define("binary", "Binary 1-bit (sign + scale)", "lowbit", 1, Layout("blockscale", 1, 128, scale_bytes=2, codec="binary"),
                "only linear layers are binary; " + _KEEP_16,
                "sign bits in blocks of 128 with one fp16 scale (ggml Q1_0 block: 128 weights in 18 bytes)"),
    )


_ENTRIES = _catalog()
PRECISIONS: tuple[Precision, ...] = tuple(p for p, _ in _ENTRIES)
_BY_ID: dict[str, Precision] = {p.id: p for p in PRECISIONS}
_LAYOUTS: dict[str, Layout] = {p.id: lay for p, lay in _ENTRIES}
_IDS = tuple(_BY_ID)
# nominal/storage bits of the as-stored entry are placeholders: a plan row carries the file's own (as_stored_precision)
_BY_ID[AS_STORED] = Precision(AS_STORED, "as stored", "stored", 16, 16, None, "every tensor as the file stores it",
                              "the file's own tensor types and exact byte counts", "", "fp16", False)
_LAYOUTS[AS_STORED] = Layout("dense", 16)
_MIXTURES: dict[str, Any] = {}  # formats/mixture.py's per-tensor assignments by id (duck-typed: no import circle)


def register_mixture(m: Any) -> None:
    """Make a Mixture's id answer get_precision, layout, tensor_bytes and weight_bytes (each tensor its own)."""
    _MIXTURES[m.id] = m


def precision_ids() -> tuple[str, ...]:
    """The catalog's listed ids (the defaults shown); the gptq, awq and int families accept others (see FAMILY_IDS)."""
    return _IDS


# Families whose bit width and group size are parameters of the id. The listed ids are their defaults.
FAMILY_IDS = ("gptq-<bits>bit-g<group> | gptq-<bits>bit-nogroup (bits 2 3 4 8)",
              "awq-<bits>bit-g<group> (bits 2 3 4 8; AutoAWQ's GEMM layout, which the engine writes, is 4-bit)",
              "int<bits>-g<group> (bits 2-8)")
_GROUP_SIZES = (16, 32, 64, 128, 256, 512, 1024)
_FAMILY_RE = re.compile(r"^(?:(gptq|awq)-(\d+)bit-(?:g(\d+)|(nogroup))|int(\d+)-g(\d+))$")
_PARSED: dict[str, tuple[Precision, Layout]] = {}


def _parse_family(pid: str) -> tuple[Precision, Layout] | None:
    """A catalog entry for a family id with its own bits and group ('gptq-4bit-g32', 'int4-g64', ...)."""
    m = _FAMILY_RE.match(pid)
    if m is None:
        return None
    fam, fbits, fgroup, nogroup, ibits, igroup = m.groups()
    fam = fam or "int"
    bits = int(fbits or ibits)
    group = None if nogroup else int(fgroup or igroup)
    if fam in ("gptq", "awq") and bits not in (2, 3, 4, 8):
        raise UnknownPrecisionError(f"'{pid}': {fam.upper()} takes 2, 3, 4 or 8 bits")
    if fam == "int" and not 2 <= bits <= 8:
        raise UnknownPrecisionError(f"'{pid}': the int family takes 2 to 8 bits")
    if group is not None and group not in _GROUP_SIZES:
        raise UnknownPrecisionError(f"'{pid}': group size must be one of {', '.join(map(str, _GROUP_SIZES))}")
    if nogroup and fam != "gptq":
        raise UnknownPrecisionError(f"'{pid}': only GPTQ has a per-channel (nogroup) form")
    default = {"gptq": "gptq-4bit-g128", "awq": "awq-4bit-g128", "int": "int4-g128"}[fam]
    base, base_lay = _BY_ID[default], _LAYOUTS[default]
    lay = replace(base_lay, bits=bits, group=group)
    if fam == "int":
        label = f"INT{bits} g{group}" + (" (torchao)" if bits == 4 else "")
        source = (f"torchao quant_primitives affine (asymmetric) per group of {group} along the input dimension, "
                  f"{bits}-bit values bit-packed, {'bf16' if bits == 4 else 'fp16'} scale and zero per group")
    else:
        label = f"{fam.upper()} {bits}-bit " + ("per-channel" if group is None else f"g{group}")
        source = base.source.replace("in/8", f"in*{bits}/32").replace("out/8", f"out*{bits}/32")
    p = replace(base, id=pid, label=label, nominal_bits=bits, storage_bits=storage_bits(lay), block_size=group,
                source=source)
    return p, lay


def _entry(pid: str) -> tuple[Precision, Layout]:
    p = _BY_ID.get(pid)
    if p is not None:
        return p, _LAYOUTS[pid]
    if pid in _MIXTURES:
        return _MIXTURES[pid].precision, _MIXTURES[pid].layout
    key = str(pid).strip().lower()
    got = _PARSED.get(key)
    if got is None:
        if key in _BY_ID:
            return _BY_ID[key], _LAYOUTS[key]
        got = _parse_family(key)
        if got is None:
            raise UnknownPrecisionError(f"unknown precision '{pid}'; valid ids: {' '.join(_IDS)} (and the families "
                                        f"{'; '.join(FAMILY_IDS)})")
        _PARSED[key] = got
    return got


def get_precision(pid: str) -> Precision:
    """The catalog entry for an id (case-insensitive); family ids with other bits / groups are parsed."""
    return _entry(pid)[0]


def layout(pid: str) -> Layout:
    """The storage layout behind a precision (what the quantization engine writes)."""
    return _entry(pid)[1]


# -- per-tensor rules --------------------------------------------------------------------------------------------

def quantized_by(t: TensorInfo, p: Precision) -> bool:
    """Whether format p quantizes tensor t (non-GGUF formats: 2-D+ projection weights only, as the tools do)."""
    if p.family == "gguf":
        return gguf_mix.quantizable(t)
    if p.family == "stored":
        return t.dtype not in _FLOAT_DTYPES
    if layout(p.id).scheme == "dense" or len(t.shape) < 2:
        return False
    if t.role not in ("attention", "mlp", "expert", "shared_expert", "other"):
        return False  # embedding, head, norm, router, buffer
    return not (t.kind.endswith("_bias") or t.name.endswith("bias"))


_FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})


def _plain_tensor_bytes(t: TensorInfo, p: Precision) -> int:
    if p.family == "stored":
        return t.stored_bytes
    lay = layout(p.id)
    if t.numel == 0:
        return 0
    if lay.scheme == "dense":
        return math.ceil(t.numel * lay.bits / 8)
    if not quantized_by(t, p):
        return t.numel * lay.keep_bytes
    if lay.scheme == "bnb4":  # each copy is one flattened parameter with its own quant state
        return t.count * (quantized_bytes(lay, 1, t.numel // t.count, 1) + lay.tensor_bytes)
    m, out, cols = matrix_dims(t)
    return quantized_bytes(lay, m, out, cols) + m * lay.tensor_bytes


def tensor_bytes(t: TensorInfo, p: Precision, arch: Architecture | None = None) -> int:
    """Exact bytes of tensor t (all its `count` copies) stored in precision p.

    GGUF mixtures look at the model (layer count, GQA, experts, tied embeddings) through `arch`; a tensor looked at
    alone takes its layer index as its position among attn_v / ffn_down tensors.
    """
    if p.family == "mixed":
        return int(_MIXTURES[p.id].tensor_bytes(t, arch))
    if p.family == "gguf":
        ctx = gguf_mix.context_for_arch(arch, n_layers=(t.layer or 0) + 1)
        return gguf_mix.slots_bytes(gguf_mix.prepare((t,), ordinals=False), p.id, ctx)
    return _plain_tensor_bytes(t, p)


# -- whole models, memoized per inventory object -----------------------------------------------------------------

# Keys of the per-inventory memo besides precision ids (objects, so no id string can collide with them).
_WEIGHTS, _GROUPS, _SLOTS, _MIX = object(), object(), object(), object()
_CACHE: dict[int, tuple[weakref.ref, dict[Any, Any]]] = {}


def _cache_of(inv: Inventory) -> dict[Any, Any]:
    """Per-inventory memo, keyed by object identity (hashing 300 frozen tensors per call would cost more)."""
    key = id(inv)
    entry = _CACHE.get(key)
    if entry is not None and entry[0]() is inv:
        return entry[1]

    def drop(ref: weakref.ref, key: int = key) -> None:
        held = _CACHE.get(key)
        if held is not None and held[0] is ref:
            del _CACHE[key]

    values: dict[Any, Any] = {}
    _CACHE[key] = (weakref.ref(inv, drop), values)
    return values


def _weights(inv: Inventory, cache: dict[Any, Any]) -> tuple[TensorInfo, ...]:
    got = cache.get(_WEIGHTS)
    if got is None:
        got = cache[_WEIGHTS] = tuple(t for t in inv.tensors if t.role != "buffer")
    return got


def _groups(inv: Inventory, cache: dict[Any, Any]) -> tuple[tuple[TensorInfo, int], ...]:
    """Weights grouped by what non-GGUF formats look at (shape, count, role, kind, bias), with multiplicities."""
    got = cache.get(_GROUPS)
    if got is None:
        groups: dict[tuple, list] = {}
        for t in _weights(inv, cache):
            key = (t.shape, t.count, t.role, t.kind, t.name.endswith("bias"))
            if key in groups:
                groups[key][1] += 1
            else:
                groups[key] = [t, 1]
        got = cache[_GROUPS] = tuple((t, n) for t, n in groups.values())
    return got


def _model_bytes(inv: Inventory, p: Precision, cache: dict[Any, Any]) -> int:
    if p.family == "stored":
        return sum(t.stored_bytes for t in _weights(inv, cache))
    if p.family == "mixed":
        return int(_MIXTURES[p.id].model_bytes(inv))
    if p.family == "gguf":
        slots = cache.get(_SLOTS)
        if slots is None:
            slots = cache[_SLOTS] = gguf_mix.prepare(_weights(inv, cache))
            cache[_MIX] = gguf_mix.context_for(inv)
        return gguf_mix.slots_bytes(slots, p.id, cache[_MIX])
    return sum(_plain_tensor_bytes(t, p) * n for t, n in _groups(inv, cache))


def weight_bytes(inv: Inventory, pid: str) -> int:
    """Exact bytes of every weight of the model stored in precision pid (stored buffers are not weights)."""
    cache = _cache_of(inv)
    got = cache.get(pid)
    if got is None:
        p = get_precision(pid)
        got = cache.get(p.id)
        if got is None:
            got = cache[p.id] = _model_bytes(inv, p, cache)
        cache[pid] = got
    return got


def bits_per_weight(inv: Inventory, pid: str) -> float:
    """8 x weight bytes / parameters: what the format really costs on this model, kept tensors included."""
    params = inv.parameters
    if params <= 0:
        raise BadInputError(f"model {inv.id} has no parameters; cannot compute bits per weight")
    return 8 * weight_bytes(inv, pid) / params


# -- KV-cache element types --------------------------------------------------------------------------------------

def _ggml_element_bytes(type_name: str) -> float:
    block, size = gguf_mix.block_layout(type_name)
    return size / block


_KV_BYTES: dict[str, float] = {
    "fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5,
    "q8_0": _ggml_element_bytes("Q8_0"), "q4_0": _ggml_element_bytes("Q4_0"),
}


def kv_dtype_ids() -> tuple[str, ...]:
    return tuple(_KV_BYTES)


def kv_bytes_per_element(kv_dtype: str) -> float:
    """Bytes per cached key/value element (llama.cpp q8_0 / q4_0 cache types include their block scales)."""
    got = _KV_BYTES.get(kv_dtype)
    if got is None:
        got = _KV_BYTES.get(str(kv_dtype).strip().lower())
    if got is None:
        raise UnknownPrecisionError(f"unknown KV-cache dtype '{kv_dtype}'; valid: {' '.join(_KV_BYTES)}")
    return got
