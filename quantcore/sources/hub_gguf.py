"""A remote GGUF file's header from a growing prefix of range reads, walked by gguf_scan (arrays skipped by length)."""
from __future__ import annotations

from typing import Any, Callable

from quantcore.errors import ModelFileError
from quantcore.model.inventory import TensorInfo
from quantcore.sources.gguf_header import scanned_parts
from quantcore.sources.gguf_scan import Truncated, scan

# A GGUF header holds the metadata (tokenizer vocabularies of 100k-250k strings are the bulk: ~2-10 MB) and one
# info record per tensor. Headers claiming more than this are refused.
MAX_GGUF_HEADER_BYTES = 128 << 20


def read_gguf_prefix(fetch: Callable[[int, int], bytes], size: int | None, where: str,
                     first: int) -> tuple[dict[str, Any], tuple[TensorInfo, ...], int]:
    """(metadata, tensors, bytes read) of a GGUF file whose bytes [start, end) `fetch(start, end)` returns.

    Reads `first` bytes, then grows the prefix (at least doubling, and at least to the byte the scan stopped at)
    until the tensor-info section is complete; never reads tensor data. The header is walked by gguf_scan, which
    skips the tokenizer arrays by their lengths."""
    limit = MAX_GGUF_HEADER_BYTES if size is None else min(size, MAX_GGUF_HEADER_BYTES)
    buf = bytearray(fetch(0, min(first, limit)))
    while True:
        try:
            meta, tensors, _ = scan(buf, where)
            return (*scanned_parts(meta, tensors, where), len(buf))
        except Truncated as more:
            want = more.end
        except (ValueError, OverflowError, MemoryError) as exc:
            raise ModelFileError(f"{where}: not a readable GGUF header ({exc.__class__.__name__}: "
                                 f"{str(exc)[:120]})") from None
        if want > limit:
            if size is not None and want > size:
                raise ModelFileError(f"{where}: truncated GGUF file (its header runs past the end of the "
                                     f"{size:,}-byte file)")
            raise ModelFileError(f"{where}: GGUF header larger than {MAX_GGUF_HEADER_BYTES >> 20} MiB; refusing")
        new_end = min(limit, max(2 * len(buf), want + 4096))
        got = fetch(len(buf), new_end)
        if not got:
            raise ModelFileError(f"{where}: truncated GGUF file (no bytes after offset {len(buf):,})")
        buf += got
