"""The GPU catalog: bundled resources/gpus.toml plus the user's own GPUs file, lookup by name, saving."""
from __future__ import annotations

import difflib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from quantcore.errors import BadInputError, UnknownGPUError

CATALOG_FILE = "gpus.toml"
USER_FILE_ENV = "QUANTPLANNER_GPUS"
COMPUTES = ("fp32", "fp16", "bf16", "fp8", "int8")

# Share of a unified-memory machine's RAM that the GPU may use by default. macOS caps GPU-wired memory at
# MTLDevice.recommendedMaxWorkingSetSize: 75% of RAM on large Macs (gpustack/gpustack#1375: "the recommended max
# working set ... which is 75% of total RAM"; llama.cpp logs 73728 MB on a 96 GB M2 Max, ggml-org/llama.cpp#3213)
# and 2/3 on Macs with 32 GB or less (21845.34 MB of 32 GB, ollama/ollama#434). `sudo sysctl
# iogpu.wired_limit_mb=N` raises it, and newer macOS releases report more on some machines (107.52 GiB of
# 128 GiB on macOS 26, antirez/ds4#893): set `usable_fraction` on the GPU entry to what your Mac reports.
UNIFIED_MEMORY_GPU_FRACTION = 0.75
SMALL_UNIFIED_MEMORY_GPU_FRACTION = 2 / 3
SMALL_UNIFIED_MEMORY_BYTES = 32 * 2**30  # at or below this much RAM the smaller share applies

MAX_GPU_FILE_BYTES = 4 << 20
MAX_NUMBER = 1e9  # any GPU figure (GiB, GB/s, TFLOPS, W, USD): finite and far below what would overflow a plan
NA = "n/a"  # the TOML spelling of "no price known" for purchase_usd / hourly_usd

# TOML key -> (GPU field, multiplier to SI units). Rates are per second; memory is handled apart.
_RATES: dict[str, tuple[str, float]] = {
    "bandwidth_gbps": ("bandwidth_bytes_per_s", 1e9),
    "fp32_tflops": ("fp32_flops", 1e12),
    "fp16_tflops": ("fp16_flops", 1e12),
    "bf16_tflops": ("bf16_flops", 1e12),
    "fp8_tflops": ("fp8_flops", 1e12),
    "int8_tops": ("int8_ops", 1e12),
}
_STRINGS = ("id", "name", "vendor", "source", "date")
_PRICES = ("purchase_usd", "hourly_usd")
_MEMORY = ("memory_gib", "memory_gb")
# Keys every catalog entry must give (memory as memory_gib or memory_gb).
CATALOG_KEYS = (*_STRINGS, "memory", *_RATES, "tdp_w", *_PRICES, "unified_memory")
# Keys a new GPU in the user's file must give; the rest default (0 = no such unit, "n/a" = no price).
USER_REQUIRED = ("id", "name", "memory", "bandwidth_gbps", "fp32_tflops", "fp16_tflops")
_OPTIONAL = ("usable_fraction",)
_KNOWN = (*_STRINGS, *_MEMORY, *_RATES, "tdp_w", *_PRICES, "unified_memory", *_OPTIONAL)


@dataclass(frozen=True)
class GPU:
    """One accelerator. Rates are dense peaks per second; memory is bytes as the vendor states it."""

    id: str
    name: str
    vendor: str
    memory_bytes: int
    bandwidth_bytes_per_s: float
    fp32_flops: float
    fp16_flops: float
    bf16_flops: float
    fp8_flops: float
    int8_ops: float
    tdp_w: float
    purchase_usd: float | None
    hourly_usd: float | None
    unified_memory: bool
    source: str
    date: str
    custom: bool = False
    usable_fraction: float | None = None  # share of memory_bytes the GPU may use; None = the default rule

    @property
    def usable_bytes(self) -> int:
        """Bytes a model may occupy: all of a discrete GPU's memory; on unified memory the share macOS lets
        the GPU wire (75% of RAM, 2/3 at 32 GB or less) unless this entry sets usable_fraction."""
        fraction = self.usable_fraction
        if fraction is None:
            fraction = unified_gpu_fraction(self.memory_bytes) if self.unified_memory else 1.0
        return int(self.memory_bytes * fraction)

    def flops_for(self, compute: str) -> float:
        """Peak dense operations per second for matmuls in `compute` (fp32, fp16, bf16, fp8 or int8).

        A GPU without the unit (rate 0 in the catalog) falls back to its fp16 rate: fp8/int8 weights are then
        dequantized into fp16 matmuls, and bf16 models run in fp16 (as vLLM does below compute capability 8.0).
        A GPU without fp16 falls back to fp32.
        """
        rates = {"fp32": self.fp32_flops, "fp16": self.fp16_flops, "bf16": self.bf16_flops,
                 "fp8": self.fp8_flops, "int8": self.int8_ops}
        if compute not in rates:
            raise BadInputError(f"unknown compute type '{compute}'; use one of {', '.join(COMPUTES)}")
        return rates[compute] or self.fp16_flops or self.fp32_flops


def unified_gpu_fraction(memory_bytes: int) -> float:
    """Default share of a Mac's RAM that Metal lets the GPU use (recommendedMaxWorkingSetSize)."""
    if memory_bytes <= SMALL_UNIFIED_MEMORY_BYTES:
        return SMALL_UNIFIED_MEMORY_GPU_FRACTION
    return UNIFIED_MEMORY_GPU_FRACTION


# ------------------------------------------------------------------------------------------------ reading


def catalog_file() -> Path:
    """The bundled catalog, resources/gpus.toml."""
    from quantcore.sources.resources import resource_path

    return resource_path(CATALOG_FILE)


def default_user_file() -> Path:
    """Where the user's own GPUs live: $QUANTPLANNER_GPUS, else ~/.config/quantplanner/gpus.toml."""
    env = os.environ.get(USER_FILE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or Path.home() / ".config"
    return Path(base) / "quantplanner" / "gpus.toml"


def catalog_gpus() -> tuple[GPU, ...]:
    """The bundled catalog only, in file order."""
    path = catalog_file()
    return tuple(_to_gpu(t, path, strict=True, custom=False) for t in _catalog_tables(path))


def load_gpus(user_file: Path | None = None) -> tuple[GPU, ...]:
    """The catalog plus the user's GPUs (custom=True): a user entry with a catalog id overrides the keys it
    gives, in place; new ids are appended. user_file None means default_user_file() if it exists."""
    path = catalog_file()
    tables = _catalog_tables(path)
    by_id = {g.id: g for g in (_to_gpu(t, path, strict=True, custom=False) for t in tables)}
    if user_file is None:
        user_file = default_user_file()
        if not _present(user_file):
            return tuple(by_id.values())
    elif not _present(Path(user_file)):
        raise BadInputError(f"{user_file}: GPUs file not found")
    base = {t["id"]: t for t in tables}
    for t in read_gpu_tables(Path(user_file)):
        if t["id"] in base:
            merged = {k: v for k, v in base[t["id"]].items() if not (k in _MEMORY and any(m in t for m in _MEMORY))}
            g = _to_gpu(merged | t, Path(user_file), strict=True, custom=True)
        else:
            g = _to_gpu(t, Path(user_file), strict=False, custom=True)
        by_id[g.id] = g
    return tuple(by_id.values())


def _present(path: Path) -> bool:
    """Whether something is at `path` (a name too long to be a path is not; an unreadable one is, and reading it
    then says why)."""
    from quantcore.errors import QuantPlannerError
    from quantcore.sources.safe_io import probe

    try:
        return probe(path) is not None
    except QuantPlannerError:
        return True


def read_gpu_tables(path: Path) -> list[dict[str, Any]]:
    """The raw [[gpu]] tables of a GPUs file, checked for TOML syntax, unknown keys and unique ids."""
    from quantcore.sources.safe_io import parse_toml, read_bytes

    # a regular file of at most 4 MB, nesting bounded (safe_io): a FIFO or /dev/zero here never hangs the app
    data = parse_toml(read_bytes(path, MAX_GPU_FILE_BYTES, "GPUs file", BadInputError), str(path), BadInputError)
    extra = sorted(set(data) - {"gpu"})
    if extra:
        raise BadInputError(f"{path}: unexpected top-level key '{extra[0]}'; GPUs go in [[gpu]] tables")
    tables = data.get("gpu", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise BadInputError(f"{path}: 'gpu' must be an array of tables, written [[gpu]]")
    seen: set[str] = set()
    for i, t in enumerate(tables):
        where = _where(path, i, t)
        if not isinstance(t.get("id"), str) or not t["id"].strip():
            raise BadInputError(f"{where}: missing field 'id' (a short name such as \"my-gpu\")")
        unknown = sorted(set(t) - set(_KNOWN))
        if unknown:
            close = difflib.get_close_matches(unknown[0], _KNOWN, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise BadInputError(f"{where}: unknown field '{unknown[0]}'{hint}")
        if t["id"] in seen:
            raise BadInputError(f"{where}: id '{t['id']}' appears twice in this file")
        seen.add(t["id"])
    return tables


@lru_cache(maxsize=4)
def _catalog_tables_cached(path: str, mtime_ns: int) -> tuple[dict[str, Any], ...]:
    return tuple(read_gpu_tables(Path(path)))


def _catalog_tables(path: Path) -> tuple[dict[str, Any], ...]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as e:
        raise BadInputError(f"{path}: GPU catalog missing; reinstall QuantPlanner") from e
    return _catalog_tables_cached(str(path), mtime)


def _where(path: Path, index: int, table: dict[str, Any]) -> str:
    gid = table.get("id")
    return f"{path}: [[gpu]] #{index + 1}" + (f" (id '{gid}')" if isinstance(gid, str) else "")


def _to_gpu(t: dict[str, Any], path: Path, *, strict: bool, custom: bool) -> GPU:
    """Validate one [[gpu]] table and convert it to SI units; errors name the file, the entry and the field."""
    where = f"{path}: GPU '{t.get('id')}'"
    required = CATALOG_KEYS if strict else USER_REQUIRED
    for key in required:
        if key == "memory":
            given = [m for m in _MEMORY if m in t]
            if len(given) != 1:
                what = "both 'memory_gib' and 'memory_gb'" if given else "field 'memory_gib' (or 'memory_gb')"
                raise BadInputError(f"{where}: {'give only one of' if given else 'missing'} {what}")
        elif key not in t:
            raise BadInputError(f"{where}: missing field '{key}'")
    if "memory_gib" in t:
        memory = round(_number(t, "memory_gib", where, positive=True) * 2**30)
    else:
        memory = round(_number(t, "memory_gb", where, positive=True) * 1e9)
    rates = {field: _number(t, key, where, positive=key in ("bandwidth_gbps", "fp32_tflops", "fp16_tflops"))
             * scale if key in t else 0.0 for key, (field, scale) in _RATES.items()}
    strings = {k: _string(t, k, where) if k in t else "" for k in _STRINGS}
    unified = t.get("unified_memory", False)
    if not isinstance(unified, bool):
        raise BadInputError(f"{where}: field 'unified_memory' must be true or false")
    fraction = None
    if "usable_fraction" in t:
        fraction = _number(t, "usable_fraction", where, positive=True)
        if fraction > 1:
            raise BadInputError(f"{where}: field 'usable_fraction' must be at most 1 (a share of memory)")
    return GPU(id=strings["id"], name=strings["name"], vendor=strings["vendor"] or "custom", memory_bytes=int(memory),
               tdp_w=_number(t, "tdp_w", where) if "tdp_w" in t else 0.0,
               purchase_usd=_price(t, "purchase_usd", where), hourly_usd=_price(t, "hourly_usd", where),
               unified_memory=unified, source=strings["source"] or f"user file {path}", date=strings["date"],
               custom=custom, usable_fraction=fraction, **rates)


def _number(t: dict[str, Any], key: str, where: str, positive: bool = False) -> float:
    v = t[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or v > MAX_NUMBER:
        raise BadInputError(f"{where}: field '{key}' must be a number from 0 to {MAX_NUMBER:g}, not {str(v)[:40]}")
    if positive and v == 0:
        raise BadInputError(f"{where}: field '{key}' must be greater than 0")
    return float(v)


def _string(t: dict[str, Any], key: str, where: str) -> str:
    v = t[key]
    if not isinstance(v, str) or (key in ("id", "name") and not v.strip()):
        raise BadInputError(f"{where}: field '{key}' must be a non-empty string, not {v!r}")
    return v.strip() if key in ("id", "name") else v


def _price(t: dict[str, Any], key: str, where: str) -> float | None:
    if key not in t or t[key] == NA:
        return None
    if isinstance(t[key], str):
        raise BadInputError(f"{where}: field '{key}' must be a number of US dollars or \"{NA}\", not {t[key]!r}")
    return _number(t, key, where)


# ------------------------------------------------------------------------------------------------ lookup


def _key(text: str) -> str:
    """Comparison form of an id or name: lower case, without spaces, dashes, underscores and dots."""
    return re.sub(r"[\s\-_.]+", "", text.lower())


def _keys(g: GPU) -> set[str]:
    keys = {_key(g.id), _key(g.name)}
    if g.name.lower().startswith(g.vendor.lower() + " "):
        keys.add(_key(g.name[len(g.vendor):]))
    return keys


def find_gpu(name: str, gpus: Iterable[GPU] | None = None) -> GPU:
    """The GPU whose id or name matches `name` (case, spaces and dashes ignored; "H100 SXM" finds h100-sxm).
    Failing that, the one GPU whose id or name contains it ("4090"). Otherwise UnknownGPUError with suggestions."""
    pool = tuple(load_gpus() if gpus is None else gpus)
    want = _key(name)
    if not want:
        raise UnknownGPUError("empty GPU name; run `quantplanner gpus` to list them")
    exact = [g for g in pool if want in _keys(g)]
    if exact:
        return exact[-1]  # later entries (the user's) win
    partial = [g for g in pool if any(want in k for k in _keys(g))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        ids = ", ".join(g.id for g in partial[:8])
        raise UnknownGPUError(f"GPU '{name}' is ambiguous: {ids}; give one of these ids")
    by_key = {}
    for g in pool:
        for k in _keys(g):
            by_key.setdefault(k, g.id)
    close = difflib.get_close_matches(want, list(by_key), n=8, cutoff=0.5)
    suggestions = list(dict.fromkeys(by_key[k] for k in close))[:4]
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    raise UnknownGPUError(f"unknown GPU '{name}'{hint} (`quantplanner gpus` lists them; add your own in "
                          f"{default_user_file()})")


# ------------------------------------------------------------------------------------------------ saving


def gpu_table(gpu: GPU) -> dict[str, Any]:
    """The [[gpu]] table that describes `gpu` in a GPUs file (inverse of loading)."""
    t: dict[str, Any] = {"id": gpu.id, "name": gpu.name, "vendor": gpu.vendor,
                         "memory_gib": gpu.memory_bytes / 2**30}
    for key, (field, scale) in _RATES.items():
        t[key] = getattr(gpu, field) / scale
    t["tdp_w"] = gpu.tdp_w
    t["purchase_usd"] = NA if gpu.purchase_usd is None else gpu.purchase_usd
    t["hourly_usd"] = NA if gpu.hourly_usd is None else gpu.hourly_usd
    t["unified_memory"] = gpu.unified_memory
    if gpu.usable_fraction is not None:
        t["usable_fraction"] = gpu.usable_fraction
    t["source"] = gpu.source
    t["date"] = gpu.date
    return t


def save_user_gpu(gpu: GPU, path: Path | None = None) -> Path:
    """Add `gpu` to the user's GPUs file (replacing an entry with the same id) and return the file's path.

    Written atomically (temporary file in the same folder, then os.replace), so a crash never leaves half a
    file. The file is rewritten from its parsed tables: comments in it are not kept. A malformed existing file
    is reported, never overwritten.
    """
    path = Path(path) if path is not None else default_user_file()
    tables = read_gpu_tables(path) if _present(path) else []
    new = gpu_table(gpu)
    _to_gpu(new, path, strict=True, custom=True)  # refuse to write what could not be read back
    tables = [new if t["id"] == gpu.id else t for t in tables]
    if not any(t["id"] == gpu.id for t in tables):
        tables.append(new)
    text = "# QuantPlanner: your own GPUs (same layout as resources/gpus.toml; see `quantplanner gpus`)\n"
    text += "".join("\n[[gpu]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in t.items()) for t in tables)
    _write_atomic(path, text)
    return path


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    raise BadInputError(f"cannot write {type(v).__name__} value {v!r} to a GPUs file")


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise BadInputError(f"{path}: cannot write GPUs file ({e.strerror or e})") from e
