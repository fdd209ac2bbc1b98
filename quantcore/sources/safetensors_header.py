"""Exact tensor inventories from safetensors headers: reads the header only, never the weights."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, BinaryIO

from quantcore.errors import ModelFileError
from quantcore.model.inventory import DTYPE_BYTES, TensorInfo
from quantcore.model.naming import classify, layer_of

# A header is JSON describing tensors; 100 MB covers models with millions of tensors. A file claiming more
# is refused before anything is allocated.
MAX_HEADER_BYTES = 100_000_000


def header_length(prefix: bytes, where: str, file_size: int | None = None) -> int:
    """The JSON header length announced by the first 8 bytes, checked for sanity."""
    if len(prefix) < 8:
        raise ModelFileError(f"{where}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n < 2 or n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{where}: safetensors header claims {n:,} bytes; refusing (corrupt or not safetensors)")
    if file_size is not None and 8 + n > file_size:
        raise ModelFileError(f"{where}: truncated safetensors file (header of {n:,} bytes, file of {file_size:,})")
    return n


def parse_header(raw: bytes, where: str, data_size: int | None = None) -> list[TensorInfo]:
    """TensorInfos from a header's JSON bytes; data_size (file size minus header) checks the offsets."""
    try:
        header: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{where}: safetensors header is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: safetensors header is not a JSON object")
    tensors: list[TensorInfo] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors.append(_tensor(name, entry, where, data_size))
    if not tensors:
        raise ModelFileError(f"{where}: safetensors file holds no tensors")
    return tensors


def _tensor(name: str, entry: Any, where: str, data_size: int | None) -> TensorInfo:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(d) for d in entry["shape"])
        start, end = (int(x) for x in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{where}: tensor '{name}' has a malformed header entry") from None
    if any(d < 0 for d in shape) or start < 0 or end < start:
        raise ModelFileError(f"{where}: tensor '{name}' has negative shape or offsets")
    if data_size is not None and end > data_size:
        raise ModelFileError(f"{where}: tensor '{name}' extends past the end of the file (truncated download?)")
    numel = 1
    for d in shape:
        numel *= d
    per = DTYPE_BYTES.get(dtype)
    if per is not None and per >= 1 and end - start != int(numel * per):
        raise ModelFileError(f"{where}: tensor '{name}' ({dtype} {list(shape)}) has {end - start} bytes, "
                             f"expected {int(numel * per)}")
    role, kind = classify(name)
    return TensorInfo(name=name, shape=shape, dtype=dtype, role=role, kind=kind,
                      layer=layer_of(name), nbytes=end - start)


def read_header(fh: BinaryIO, where: str, file_size: int | None = None) -> list[TensorInfo]:
    """Read and parse the header of an open safetensors stream (positioned at 0)."""
    n = header_length(fh.read(8), where, file_size)
    raw = fh.read(n)
    if len(raw) != n:
        raise ModelFileError(f"{where}: truncated safetensors header ({len(raw)} of {n} bytes)")
    return parse_header(raw, where, None if file_size is None else file_size - 8 - n)


def read_file(path: Path) -> list[TensorInfo]:
    """TensorInfos of one local .safetensors file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            return read_header(fh, str(path), size)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
