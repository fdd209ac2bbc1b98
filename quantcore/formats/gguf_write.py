"""Write GGUF files with gguf.GGUFWriter, one tensor at a time and atomically; re-quantize GGUFs like llama-quantize."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantcore.errors import BadInputError, ModelFileError, QuantPlannerError
from quantcore.formats import gguf_mix
from quantcore.formats.ggml_quants import BLOCKS, dequantize_rows, quantize_rows, row_bytes
from quantcore.model.inventory import Inventory

Progress = Callable[[str, float], None]

GGML_QNT_VERSION = 2  # general.quantization_version that llama-quantize writes
# catalog id -> llama.cpp's LLAMA_FTYPE_MOSTLY_* (general.file_type)
FILE_TYPES = {"q8_0": 7, "q6_k": 18, "q5_k_m": 17, "q4_k_m": 15, "q4_0": 2, "q3_k_m": 12, "q2_k": 10}


class CancelledError(QuantPlannerError):
    """The caller set the cancel event; no file was written."""


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of the file: its GGUF name, logical shape (PyTorch order, rows along the last axis), ggml type."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str

    @property
    def nbytes(self) -> int:
        cols = self.shape[-1] if self.shape else 1
        rows = int(np.prod(self.shape[:-1], dtype=np.int64)) if len(self.shape) > 1 else 1
        return rows * row_bytes(self.ggml_type, cols)


@dataclass(frozen=True)
class KeyValue:
    """One metadata entry: key, value (str / bytes / number / bool / list), its GGUF value type (+ array item type)."""

    key: str
    value: Any
    vtype: Any  # gguf.GGUFValueType
    sub_type: Any = None


def _byte_shape(spec: TensorSpec) -> tuple[int, ...]:
    cols = spec.shape[-1] if spec.shape else 1
    return (*spec.shape[:-1], row_bytes(spec.ggml_type, cols)) if spec.shape else (row_bytes(spec.ggml_type, 1),)


def write_gguf(path: Path | str, arch: str, metadata: Iterable[KeyValue], specs: Sequence[TensorSpec],
               blocks: Iterable[np.ndarray], progress: Progress | None = None,
               cancel: threading.Event | None = None) -> Path:
    """Write a GGUF file: metadata, then each spec's raw blocks as `blocks` yields them (one tensor in memory at once).

    The file appears only when complete (written to a temporary name beside it, then renamed); an error or a
    cancel leaves nothing behind.
    """
    path = Path(path)
    try:
        return _write_gguf(path, arch, metadata, specs, blocks, progress, cancel)
    except OSError as exc:  # a read-only folder, no access, a full disk, a name too long: one line
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc.__class__.__name__})") from None


def _write_gguf(path: Path, arch: str, metadata: Iterable[KeyValue], specs: Sequence[TensorSpec],
                blocks: Iterable[np.ndarray], progress: Progress | None, cancel: threading.Event | None) -> Path:
    import gguf

    if not path.parent.is_dir():
        raise ModelFileError(f"{path.parent}: no such folder to write {path.name} into")
    tmp = path.with_name(f".{path.name[:200]}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        for kv in metadata:
            if kv.key != "general.architecture":
                writer.add_key_value(kv.key, kv.value, kv.vtype, kv.sub_type)
        for spec in specs:
            writer.add_tensor_info(spec.name, _byte_shape(spec), np.dtype(np.uint8), spec.nbytes,
                                   raw_dtype=gguf.GGMLQuantizationType[spec.ggml_type])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total = sum(s.nbytes for s in specs) or 1
        done = 0
        it: Iterator[np.ndarray] = iter(blocks)
        for spec in specs:
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"cancelled; {path.name} was not written")
            data = np.ascontiguousarray(next(it)).view(np.uint8)
            if data.nbytes != spec.nbytes:
                raise BadInputError(f"{spec.name}: {data.nbytes} bytes for a {spec.ggml_type} tensor of shape "
                                    f"{spec.shape} ({spec.nbytes} expected)")
            writer.write_tensor_data(data.reshape(-1))
            done += spec.nbytes
            if progress is not None:
                progress(spec.name, done / total)
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


# -- re-quantizing a GGUF ----------------------------------------------------------------------------------------

def copied_metadata(reader: Any) -> list[KeyValue]:
    """Every key/value of an opened gguf.GGUFReader, strings kept as their raw bytes (GGUF.* header fields left out)."""
    import gguf

    out = []
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if len(field.types) > 2 or not field.data or field.data == [-1]:
                continue  # nested or empty arrays: GGUFWriter cannot write them
            if sub == gguf.GGUFValueType.STRING:
                value: Any = [bytes(field.parts[i]) for i in field.data]
            else:
                value = [v for i in field.data for v in field.parts[i].tolist()]
            out.append(KeyValue(name, value, vtype, sub))
        elif vtype == gguf.GGUFValueType.STRING:
            out.append(KeyValue(name, bytes(field.parts[-1]), vtype))
        else:
            out.append(KeyValue(name, field.parts[-1].tolist()[0], vtype))
    return out


def with_file_type(metadata: list[KeyValue], precision: str) -> list[KeyValue]:
    """metadata with general.file_type and general.quantization_version set as llama-quantize sets them."""
    import gguf

    u32 = gguf.GGUFValueType.UINT32
    keep = [kv for kv in metadata if kv.key not in ("general.file_type", "general.quantization_version")]
    return keep + [KeyValue("general.quantization_version", GGML_QNT_VERSION, u32),
                   KeyValue("general.file_type", FILE_TYPES[precision], u32)]


def source_floats(tensor: Any) -> np.ndarray:
    """A gguf.ReaderTensor as float32 rows (n, row length): F32 as is, anything else dequantized."""
    import gguf

    ty = tensor.tensor_type.name
    cols = int(tensor.shape[0])  # GGUF lists the row length first
    data = np.asarray(tensor.data)
    if ty in ("F32", "F16"):
        return data.reshape(-1, cols).astype(np.float32)
    if ty in BLOCKS:
        return dequantize_rows(ty, data, (data.size // row_bytes(ty, cols), cols))
    return np.asarray(gguf.quants.dequantize(data, tensor.tensor_type), dtype=np.float32).reshape(-1, cols)


def requantize_plan(reader: Any, inventory: Inventory, precision: str) -> list[TensorSpec]:
    """The type of every tensor of a GGUF re-quantized to a catalog id, as llama-quantize chooses it.

    Tensors it does not quantize keep their stored type; quantized ones take gguf_mix's type for the whole model
    (counters over the file, tied embeddings, GQA, experts), see gguf_mix.tensor_types.
    """
    pid = precision.strip().lower()
    if pid not in FILE_TYPES:
        raise BadInputError(f"'{precision}' is not a GGUF precision; use one of {', '.join(FILE_TYPES)}")
    names = [t.name for t in reader.tensors]
    if [t.name for t in inventory.tensors] != names:
        raise BadInputError("the inventory does not list this GGUF file's tensors in file order")
    slots = gguf_mix.prepare(inventory.tensors)
    specs = []
    for t, (slot, ty, _) in zip(reader.tensors, gguf_mix.slot_types(slots, pid, gguf_mix.context_for(inventory))):
        shape = tuple(int(d) for d in reversed(list(t.shape)))
        source = t.tensor_type.name
        specs.append(TensorSpec(t.name, shape, ty if slot.quantized else source))
    unknown = sorted({s.ggml_type for s in specs} - set(BLOCKS))
    if unknown:
        raise BadInputError(f"cannot write ggml type(s) {', '.join(unknown)}; "
                            f"this writer knows {' '.join(BLOCKS)}")
    return specs


def requantize_gguf(src: Path | str, dst: Path | str, precision: str, inventory: Inventory,
                    progress: Progress | None = None, cancel: threading.Event | None = None) -> list[TensorSpec]:
    """Re-quantize a GGUF file to a catalog GGUF id (llama-quantize --allow-requantize without imatrix).

    All metadata is copied (general.file_type / quantization_version updated); `inventory` is the file's inventory
    (quantcore.sources.gguf_header.read_gguf). A tensor already in its target type is copied byte for byte, as
    llama-quantize does; the others are dequantized to float32 and quantized with the reference row quantizers.
    """
    import gguf

    if precision.strip().lower() not in FILE_TYPES:
        raise BadInputError(f"'{precision}' is not a GGUF precision; use one of {', '.join(FILE_TYPES)}")
    reader = gguf.GGUFReader(str(src), "r")
    specs = requantize_plan(reader, inventory, precision)
    arch = str(reader.fields["general.architecture"].contents())

    def blocks() -> Iterator[np.ndarray]:
        for t, spec in zip(reader.tensors, specs):
            if t.tensor_type.name == spec.ggml_type:
                yield np.asarray(t.data).view(np.uint8)
            else:
                yield quantize_rows(spec.ggml_type, source_floats(t))

    meta = with_file_type(copied_metadata(reader), precision.strip().lower())
    write_gguf(dst, arch, meta, specs, blocks(), progress, cancel)
    return specs
