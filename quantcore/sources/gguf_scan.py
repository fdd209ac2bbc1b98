"""A GGUF header read by walking its bytes: array payloads are skipped by their length, never parsed element by element.

GGUF v2/v3 layout (ggml docs/gguf.md): "GGUF", version u32, tensor_count u64, kv_count u64; kv_count times
(key string, value type u32, value); tensor_count times (name string, n_dims u32, dims u64 x n_dims, type u32,
offset u64). A string is a u64 byte length and the bytes; an array is an element type u32, a count u64 and the
elements. Scalars are little-endian. (Version 1, with u32 lengths, was dropped by llama.cpp in 2023; so here.)

The tokenizer arrays (tokens, scores, token types, merges: ~400k elements for a 128k vocabulary) are the bulk of a
header. Numeric arrays are skipped in one step (count x element size); string arrays hop from length to length
through eight aligned u64 views of the buffer, so no Python object is made per element. Arrays under
"tokenizer.ggml." are recorded by their element count only; other arrays (per-layer head counts) are read, unless
longer than MAX_READ_ARRAY (then None: a count there would pass for a value).
"""
from __future__ import annotations

import os
import struct
from functools import lru_cache
from typing import Any

from quantcore.errors import ModelFileError
from quantcore.sources.safe_io import open_regular

MAGIC = b"GGUF"
MAX_KV = 1 << 20
MAX_TENSORS = 1 << 22
MAX_DIMS = 8
MAX_NESTING = 256  # arrays of arrays (skipped, never read) nested deeper than this are refused
MAX_READ_ARRAY = 1 << 16  # arrays outside the tokenizer longer than this are counted, not read
SKIPPED_PREFIX = "tokenizer.ggml."

# value type -> (struct format, bytes); 8 = string, 9 = array
_SCALARS: dict[int, tuple[str, int]] = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4),
                                        5: ("<i", 4), 6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8),
                                        12: ("<d", 8)}
_STRING, _ARRAY = 8, 9
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


class Truncated(Exception):
    """The buffer ends before the header does; `end` is the first byte offset needed."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


@lru_cache(maxsize=1)
def ggml_types() -> dict[int, tuple[str, int, int]]:
    """ggml type id -> (name, weights per block, bytes per block), from the gguf package's constants."""
    import gguf

    return {int(t): (t.name, *gguf.GGML_QUANT_SIZES[t]) for t in gguf.GGMLQuantizationType
            if t in gguf.GGML_QUANT_SIZES}


class _Cursor:
    """Reads little-endian values from a buffer, raising Truncated past its end."""

    def __init__(self, buf: Any) -> None:
        self.mv = memoryview(buf)
        self.size = len(self.mv)
        self.pos = 0
        self._u64_views: list[Any] | None = None

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise Truncated(self.pos + max(n, 0))

    def u32(self) -> int:
        self.need(4)
        v = _U32.unpack_from(self.mv, self.pos)[0]
        self.pos += 4
        return v

    def count(self) -> int:
        """A length or count (u64)."""
        self.need(8)
        v = _U64.unpack_from(self.mv, self.pos)[0]
        self.pos += 8
        return v

    def string(self) -> str:
        n = self.count()
        self.need(n)
        raw = bytes(self.mv[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace")

    def scalar(self, vtype: int) -> Any:
        fmt, n = _SCALARS[vtype]
        self.need(n)
        v = struct.unpack_from(fmt, self.mv, self.pos)[0]
        self.pos += n
        return v

    def skip_strings(self, count: int) -> None:
        """Step over `count` strings by their lengths alone: one u64 read and one addition per string."""
        views = self._views()  # views[pos & 7][pos >> 3] is the u64 at pos; IndexError past the buffer's end
        pos = self.pos
        try:
            for _ in range(count >> 2):
                pos += 8 + views[pos & 7][pos >> 3]
                pos += 8 + views[pos & 7][pos >> 3]
                pos += 8 + views[pos & 7][pos >> 3]
                pos += 8 + views[pos & 7][pos >> 3]
            for _ in range(count & 3):
                pos += 8 + views[pos & 7][pos >> 3]
        except IndexError:
            raise Truncated(max(pos + 8, self.size + 1)) from None
        self.pos = pos
        if pos > self.size:
            raise Truncated(pos)

    def release(self) -> None:
        """Let go of every view of the buffer (a memory map cannot close while a view of it is alive)."""
        for v in self._u64_views or ():
            v.release()
        self._u64_views = None
        self.mv.release()

    def _views(self) -> list[Any]:
        """Eight u64 views of the buffer, view r starting at byte r: the u64 at offset p is views[p & 7][p >> 3]."""
        if self._u64_views is None:
            views = []
            for r in range(8):
                n = (self.size - r) // 8
                views.append(self.mv[r:r + 8 * n].cast("Q") if n > 0 else memoryview(b"").cast("Q"))
            self._u64_views = views
        return self._u64_views


def _value(c: _Cursor, vtype: int, key: str) -> Any:
    if vtype in _SCALARS:
        return c.scalar(vtype)
    if vtype == _STRING:
        return c.string()
    if vtype != _ARRAY:
        raise ValueError(f"metadata '{key}' has unknown value type {vtype}")
    etype = c.u32()
    n = c.count()
    if etype == _ARRAY:
        _skip_arrays(c, n, key)
        return None  # arrays of arrays: nothing the planner reads (skipped without recursion)
    tokenizer = key.startswith(SKIPPED_PREFIX)
    read = not tokenizer and n <= MAX_READ_ARRAY
    if etype == _STRING:
        if read:
            return [c.string() for _ in range(n)]
        c.skip_strings(n)
        return n if tokenizer else None  # a long array elsewhere is nothing the planner reads (never a count)
    if etype not in _SCALARS:
        raise ValueError(f"metadata '{key}' is an array of unknown type {etype}")
    fmt, size = _SCALARS[etype]
    c.need(n * size)
    if read:
        values = list(struct.unpack_from(f"<{n}{fmt[1]}", c.mv, c.pos))
        c.pos += n * size
        return values
    c.pos += n * size
    return n if tokenizer else None


def _skip_arrays(c: _Cursor, n: int, key: str) -> None:
    """Step over n arrays (each: element type u32, count u64, elements), nested to any depth, with a stack instead
    of recursion; every array takes at least 12 bytes, so a hostile count ends at the buffer's end (Truncated)."""
    stack = [n]
    while stack:
        if stack[-1] == 0:
            stack.pop()
            continue
        stack[-1] -= 1
        etype, count = c.u32(), c.count()
        if etype == _ARRAY:
            if len(stack) >= MAX_NESTING:
                raise ValueError(f"metadata '{key}' nests arrays more than {MAX_NESTING} levels deep")
            stack.append(count)
        elif etype == _STRING:
            c.skip_strings(count)
        elif etype in _SCALARS:
            size = _SCALARS[etype][1]
            c.need(count * size)
            c.pos += count * size
        else:
            raise ValueError(f"metadata '{key}' holds an array of unknown type {etype}")


def scan(buf: Any, where: str = "GGUF file") -> tuple[dict[str, Any], list[tuple[str, tuple[int, ...], int, int]], int]:
    """(metadata, tensors as (name, dims fastest-first, ggml type id, byte offset), data start) of a GGUF header.

    Skipped tokenizer arrays appear in the metadata as their element count. Raises Truncated when `buf` ends inside the
    header and ValueError when the bytes are not a GGUF header."""
    c = _Cursor(buf)
    try:
        return _scan(c)
    finally:
        c.release()


def _scan(c: _Cursor) -> tuple[dict[str, Any], list[tuple[str, tuple[int, ...], int, int]], int]:
    c.need(4)
    if bytes(c.mv[:4]) != MAGIC:
        raise ValueError(f"it starts with {bytes(c.mv[:4])!r}, not the GGUF magic b'GGUF'")
    c.pos = 4
    version = c.u32()
    if version not in (2, 3):
        raise ValueError(f"GGUF version {version} is not supported (2 or 3; re-convert the model with a current "
                         "llama.cpp)")
    n_tensors, n_kv = c.count(), c.count()
    if n_kv > MAX_KV or n_tensors > MAX_TENSORS:
        raise ValueError(f"implausible header: {n_kv:,} metadata keys, {n_tensors:,} tensors")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = c.string()
        meta[key] = _value(c, c.u32(), key)
    tensors = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = c.u32()
        if n_dims > MAX_DIMS:
            raise ValueError(f"tensor '{name}' claims {n_dims} dimensions")
        dims = tuple(c.count() for _ in range(n_dims))
        tensors.append((name, dims, c.u32(), c.count()))
    meta.update({"GGUF.version": version, "GGUF.tensor_count": n_tensors, "GGUF.kv_count": n_kv})
    align = meta.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0:
        raise ValueError(f"general.alignment {align!r} must be a positive integer")
    return meta, tensors, -(-c.pos // align) * align


def tensor_bytes(dims: tuple[int, ...], type_id: int, name: str = "") -> int:
    """Bytes of a tensor: rows of dims[0] weights in whole blocks of its ggml type."""
    types = ggml_types()
    if type_id not in types:
        raise ValueError(f"tensor '{name}' has ggml type {type_id}, unknown to the installed gguf package")
    _, block, size = types[type_id]
    elements = 1
    for d in dims:
        elements *= d
    if dims and dims[0] % block:
        raise ValueError(f"tensor '{name}' rows of {dims[0]} are not whole {block}-weight blocks")
    return elements // block * size


MAX_HEADER_BYTES = 256 << 20


def read_header(path: Any) -> tuple[dict[str, Any], list[tuple[str, tuple[int, ...], int, int]], int]:
    """Scan a local file's header through a read-only memory map: only the pages the header spans are read, nothing
    is copied. The file is opened by safe_io.open_regular (FIFOs, devices and folders refused without blocking).
    Errors are ModelFileError with the path."""
    import mmap

    with open_regular(path, "GGUF file") as fh:  # a regular file only: a FIFO named x.gguf never blocks
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise ModelFileError(f"{path}: empty file, not a GGUF model")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                outcome = _scan_mapped(mm, str(path), size)
        except (OSError, ValueError) as exc:  # a file that cannot be mapped (some special file systems)
            raise ModelFileError(f"{path}: cannot read GGUF file ({getattr(exc, 'strerror', None) or exc})") \
                from None
    if isinstance(outcome, str):
        raise ModelFileError(outcome)
    return outcome


def _scan_mapped(mm: Any, where: str, size: int) -> Any:
    """scan() over a memory map; failures come back as a message, so no traceback keeps a view of the map alive
    when it is closed."""
    try:
        return scan(mm, where)
    except Truncated as more:
        if more.end > MAX_HEADER_BYTES:
            return f"{where}: GGUF header larger than {MAX_HEADER_BYTES >> 20} MiB; refusing"
        return f"{where}: truncated GGUF file (its header runs past the end of the {size:,}-byte file)"
    except (ValueError, OverflowError, MemoryError) as exc:
        return f"{where}: not a readable GGUF file ({exc})"
