"""A remote GGUF file's header from a growing prefix of range reads, parsed by the gguf package's own reader."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from quantcore.errors import ModelFileError
from quantcore.model.inventory import TensorInfo
from quantcore.sources.gguf_header import READER_ERRORS, gguf_parts

# A GGUF header holds the metadata (tokenizer vocabularies of 100k-250k strings are the bulk: ~2-10 MB) and one
# info record per tensor. Headers claiming more than this are refused.
MAX_GGUF_HEADER_BYTES = 128 << 20


class _NeedMore(Exception):
    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


def _prefix_reader_class() -> type:
    from gguf import GGUFReader

    class PrefixReader(GGUFReader):  # type: ignore[misc, valid-type]
        """GGUFReader over the first bytes of a file: asks for more while parsing the header, and leaves the tensor
        data (which it never reads; it only makes views) as zero-stride placeholders past the prefix."""

        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            count = int(count)
            end = offset + np.dtype(dtype).itemsize * count
            if end <= len(self.data):
                return super()._get(offset, dtype, count, override_order)
            start = getattr(self, "data_offset", None)
            if start is None or offset < start:
                raise _NeedMore(end)
            return np.lib.stride_tricks.as_strided(np.zeros(1, dtype=dtype), shape=(count,), strides=(0,))

    return PrefixReader


def read_gguf_prefix(fetch: Callable[[int, int], bytes], size: int | None, where: str,
                     first: int) -> tuple[dict[str, Any], tuple[TensorInfo, ...], int]:
    """(metadata, tensors, bytes read) of a GGUF file whose bytes [start, end) `fetch(start, end)` returns.

    Reads `first` bytes, then grows the prefix (at least doubling, and at least to the byte the parser stopped at)
    until the tensor-info section is complete; never reads tensor data.
    """
    reader_cls = _prefix_reader_class()
    limit = MAX_GGUF_HEADER_BYTES if size is None else min(size, MAX_GGUF_HEADER_BYTES)
    buf = bytearray(fetch(0, min(first, limit)))
    with tempfile.TemporaryDirectory(prefix="quantplanner-gguf-", ignore_cleanup_errors=True) as tmp:
        attempt = 0
        while True:
            attempt += 1
            path = Path(tmp) / f"prefix-{attempt}.gguf"  # a fresh name: an earlier attempt may still map its file
            path.write_bytes(buf)
            try:
                reader = reader_cls(str(path), "r")
                meta, tensors = gguf_parts(reader)
                del reader
                return meta, tensors, len(buf)
            except _NeedMore as more:
                want = more.end
            except READER_ERRORS as exc:
                raise ModelFileError(f"{where}: not a readable GGUF header "
                                     f"({exc.__class__.__name__}: {str(exc)[:120]})") from None
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
