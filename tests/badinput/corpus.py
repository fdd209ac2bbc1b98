"""The bad-input corpus: what a case is, and the writers that make hostile files (configs, safetensors and GGUF
headers, FIFOs, device links, deep JSON and TOML) in a case's own folder.

A case's folder has inputs/ (what the case writes), work/ (the current directory while it runs), hf-home/ (the
Hugging Face cache of Hub cases) and outside/ (where a path traversal would land: it must stay empty).
Classes, as issue 8 numbers them: cache (1, writes outside the cache), bounded (2, unbounded reads), hang (3),
traceback (4), accepted (5, bad input accepted), hygiene (6, output hygiene); holds: what already held and must
keep holding (no pickle runs, no token printed, header bombs refused cheaply, no partial files).
"""
from __future__ import annotations

import json
import math
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FAKE_TOKEN = "hf_BadInputCorpusFakeToken_0123456789abcdef"
CLASSES = ("cache", "bounded", "hang", "traceback", "accepted", "hygiene", "holds")
Make = Callable[[Path], "list[str] | tuple[list[str], dict[str, str]]"]

LLAMA: dict[str, Any] = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                         "max_position_embeddings": 2048, "torch_dtype": "bfloat16"}


@dataclass(frozen=True)
class Case:
    """One hostile input and what must happen: exit 2 with one clean stderr line (or exit 0 when `ok`)."""

    id: str
    cls: str
    make: Make  # writes the inputs under the case folder; returns argv (or argv and extra environment)
    ok: bool = False
    hub: Callable[[Any, Path], None] | None = None  # repos and faults on the stand-in Hub (Hub cases only)
    needle: str = ""  # must appear in the error line (case-insensitive)
    seconds: float = 10.0  # time bound for the whole run
    check: Callable[[Path, str, str], None] | None = None  # extra checks on (folder, stdout, stderr)
    tags: tuple[str, ...] = field(default=())


def unique(cases: list[Case]) -> list[Case]:
    ids = [c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate case ids: {sorted(dup)[:5]}"
    assert all(c.cls in CLASSES for c in cases)
    return cases


# -- writers ------------------------------------------------------------------------------------------------------

def inputs(root: Path) -> Path:
    d = root / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write(root: Path, name: str, content: bytes | str | Any) -> Path:
    """inputs/<name> with bytes, text, or a value written as JSON."""
    p = inputs(root) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        p.write_text(json.dumps(content), encoding="utf-8")
    return p


def fifo(root: Path, name: str) -> Path:
    """A named pipe with no writer: a plain open() for reading blocks on it forever."""
    p = inputs(root) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(p)
    return p


def link(root: Path, name: str, target: str) -> Path:
    p = inputs(root) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to(target)
    return p


def unix_socket(root: Path, name: str) -> Path:
    p = inputs(root) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


def deep_json(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def config_with(base: dict[str, Any], key: str, raw_value: str) -> str:
    """config.json text with `key` set to a raw JSON token (NaN, Infinity, a 5,000-digit number...)."""
    cfg = {k: v for k, v in base.items() if k != key}
    text = json.dumps(cfg)
    return text[:-1] + f', "{key}": {raw_value}}}'


DTYPE = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "U8": 1, "F8_E4M3": 1}


def safetensors_bytes(tensors: list[tuple[str, tuple[int, ...], str]]) -> bytes:
    """A valid safetensors file (header + zero data), contiguous offsets as the library writes them."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, dtype in tensors:
        n = math.prod(shape) * DTYPE[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(off)


def raw_safetensors(header: bytes | str | dict[str, Any], data: int = 0, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else header.encode() if isinstance(header, str) else \
        json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + bytes(data)


def tiny_tensors(layers: int = 2, hidden: int = 64, vocab: int = 128) -> list[tuple[str, tuple[int, ...], str]]:
    out: list[tuple[str, tuple[int, ...], str]] = [("model.embed_tokens.weight", (vocab, hidden), "BF16")]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", (hidden, hidden), "BF16"),
                (p + "self_attn.k_proj.weight", (hidden // 2, hidden), "BF16"),
                (p + "mlp.up_proj.weight", (2 * hidden, hidden), "BF16")]
    return out


TINY_CONFIG = {**LLAMA, "hidden_size": 64, "intermediate_size": 128, "vocab_size": 128, "num_attention_heads": 4,
               "num_key_value_heads": 2}


# -- GGUF ---------------------------------------------------------------------------------------------------------

_GGUF_TYPES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9,
               "u64": 10, "i64": 11, "f64": 12}
_PACK = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "f32": "<f", "bool": "<?",
         "u64": "<Q", "i64": "<q", "f64": "<d"}


def _gstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key: str, kind: str, value: Any) -> bytes:
    """One GGUF v3 key/value: scalars, strings, or ('arr', (element kind, [values]))."""
    out = _gstr(key) + struct.pack("<I", _GGUF_TYPES[kind])
    if kind == "str":
        return out + _gstr(value)
    if kind == "arr":
        ekind, values = value
        out += struct.pack("<I", _GGUF_TYPES[ekind]) + struct.pack("<Q", len(values))
        return out + b"".join(_gstr(v) if ekind == "str" else struct.pack(_PACK[ekind], v) for v in values)
    return out + struct.pack(_PACK[kind], value)


def gguf_nested(key: str, depth: int) -> bytes:
    """An array of arrays of ... `depth` levels deep (the gguf reader recurses once per level)."""
    out = _gstr(key) + struct.pack("<I", 9)
    for _ in range(depth):
        out += struct.pack("<I", 9) + struct.pack("<Q", 1)
    return out + struct.pack("<I", 4) + struct.pack("<Q", 1) + struct.pack("<I", 7)


LLAMA_GGUF_KV: list[tuple[str, str, Any]] = [
    ("general.architecture", "str", "llama"), ("general.name", "str", "tiny"),
    ("llama.block_count", "u32", 2), ("llama.embedding_length", "u32", 64), ("llama.attention.head_count", "u32", 4),
    ("llama.attention.head_count_kv", "u32", 2), ("llama.context_length", "u32", 2048),
    ("llama.feed_forward_length", "u32", 128), ("general.file_type", "u32", 0),
]


def gguf_bytes(kv: list[tuple[str, str, Any]] | None = None, extra: list[bytes] = (),  # type: ignore[assignment]
               tensors: list[tuple[str, tuple[int, ...]]] | None = None, tensor_count: int | None = None,
               kv_count: int | None = None) -> bytes:
    """A GGUF v3 file: header, key/values (plus raw `extra` ones), F32 tensor infos (dims fastest first), data."""
    kvs = [gguf_kv(k, t, v) for k, t, v in (LLAMA_GGUF_KV if kv is None else kv)] + list(extra)
    ts = tensors if tensors is not None else [("token_embd.weight", (64, 128)), ("blk.0.attn_q.weight", (64, 64)),
                                              ("blk.1.attn_q.weight", (64, 64))]
    body = b"".join(kvs)
    infos = b""
    offset = 0
    for name, dims in ts:
        infos += _gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<I", 0) + struct.pack("<Q", offset)
        n = math.prod(dims) * 4 if all(d < 1 << 20 for d in dims) else 0
        offset += n + (-n % 32)
    head = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", len(ts) if tensor_count is None else tensor_count)
    head += struct.pack("<Q", len(kvs) if kv_count is None else kv_count)
    out = head + body + infos
    out += bytes(-len(out) % 32)
    return out + bytes(offset)


def gguf_with(**changes: tuple[str, Any] | None) -> bytes:
    """The tiny llama GGUF with some keys retyped or removed (None), e.g. block_count=("bool", True)."""
    kv = []
    for key, kind, value in LLAMA_GGUF_KV:
        short = key.split(".", 1)[1].replace(".", "_")
        if short in changes:
            if changes[short] is None:
                continue
            kind, value = changes[short]  # type: ignore[misc]
        kv.append((key, kind, value))
    return gguf_bytes(kv)


# -- a pickle that would leave a mark if anything ever unpickled it -----------------------------------------------

def marker_pickle(marker: Path) -> bytes:
    """pytorch_model.bin content whose unpickling creates `marker` (it must never be unpickled)."""
    import pickle

    class Mark:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    return pickle.dumps({"model.embed_tokens.weight": Mark()})
