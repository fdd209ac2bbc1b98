"""Tensors of a local .safetensors file / folder or .gguf, read lazily one at a time through mmap (bounded memory)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, ModelFileError

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
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return f.get_tensor(self.name)

    def load_rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows start:stop of the first dimension (a chunk; GGUF reads its whole tensor)."""
        if self.file.suffix.lower() == ".gguf" or len(self.shape) == 0:
            t = self.load()
            return t[start:stop] if t.dim() else t
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return f.get_slice(self.name)[start:stop]


def weight_files(path: Path) -> list[Path]:
    """The weight files of a model path: a .safetensors / .gguf file, or a folder's .safetensors shards (or its one
    .gguf)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in (".safetensors", ".gguf"):
            raise ModelFileError(f"{path}: expected a .safetensors or .gguf file (or a folder of them)")
        return [path]
    shards = sorted(path.glob("*.safetensors"))
    if shards:
        return shards
    ggufs = sorted(path.glob("*.gguf"))
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


def _safetensors_refs(f: Path) -> list[TensorRef]:
    import json
    import struct

    try:
        with open(f, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ModelFileError(f"{f}: too short to be a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                raise ModelFileError(f"{f}: header of {n:,} bytes is not a safetensors header")
            header: dict[str, Any] = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{f}: cannot read the safetensors header ({exc})") from None
    refs = []
    for name, e in header.items():
        if name == "__metadata__" or not isinstance(e, dict):
            continue
        begin, end = e["data_offsets"]
        refs.append(TensorRef(name, tuple(int(d) for d in e["shape"]), str(e["dtype"]), f, int(end) - int(begin)))
    return refs


@lru_cache(maxsize=2)
def _gguf_reader(f: Path, mtime: float) -> Any:
    import gguf

    try:
        return gguf.GGUFReader(str(f), "r")  # memory-mapped: tensors are read when touched
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{f}: cannot read the GGUF file ({exc})") from None


def _gguf_refs(f: Path) -> list[TensorRef]:
    reader = _gguf_reader(f, f.stat().st_mtime)
    return [TensorRef(t.name, tuple(int(d) for d in reversed(t.shape.tolist())), t.tensor_type.name, f,
                      int(t.n_bytes)) for t in reader.tensors]


def _gguf_tensor(ref: TensorRef) -> torch.Tensor:
    """A GGUF tensor dequantized to float32 by the gguf package (numpy), in the row-major shape."""
    import gguf
    import numpy as np
    import torch

    reader = _gguf_reader(ref.file, ref.file.stat().st_mtime)
    t = next(t for t in reader.tensors if t.name == ref.name)
    values = np.ascontiguousarray(gguf.quants.dequantize(np.asarray(t.data), t.tensor_type), dtype=np.float32)
    if not values.flags.writeable:  # an F32 tensor comes back as a view of the read-only memory map
        values = values.copy()
    return torch.from_numpy(values).reshape(ref.shape)
