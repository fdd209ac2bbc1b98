"""Exact tensor inventories from safetensors headers: reads the header only, never the weights."""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

from quantcore.errors import ModelFileError
from quantcore.model.bounds import BYTES, DIMENSION, ELEMENTS, TENSORS, check, show
from quantcore.model.inventory import DTYPE_BYTES, TensorInfo
from quantcore.model.naming import classify, layer_of
from quantcore.sources.safe_io import open_regular, parse_json

# bits per element of every safetensors dtype (sub-byte floats packed, rounded up to whole bytes per tensor)
DTYPE_BITS: dict[str, int] = {d: int(b * 8) for d, b in DTYPE_BYTES.items()}

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
    """TensorInfos from a header's JSON bytes, checked as the safetensors library checks a file: known dtypes,
    whole-number shapes inside the bounds table, byte counts that match, and data offsets that tile the data
    region exactly (no overlap, no gap; with data_size, the file size minus the header, no trailing bytes)."""
    header = parse_json(raw, where, "safetensors header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: safetensors header is not a JSON object")
    tensors: list[TensorInfo] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        t, start = _tensor(name, entry, where, data_size)
        tensors.append(t)
        spans.append((start, start + (t.nbytes or 0), name))
    if not tensors:
        raise ModelFileError(f"{where}: safetensors file holds no tensors")
    check(len(tensors), TENSORS, "number of tensors", where)
    _check_tiling(spans, where, data_size)
    return tensors


def _check_tiling(spans: list[tuple[int, int, str]], where: str, data_size: int | None) -> None:
    """Offsets must cover [0, end) exactly once, as the safetensors library requires."""
    end = 0
    for start, stop, name in sorted(spans):
        if start != end:
            what = "overlaps the tensor before it" if start < end else f"leaves a gap of {start - end:,} bytes"
            raise ModelFileError(f"{where}: tensor '{name}' {what} (data offset {start:,}, expected {end:,}); "
                                 "not a valid safetensors file")
        end = stop
    if data_size is not None and end != data_size:
        raise ModelFileError(f"{where}: {data_size - end:,} bytes after the last tensor; not a valid safetensors "
                             "file (or a damaged download)")


def _tensor(name: str, entry: Any, where: str, data_size: int | None) -> tuple[TensorInfo, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str) \
            or not isinstance(entry.get("shape"), list) or not isinstance(entry.get("data_offsets"), list) \
            or len(entry["data_offsets"]) != 2:
        raise ModelFileError(f"{where}: tensor '{name}' has a malformed header entry")
    dtype = entry["dtype"]
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        raise ModelFileError(f"{where}: tensor '{name}' has unknown dtype {show(dtype)} (safetensors dtypes: "
                             f"{', '.join(DTYPE_BITS)})")
    shape = tuple(check(d, DIMENSION, "shape", f"{where}: tensor '{name}'") for d in entry["shape"])
    start, end = (check(x, BYTES, "data_offsets", f"{where}: tensor '{name}'") for x in entry["data_offsets"])
    if end < start:
        raise ModelFileError(f"{where}: tensor '{name}' has reversed data offsets")
    if data_size is not None and end > data_size:
        raise ModelFileError(f"{where}: tensor '{name}' extends past the end of the file (truncated download?)")
    numel = 1
    for d in shape:
        numel = check(numel * d, ELEMENTS, "elements", f"{where}: tensor '{name}'")
    expected = (numel * bits + 7) // 8
    if end - start != expected:
        raise ModelFileError(f"{where}: tensor '{name}' ({dtype} {list(shape)}) has {end - start:,} bytes, "
                             f"expected {expected:,}")
    role, kind = classify(name)
    return TensorInfo(name=name, shape=shape, dtype=dtype, role=role, kind=kind,
                      layer=layer_of(name), nbytes=end - start), start


def read_header(fh: BinaryIO, where: str, file_size: int | None = None) -> list[TensorInfo]:
    """Read and parse the header of an open safetensors stream (positioned at 0)."""
    n = header_length(fh.read(8), where, file_size)
    raw = fh.read(n)
    if len(raw) != n:
        raise ModelFileError(f"{where}: truncated safetensors header ({len(raw)} of {n} bytes)")
    return parse_header(raw, where, None if file_size is None else file_size - 8 - n)


def read_file(path: Path) -> list[TensorInfo]:
    """TensorInfos of one local .safetensors file (a regular file; the size from the opened file itself)."""
    with open_regular(path, "safetensors file") as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            return read_header(fh, str(path), size)
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
