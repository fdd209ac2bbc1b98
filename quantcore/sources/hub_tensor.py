"""One tensor of a Hub repo's safetensors weights, on request: where it lies (shard and byte range, from the shard's
header), its bytes by one HTTP range read, or its whole shard downloaded into the cache.

Every byte comes through safe_http (issue 8): the header is the planner's checked one (hub._safetensors_header:
bounds, offsets that tile the file); a range read or a download runs under one budget, cancellable by the caller's
event, whose deadline grows with the bytes asked for (DEADLINE_S plus MIN_RATE per byte), and never reads more
than the header (or the repo's file list) announced. A shard is written atomically under
HF_HOME/quantplanner/hub (hub_cache.shard_path), never outside it."""
from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantcore.errors import BadInputError, HubOfflineError, ModelFileError, one_line
from quantcore.sources import hub, hub_cache, hub_http, safe_http
from quantcore.sources.safe_io import parse_json, probe, under
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


MIN_RATE = 1 << 20  # bytes per second a range read or a download is given on top of safe_http.DEADLINE_S
MAX_SHARD_BYTES = 1 << 40  # a shard the repo's file list does not size is read up to this


def _budget(nbytes: int, cancel: threading.Event | None) -> Any:
    return safe_http.budget(safe_http.DEADLINE_S + nbytes / MIN_RATE, hub_http.RETRIES, cancel)


def locate(repo_id: str, name: str, revision: str | None = None,
           cancel: threading.Event | None = None) -> RemoteTensor:
    """Find the tensor `name` in the repo's safetensors shards (reads the index or the shards' headers only)."""
    with hub_http.budget(cancel=cancel):
        snap = hub.repo_snapshot(repo_id, revision)
        shards = hub.weight_files(snap)
        if not shards:
            raise BadInputError(f"{repo_id} has no safetensors weights: only safetensors tensors can be fetched one "
                                "by one")
        for shard in shards:
            hub_http.check_cancel(cancel, repo_id)
            header = _header(snap, shard)
            entry = header.get(name)
            if name != "__length__" and isinstance(entry, dict):
                begin, end = (int(v) for v in entry["data_offsets"])  # checked by the header's reader
                base = 8 + header["__length__"]
                return RemoteTensor(repo_id, snap.revision, snap.commit, shard.name, shard.size, name,
                                    str(entry["dtype"]), tuple(int(d) for d in entry["shape"]), base + begin,
                                    base + end)
    raise BadInputError(f"{one_line(name, 200)} is in none of the {len(shards)} safetensors file(s) of {repo_id}")


_HEADERS: dict[tuple[str, str, str], dict[str, Any]] = {}  # (repo, commit, file) -> parsed header (immutable)


def _header(snap: hub.RepoSnapshot, shard: hub.HubFile) -> dict[str, Any]:
    key = (snap.repo_id, snap.commit, shard.name)
    if key in _HEADERS:
        return _HEADERS[key]
    raw = hub._safetensors_header(snap, shard, hub.FIRST_READ_BYTES)  # checked with the local reader's bounds
    header = parse_json(raw, f"{snap.repo_id}/{shard.name}", "safetensors header")
    header["__length__"] = len(raw)
    _HEADERS[key] = header
    return header


def fetch(rt: RemoteTensor, cancel: threading.Event | None = None) -> torch.Tensor:
    """The tensor's values: exactly rt.nbytes bytes read by one range request."""
    import torch

    dtype = _TORCH_DTYPES.get(rt.dtype)
    if dtype is None:
        raise BadInputError(f"{rt.name}: dtype {rt.dtype} cannot be read here")
    with _budget(rt.nbytes, cancel):
        data = hub_http.read_range(rt.repo_id, rt.revision, rt.commit, rt.filename, rt.start, rt.end)
    if len(data) != rt.nbytes:
        raise ModelFileError(f"{rt.repo_id}/{rt.filename}: got {len(data):,} of {rt.nbytes:,} bytes of {rt.name}")
    t = torch.frombuffer(bytearray(data), dtype=getattr(torch, dtype)) if data else torch.empty(0)
    return t.reshape(rt.shape)


def download_shard(rt: RemoteTensor, cancel: threading.Event | None = None) -> Path:
    """The tensor's whole shard, downloaded into the cache (HF_HOME/quantplanner/hub/.../files/COMMIT/FILE, written
    atomically, kept for next time); its local path. At most the size the repo's file list gives."""
    try:
        dest = hub_cache.shard_path(rt.repo_id, rt.commit, rt.filename)
    except ValueError:
        raise ModelFileError(f"{rt.repo_id}: '{one_line(rt.filename, 200)}' at {rt.commit[:12]} cannot be kept in "
                             "the cache") from None
    if probe(dest) == "file" and (rt.shard_size is None or os.stat(dest).st_size == rt.shard_size):
        return dest
    if hub_http.is_offline():
        raise HubOfflineError(hub_http.offline_message(rt.repo_id))
    cap = rt.shard_size if rt.shard_size is not None else MAX_SHARD_BYTES
    tmp: str | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not under(hub_cache.cache_root(), dest):  # again, now that the folders exist: none a symlink out
            raise ModelFileError(f"{dest}: outside the cache; not written")
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "w+b") as fh, _budget(cap, cancel):
            got = hub_http.download_to(rt.repo_id, rt.revision, rt.commit, rt.filename, fh, cap)
        if rt.shard_size is not None and got != rt.shard_size:
            raise ModelFileError(f"{rt.repo_id}/{rt.filename}: got {got:,} of {rt.shard_size:,} bytes")
        os.replace(tmp, dest)
        tmp = None
    except OSError as exc:
        raise ModelFileError(f"{dest}: cannot write the downloaded file ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return dest


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
