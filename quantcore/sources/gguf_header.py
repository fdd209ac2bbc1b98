"""Exact tensor inventories and architecture facts from GGUF headers, via the `gguf` package's reader."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from quantcore.errors import ModelFileError, one_line
from quantcore.model.bounds import (CONTEXT, EXPERTS, HEADS, HIDDEN, LAYERS, OTHER, WINDOW, Bound, check,
                                    check_inventory)
from quantcore.model.inventory import Architecture, Inventory, TensorInfo
from quantcore.model.naming import classify, layer_of
from quantcore.sources.gguf_scan import ggml_types, read_header
from quantcore.sources.gguf_scan import tensor_bytes as scan_tensor_bytes
from quantcore.sources.local_name import local_model_name

# GGUF file type ids (general.file_type, llama.cpp's LLAMA_FTYPE_MOSTLY_*) -> our precision ids.
_FILE_TYPES = {0: "fp32", 1: "fp16", 7: "q8_0", 2: "q4_0", 10: "q2_k", 12: "q3_k_m", 15: "q4_k_m",
               17: "q5_k_m", 18: "q6_k", 32: "bf16", 38: "mxfp4"}


# what the gguf package's reader raises on damaged or hostile headers (nested arrays recurse: RecursionError)
READER_ERRORS = (OSError, ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError, AssertionError,
                 OverflowError, MemoryError, RecursionError, AttributeError)
MAX_META_ARRAY = 1 << 16  # longer metadata arrays (vocabularies, merges) are not read into the inventory


def read_gguf(path: Path) -> Inventory:
    """The inventory of a local .gguf file: every tensor with its stored type and bytes, plus metadata.

    The header is walked by gguf_scan (tokenizer arrays skipped by length): milliseconds, where parsing it with
    gguf.GGUFReader builds an object per vocabulary entry and takes seconds."""
    meta, tensors = scanned_parts(*read_header(path)[:2], where=str(path))
    return gguf_inventory(meta, tensors, str(path), local_model_name(path))


def scanned_parts(meta: dict[str, Any], tensors: list[tuple[str, tuple[int, ...], int, int]],
                  where: str = "GGUF file") -> tuple[dict[str, Any], tuple[TensorInfo, ...]]:
    """Metadata (tokenizer arrays left out) and TensorInfos from gguf_scan.scan's output."""
    types = ggml_types()
    out = []
    for name, dims, type_id, _offset in tensors:
        try:
            nbytes = scan_tensor_bytes(dims, type_id, name)
        except ValueError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
        role, kind = classify(name)
        out.append(TensorInfo(name=name, shape=tuple(int(d) for d in reversed(dims)), dtype=types[type_id][0],
                              role=role, kind=kind, layer=layer_of(name), nbytes=nbytes))
    return {k: v for k, v in meta.items() if not k.startswith("tokenizer.ggml.")}, tuple(out)


def gguf_parts(reader: Any) -> tuple[dict[str, Any], tuple[TensorInfo, ...]]:
    """Metadata (tokenizer arrays, nested and very long arrays left out) and tensors of an opened gguf.GGUFReader."""
    meta = {name: _value(f) for name, f in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    return meta, tuple(_tensor(t) for t in reader.tensors)


def gguf_inventory(meta: dict[str, Any], tensors: tuple[TensorInfo, ...], where: str, fallback_id: str) -> Inventory:
    """The inventory of a GGUF header's metadata and tensors (from a local file or from Hub range reads)."""
    if not tensors:
        raise ModelFileError(f"{where}: GGUF file holds no tensors")
    arch = _architecture(meta, tensors, where)
    ftype = meta.get("general.file_type")
    name = meta.get("general.name")
    inv = Inventory(id=one_line(name, 200) if isinstance(name, str) and name.strip() else fallback_id,
                    source="gguf", tensors=tensors, arch=arch,
                    quantization=_FILE_TYPES.get(ftype) if isinstance(ftype, int) and not isinstance(ftype, bool)
                    else None)
    return check_inventory(inv, where)


def _value(field: Any) -> Any:
    from gguf import GGUFValueType

    types = list(field.types)
    if types and types[0] == GGUFValueType.ARRAY and (len(types) > 2 or GGUFValueType.ARRAY in types[1:]
                                                      or len(field.data) > MAX_META_ARRAY):
        return None  # nested or very long arrays: nothing the planner reads
    try:
        return field.contents()
    except READER_ERRORS:
        return None


def _tensor(t: Any) -> TensorInfo:
    role, kind = classify(t.name)
    # GGUF lists dimensions fastest-first (ne[0] = row length); store them as PyTorch does (out, in).
    shape = tuple(int(d) for d in reversed(list(t.shape)))
    return TensorInfo(name=t.name, shape=shape, dtype=t.tensor_type.name, role=role, kind=kind,
                      layer=layer_of(t.name), nbytes=int(t.n_bytes))


def _architecture(meta: dict[str, Any], tensors: tuple[TensorInfo, ...], path: Path | str) -> Architecture:
    name = meta.get("general.architecture")
    if not isinstance(name, str):
        raise ModelFileError(f"{path}: GGUF metadata lacks general.architecture")

    def get(key: str, default: int = 0, bound: Bound = OTHER) -> int:
        """A whole-number field (a per-layer array: its first entry), checked against the bounds table."""
        v = meta.get(f"{name}.{key}")
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None:
            return default
        return check(v, bound, f"{name}.{key}", str(path))

    layers = get("block_count", 0, LAYERS)
    hidden = get("embedding_length", 0, HIDDEN)
    heads = get("attention.head_count", 0, HEADS)
    if not (layers and hidden and heads):
        raise ModelFileError(f"{path}: GGUF metadata lacks {name}.block_count / embedding_length / head_count")
    kv_heads = get("attention.head_count_kv", heads, Bound("KV heads", 0, HEADS.hi)) or heads
    head_dim = get("attention.key_length", max(1, hidden // heads), HIDDEN)
    embd = next((t for t in tensors if t.kind == "token_embd"), None)
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = embd.shape[0] if embd else len(tokens) if isinstance(tokens, list) else 0
    window = get("attention.sliding_window", 0, WINDOW)
    mla_rank = get("attention.kv_lora_rank", 0, Bound("MLA ranks", 0, HIDDEN.hi))
    rope_dim = get("rope.dimension_count", 0, Bound("rope dimensions", 0, HIDDEN.hi))
    sizes = Bound("hidden sizes", 0, HIDDEN.hi)
    return Architecture(
        model_type=name, num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim, vocab_size=vocab, intermediate_size=get("feed_forward_length", 0, sizes),
        max_context=get("context_length", 0, Bound("context lengths", 0, CONTEXT.hi)),
        sliding_window=window or None,
        kv_lora_rank=mla_rank, qk_rope_head_dim=rope_dim if mla_rank else 0,
        num_experts=get("expert_count", 0, EXPERTS), experts_per_token=get("expert_used_count", 0, EXPERTS),
        num_shared_experts=get("expert_shared_count", 0, EXPERTS),
        moe_intermediate_size=get("expert_feed_forward_length", 0, sizes),
        tie_embeddings=not any(t.kind == "output" for t in tensors),
    )
