"""One tensor of a Hub repo's safetensors weights, on request: where it lies (shard and byte range, from the shard's
header), its bytes by one HTTP range read, or its whole shard downloaded into the Hugging Face cache."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, ModelFileError
from quantcore.sources import hub, hub_http
from quantcore.sources.tensors import TensorRef

if TYPE_CHECKING:
    import torch

_TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
                 "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32",
                 "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


@dataclass(frozen=True)
class RemoteTensor:
    """A tensor in a Hub repo: its shard and the byte range of its data in that file."""

    repo_id: str
    revision: str
    commit: str
    filename: str
    shard_size: int | None
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute offsets in the file
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def locate(repo_id: str, name: str, revision: str | None = None) -> RemoteTensor:
    """Find the tensor `name` in the repo's safetensors shards (reads the index or the shards' headers only)."""
    snap = hub.repo_snapshot(repo_id, revision)
    shards = hub.weight_files(snap)
    if not shards:
        raise BadInputError(f"{repo_id} has no safetensors weights: only safetensors tensors can be fetched one by one")
    for shard in shards:
        header = _header(snap, shard)
        entry = header.get(name)
        if isinstance(entry, dict):
            begin, end = (int(v) for v in entry["data_offsets"])
            base = 8 + header["__length__"]
            return RemoteTensor(repo_id, snap.revision, snap.commit, shard.name, shard.size, name,
                                str(entry["dtype"]), tuple(int(d) for d in entry["shape"]), base + begin, base + end)
    raise BadInputError(f"{name} is in none of the {len(shards)} safetensors file(s) of {repo_id}")


_HEADERS: dict[tuple[str, str, str], dict[str, Any]] = {}  # (repo, commit, file) -> parsed header (immutable)


def _header(snap: hub.RepoSnapshot, shard: hub.HubFile) -> dict[str, Any]:
    key = (snap.repo_id, snap.commit, shard.name)
    if key in _HEADERS:
        return _HEADERS[key]
    raw = hub._safetensors_header(snap, shard, hub.FIRST_READ_BYTES)  # checked with the local reader's bounds
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ModelFileError(f"{snap.repo_id}/{shard.name}: header is not JSON ({exc})") from None
    header["__length__"] = len(raw)
    _HEADERS[key] = header
    return header


def fetch(rt: RemoteTensor) -> torch.Tensor:
    """The tensor's values: exactly rt.nbytes bytes read by one range request."""
    import torch

    dtype = _TORCH_DTYPES.get(rt.dtype)
    if dtype is None:
        raise BadInputError(f"{rt.name}: dtype {rt.dtype} cannot be read here")
    data = hub_http.read_range(rt.repo_id, rt.revision, rt.commit, rt.filename, rt.start, rt.end)
    if len(data) != rt.nbytes:
        raise ModelFileError(f"{rt.repo_id}/{rt.filename}: got {len(data):,} of {rt.nbytes:,} bytes of {rt.name}")
    t = torch.frombuffer(bytearray(data), dtype=getattr(torch, dtype)) if data else torch.empty(0)
    return t.reshape(rt.shape)


def download_shard(rt: RemoteTensor) -> Path:
    """The tensor's whole shard, downloaded into the Hugging Face cache (hf_hub_download); its local path."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(rt.repo_id, rt.filename, revision=rt.commit, etag_timeout=hub_http.TIMEOUT_S))
    except Exception as exc:  # translated into one line
        raise hub_http.translate(exc, rt.repo_id, rt.revision, rt.filename) from None


@dataclass(frozen=True)
class MemoryRef(TensorRef):
    """A tensor already in memory (fetched by range): a TensorRef whose file is the shard it came from."""

    tensor: Any = None

    def load(self) -> torch.Tensor:
        return self.tensor

    def load_rows(self, start: int, stop: int) -> torch.Tensor:
        return self.tensor[start:stop]


def memory_ref(rt: RemoteTensor, tensor: torch.Tensor) -> MemoryRef:
    return MemoryRef(rt.name, rt.shape, rt.dtype, Path(rt.filename), rt.nbytes, tensor)
