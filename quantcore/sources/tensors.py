"""Tensors of a local .safetensors file / folder or .gguf, read lazily one at a time through mmap (bounded memory).

Headers are read by the same checked readers as the planner's (safetensors_header: dtypes, shapes inside the bounds
table, offsets that tile the file; gguf_scan: counts, truncation, a header cap), through safe_io (regular files
only: a FIFO or device named model.safetensors is refused, never blocks); a file is checked to be a regular file
again before its data is mapped."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, ModelFileError
from quantcore.sources.safe_io import open_regular, probe

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TensorRef:
    """One stored tensor: where it is and what it is; `load()` reads it (float32 for GGUF quantized types)."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype (F32, BF16, F8_E4M3, ...) or the GGUF type name (F16, Q4_1, ...)
    file: Path
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def load(self) -> torch.Tensor:
        if self.file.suffix.lower() == ".gguf":
            return _gguf_tensor(self)
        with _safetensors(self.file) as f:
            return _read(self, lambda: f.get_tensor(self.name))

    def load_rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows start:stop of the first dimension (a chunk; GGUF reads its whole tensor)."""
        if self.file.suffix.lower() == ".gguf" or len(self.shape) == 0:
            t = self.load()
            return t[start:stop] if t.dim() else t
        with _safetensors(self.file) as f:
            return _read(self, lambda: f.get_slice(self.name)[start:stop])


@contextlib.contextmanager
def _safetensors(file: Path) -> Iterator[Any]:
    """safetensors' own memory-mapped reader, once the path is checked to still be a regular file (safe_open opens
    by name: a FIFO swapped in would block it)."""
    from safetensors import safe_open

    _regular(file)
    try:
        handle = safe_open(str(file), framework="pt")
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError: the file changed or is damaged
        raise ModelFileError(f"{file}: cannot read the safetensors file ({exc.__class__.__name__}: "
                             f"{str(exc)[:120]})") from None
    with handle as f:
        yield f


def _read(ref: TensorRef, get: Any) -> Any:
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, a dtype torch cannot hold: one line
        raise ModelFileError(f"{ref.file}: cannot read tensor '{ref.name}' ({exc.__class__.__name__}: "
                             f"{str(exc)[:120]})") from None


def _regular(file: Path) -> None:
    kind = probe(file)
    if kind != "file":
        raise ModelFileError(f"{file}: " + ("no such file" if kind is None else "not a regular file any more"))


def weight_files(path: Path) -> list[Path]:
    """The weight files of a model path: a .safetensors / .gguf file, or a folder's .safetensors shards (or its one
    .gguf)."""
    path = Path(path)
    kind = probe(path)
    if kind is None:
        raise ModelFileError(f"{path}: no such file or folder")
    if kind != "dir":  # a regular file, or a FIFO / device (refused when opened, never read)
        if path.suffix.lower() not in (".safetensors", ".gguf"):
            raise ModelFileError(f"{path}: expected a .safetensors or .gguf file (or a folder of them)")
        return [path]
    shards = sorted(_listed(path, "*.safetensors"))
    if shards:
        return shards
    ggufs = sorted(_listed(path, "*.gguf"))
    if len(ggufs) == 1:
        return ggufs
    if len(ggufs) > 1:
        raise ModelFileError(f"{path}: holds {len(ggufs)} .gguf files; give one of them")
    raise ModelFileError(f"{path}: no .safetensors or .gguf weights in this folder")


def list_tensors(path: Path) -> list[TensorRef]:
    """Every tensor of the model, in file order, without reading any data."""
    refs: list[TensorRef] = []
    for f in weight_files(path):
        refs.extend(_gguf_refs(f) if f.suffix.lower() == ".gguf" else _safetensors_refs(f))
    return refs


def select(refs: list[TensorRef], patterns: list[str] | tuple[str, ...] | None) -> list[TensorRef]:
    """Tensors matching any pattern (exact name, else * ? globs, else substring); all when no pattern."""
    if not patterns:
        return refs
    out: list[TensorRef] = []
    for pat in patterns:
        if any(c in pat for c in "*?["):
            got = [r for r in refs if fnmatchcase(r.name, pat)]
        else:
            got = [r for r in refs if r.name == pat] or [r for r in refs if pat in r.name]
        if not got:
            example = ", ".join(r.name for r in refs[:3])
            raise BadInputError(f"no tensor matches '{pat}' ({len(refs)} tensors, e.g. {example})")
        out.extend(r for r in got if r not in out)
    return out


def iter_tensors(path: Path, patterns: list[str] | None = None) -> Iterator[tuple[TensorRef, torch.Tensor]]:
    """(ref, tensor) one at a time: only the tensor being yielded is held (safetensors pages come through mmap)."""
    for ref in select(list_tensors(path), patterns):
        yield ref, ref.load()


def _listed(folder: Path, pattern: str) -> list[Path]:
    try:
        return list(folder.glob(pattern))
    except OSError as exc:
        raise ModelFileError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None


def _safetensors_refs(f: Path) -> list[TensorRef]:
    """The checked header of one file (safetensors_header.read_file: the planner's own reader)."""
    from quantcore.sources.safetensors_header import read_file

    return [TensorRef(t.name, t.shape, t.dtype, f, t.nbytes or 0) for t in read_file(f)]


@lru_cache(maxsize=2)
def _gguf_reader(f: Path, mtime: float) -> Any:
    """gguf.GGUFReader over the opened regular file (memory-mapped: tensors are read when touched); the header was
    checked by gguf_scan first (counts, truncation, size), so the reader never walks an absurd one."""
    import gguf

    from quantcore.sources.gguf_header import READER_ERRORS

    with open_regular(f, "GGUF file") as fh:
        try:
            return gguf.GGUFReader(fh, "r")  # type: ignore[arg-type]  # np.memmap maps the open file
        except READER_ERRORS as exc:
            raise ModelFileError(f"{f}: cannot read the GGUF file ({exc.__class__.__name__}: {str(exc)[:120]})") \
                from None


def _mtime(f: Path) -> float:
    try:
        return os.stat(f).st_mtime
    except OSError as exc:
        raise ModelFileError(f"{f}: cannot read ({exc.strerror or exc})") from None


def _gguf_refs(f: Path) -> list[TensorRef]:
    """Tensors of a GGUF file from gguf_scan (fast, bounded, checked against the bounds table)."""
    from quantcore.model.bounds import check_tensors
    from quantcore.sources.gguf_header import scanned_parts
    from quantcore.sources.gguf_scan import read_header

    meta, tensors, _ = read_header(f)
    _, infos = scanned_parts(meta, tensors, str(f))
    check_tensors(infos, str(f))
    return [TensorRef(t.name, t.shape, t.dtype, f, t.nbytes or 0) for t in infos]


def _gguf_tensor(ref: TensorRef) -> torch.Tensor:
    """A GGUF tensor dequantized to float32 by the gguf package (numpy), in the row-major shape."""
    import gguf
    import numpy as np
    import torch

    reader = _gguf_reader(ref.file, _mtime(ref.file))
    t = next((t for t in reader.tensors if t.name == ref.name), None)
    if t is None:
        raise ModelFileError(f"{ref.file}: tensor '{ref.name}' is gone (the file changed while it was read)")
    try:
        values = np.ascontiguousarray(gguf.quants.dequantize(np.asarray(t.data), t.tensor_type), dtype=np.float32)
        if not values.flags.writeable:  # an F32 tensor is a view of the read-only map: torch warns on those
            values = values.copy()
        return torch.from_numpy(values).reshape(ref.shape)
    except (ValueError, TypeError, NotImplementedError, RuntimeError, MemoryError) as exc:
        raise ModelFileError(f"{ref.file}: cannot read tensor '{ref.name}' ({exc.__class__.__name__}: "
                             f"{str(exc)[:120]})") from None
