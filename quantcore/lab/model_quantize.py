"""Quantize a model (or some of its tensors) tensor by tensor: error metrics per tensor, optional streaming output."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, ModelFileError
from quantcore.formats import catalog
from quantcore.formats.quantize import check_applies, dequantize, quantize
from quantcore.lab.histogram import CancelledError
from quantcore.lab.metrics import error_metrics
from quantcore.model.inventory import Architecture, TensorInfo
from quantcore.sources.safe_io import probe

if TYPE_CHECKING:
    import torch

    from quantcore.sources.tensors import TensorRef

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TensorResult:
    """What happened to one tensor: quantized (or kept / copied), its bytes predicted and written, its error."""

    name: str
    shape: tuple[int, ...]
    precision: str  # the catalog id, or "kept:<dtype>" for a tensor the format leaves in higher precision
    predicted_bytes: int
    written_bytes: int  # bytes of the format's tensors (QuantizedTensor.nbytes)
    file_bytes: int  # bytes actually written for it, metadata tensors included (0 without --out)
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: str = ""  # GPTQ / AWQ: which inputs the algorithm saw ("real: ..." or "synthetic ...")

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "shape": list(self.shape), "precision": self.precision,
               "predicted_bytes": self.predicted_bytes, "written_bytes": self.written_bytes,
               "file_bytes": self.file_bytes, "metrics": self.metrics}
        if self.calibration:
            out["calibration"] = self.calibration
        return out


def _infos(path: Path) -> tuple[dict[str, TensorInfo], Architecture | None]:
    """The catalog's view of each tensor (role, kind, layer) and the architecture, from the model's headers."""
    from quantcore.sources.local import load_path

    inv = load_path(path)
    return {t.name: t for t in inv.tensors}, inv.arch


def _kept_dtype(src: torch.dtype, keep_bytes: int) -> torch.dtype:
    import torch

    if src.itemsize == keep_bytes:
        return src
    return torch.float32 if keep_bytes == 4 else torch.float16


def quantize_model(path: Path, precision_id: str, patterns: list[str] | None = None, out: Path | None = None,
                   metrics: bool = True, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> list[TensorResult]:
    """Quantize the tensors of a local model (all, or those matching `patterns`) one at a time.

    Tensors the precision does not apply to are kept in the format's higher precision, or refused with a one-line
    error when named exactly in `patterns` (globs and name parts keep them). With `out` (.safetensors) everything is streamed
    into the file, which appears atomically when done; cancel or an exception leaves no file. Peak memory: one
    source tensor, its float32 copy, its quantized form and its dequantized copy (for the metrics)."""
    from quantcore.sources.tensors import list_tensors, select

    p = catalog.get_precision(precision_id)
    lay = catalog.layout(p.id)
    refs = select(list_tensors(path), patterns)
    exact = set(patterns or ()) & {r.name for r in refs}  # tensors named exactly: refused if the format skips them
    infos, arch = _infos(path)
    to_gguf = out is not None and Path(out).suffix.lower() == ".gguf"
    if to_gguf and patterns:
        raise BadInputError(f"{out}: a GGUF file holds the whole model; drop --tensor to write one")
    writer = _writer(out) if out is not None and not to_gguf else None
    cal = _calibration(path, refs, p, progress, cancel)
    results: list[TensorResult] = []
    total = sum(r.nbytes for r in refs) or 1
    done = 0
    try:
        for ref in refs:
            if cancel is not None and cancel.is_set():
                raise CancelledError("quantization cancelled; no file written")
            if progress is not None:
                progress(ref.name, done / total)
            results.append(_one(ref, p, lay, infos.get(ref.name), arch, ref.name in exact, writer, metrics, cal))
            done += ref.nbytes
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if to_gguf:
        write_gguf_model(path, Path(out), p.id, progress, cancel)
    if progress is not None:
        progress("done", 1.0)
    return results


def write_gguf_model(path: Path, out: Path, precision_id: str, progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> None:
    """A loadable GGUF of a catalog GGUF id: a .gguf source re-quantized with its metadata copied, or a Hugging Face
    llama/mistral folder converted (formats/gguf_write.py, formats/gguf_hf.py); written atomically."""
    from quantcore.formats.gguf_hf import convert_hf_llama
    from quantcore.formats.gguf_write import requantize_gguf
    from quantcore.sources.gguf_header import read_gguf

    if Path(path).suffix.lower() == ".gguf":
        requantize_gguf(path, out, precision_id, read_gguf(Path(path)), progress, cancel)
        return
    folder = path if probe(Path(path)) == "dir" else Path(path).parent
    check_hf_folder(folder)
    try:
        convert_hf_llama(folder, out, precision_id, progress, cancel)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{folder}: cannot convert to GGUF ({exc.__class__.__name__}: {str(exc)[:120]})") \
            from None


# files the GGUF conversion (formats/gguf_hf.py, gguf.vocab) opens by name, and their size caps
HF_FOLDER_FILES = {"config.json": 10 << 20, "tokenizer.json": 256 << 20, "tokenizer_config.json": 64 << 20,
                   "special_tokens_map.json": 16 << 20, "added_tokens.json": 64 << 20, "vocab.json": 256 << 20,
                   "merges.txt": 256 << 20, "tokenizer.model": 256 << 20, "generation_config.json": 1 << 20}


def check_hf_folder(folder: Path) -> None:
    """Before gguf_hf and gguf.vocab open a folder's files by name (plain open(): a FIFO would block it forever, a
    huge or deeply nested JSON would exhaust it): each one there must be a regular file within its cap, each JSON
    parseable within safe_io's depth, and config.json's sizes inside the bounds table (its layer count sizes loops)."""
    from quantcore.model.arch import inventory_from_config
    from quantcore.sources.safe_io import open_regular, read_json

    for name, cap in HF_FOLDER_FILES.items():
        f = folder / name
        if probe(f) is None:
            continue
        if name.endswith(".json"):
            data = read_json(f, cap, name)
            if name == "config.json":
                inventory_from_config(data, str(f))
        else:
            with open_regular(f, name) as fh:
                if os.fstat(fh.fileno()).st_size > cap:
                    raise ModelFileError(f"{f}: {name} is larger than {cap:,} bytes; refusing")


def _writer(out: Path) -> Any:
    from quantcore.lab.writer import StreamingSafetensorsWriter

    suffix = Path(out).suffix.lower()
    if suffix != ".safetensors":
        raise BadInputError(f"{out}: --out must end in .safetensors (or .gguf)")
    return StreamingSafetensorsWriter(Path(out), {"format": "pt"})


def _calibration(path: Path, refs: list[TensorRef], p: catalog.Precision, progress: Progress | None,
                 cancel: threading.Event | None) -> Any:
    """GPTQ and AWQ need the layers' inputs: real activations captured from the model when it loads here (only the
    matrices being quantized), otherwise synthetic inputs with outlier channels (lab/calibration.py says which)."""
    if p.family not in ("gptq", "awq"):
        return None
    from quantcore.lab.calibration import calibration_for

    wanted = {r.name: r.shape[-1] for r in refs if len(r.shape) >= 2 and r.name.endswith(".weight")}
    folder = path if probe(Path(path)) == "dir" else Path(path).parent
    if progress is not None:
        progress("capturing calibration inputs", 0.0)
    return calibration_for(folder if Path(path).suffix.lower() != ".gguf" else None, wanted, cancel=cancel)


def _one(ref: TensorRef, p: catalog.Precision, lay: catalog.Layout, info: TensorInfo | None,
         arch: Architecture | None, named: bool, writer: Any, with_metrics: bool, cal: Any = None) -> TensorResult:
    import torch

    from quantcore.formats.serialize import file_tensors

    t = ref.load()
    shape = tuple(t.shape)
    info = info if info is not None and tuple(info.shape) == shape else _guess_info(ref.name, shape)
    predicted = catalog.tensor_bytes(info, p, arch)
    is_float = t.dtype.is_floating_point
    applies = is_float and lay.scheme != "dense" and catalog.quantized_by(info, p)
    if named and not applies and lay.scheme != "dense":
        if not is_float:
            raise BadInputError(f"{ref.name}: a {str(t.dtype).removeprefix('torch.')} tensor cannot be quantized")
        check_applies(info, p)  # raises the one-line reason
    if lay.scheme == "dense" and is_float or applies:
        x = cal.input_for(ref.name) if cal is not None else None
        q = quantize(t, p.id, info=info, arch=arch, calibration=x)
        files = file_tensors(ref.name, q) if writer is not None else {}
        m = _metrics(ref, t, lambda: dequantize(q)) if with_metrics else {}
        label, written = p.id, q.nbytes
    else:
        kept = t.to(_kept_dtype(t.dtype, lay.keep_bytes)) if is_float else t
        files = {ref.name: kept} if writer is not None else {}
        m = _metrics(ref, t, lambda: kept.to(torch.float32)) if with_metrics and is_float else {}
        label, written = f"kept:{str(kept.dtype).removeprefix('torch.')}", kept.numel() * kept.element_size()
        if not is_float:
            predicted = written  # buffers (position ids) are copied as they are
    file_bytes = 0
    for name, tensor in files.items():
        writer.add(name, tensor)
        file_bytes += tensor.numel() * tensor.element_size()
    return TensorResult(ref.name, shape, label, predicted, written, file_bytes, m,
                        cal.description if cal is not None and label == p.id else "")


def _metrics(ref: TensorRef, t: torch.Tensor, approx: Callable[[], torch.Tensor]) -> dict[str, Any]:
    """error_metrics as a dict; its one-line error (a result that overflowed) names the tensor."""
    try:
        return error_metrics(t, approx()).as_dict()
    except BadInputError as exc:
        raise BadInputError(f"{ref.name}: {exc}") from None


def _guess_info(name: str, shape: tuple[int, ...]) -> TensorInfo:
    """A tensor the inventory does not describe (GGUF names, renamed files): classified by its name."""
    from quantcore.model.naming import classify, layer_of

    role, kind = classify(name)
    if len(shape) < 2 and role not in ("norm", "buffer"):
        role = "norm"
    return TensorInfo(name, shape, "F32", role, kind, layer_of(name))


def iter_results(results: list[TensorResult]) -> Iterator[dict[str, Any]]:
    for r in results:
        yield r.as_dict()
