"""A .safetensors file written tensor by tensor in bounded memory, atomically (nothing at the path until done)."""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError

if TYPE_CHECKING:
    import torch

_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3",
           "float8_e5m2": "F8_E5M2", "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
           "bool": "BOOL", "uint16": "U16", "uint32": "U32", "uint64": "U64"}


class StreamingSafetensorsWriter:
    """add(name, tensor) appends the tensor's bytes to a temporary data file; close() writes header + data to a
    temporary file beside the target and renames it into place. abort() (or an exception inside `with`) removes
    every temporary file, so an interrupted run leaves nothing at the path."""

    def __init__(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".safetensors":
            raise BadInputError(f"{self.path}: this writer writes .safetensors files")
        try:
            if not self.path.parent.is_dir():
                raise BadInputError(f"{self.path.parent}: no such folder")
            fd, data_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".data", dir=self.path.parent)
        except OSError as exc:  # a read-only folder, no access, a name too long
            raise _cannot_write(self.path, exc) from None
        self._data = os.fdopen(fd, "wb")
        self._data_path = Path(data_name)
        self._entries: dict[str, Any] = {}
        self._offset = 0
        self._metadata = metadata or {}
        self.payload_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        if name in self._entries:
            raise BadInputError(f"tensor {name} written twice")
        t = tensor.detach().contiguous().cpu()
        dtype = _DTYPES.get(str(t.dtype).removeprefix("torch."))
        if dtype is None:
            raise BadInputError(f"{name}: dtype {t.dtype} cannot be stored in safetensors")
        raw = t.reshape(-1).view(torch_uint8()).numpy().tobytes() if t.numel() else b""
        try:
            self._data.write(raw)
        except OSError as exc:  # a full disk
            raise _cannot_write(self.path, exc) from None
        self._entries[name] = {"dtype": dtype, "shape": list(t.shape),
                               "data_offsets": [self._offset, self._offset + len(raw)]}
        self._offset += len(raw)
        self.payload_bytes += len(raw)

    def close(self) -> Path:
        try:
            return self._close()
        except OSError as exc:
            raise _cannot_write(self.path, exc) from None

    def _close(self) -> Path:
        self._data.close()
        header: dict[str, Any] = {}
        if self._metadata:
            header["__metadata__"] = self._metadata
        header.update(self._entries)
        blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
        blob += b" " * ((-len(blob)) % 8)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(self._data_path, "rb") as data:
                out.write(struct.pack("<Q", len(blob)))
                out.write(blob)
                shutil.copyfileobj(data, out, 16 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        finally:
            self._data_path.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        try:
            self._data.close()
        finally:
            self._data_path.unlink(missing_ok=True)

    def __enter__(self) -> StreamingSafetensorsWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()


def torch_uint8() -> Any:
    import torch

    return torch.uint8


def _cannot_write(path: Path, exc: OSError) -> BadInputError:
    return BadInputError(f"{path}: cannot write ({exc.strerror or exc.__class__.__name__})")
