"""The fused C loops of _native.c, compiled once per machine into the user cache; None when no C compiler works."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_SOURCE = Path(__file__).with_name("_native.c")
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
# Set QUANTPLANNER_NO_NATIVE=1 to use the pure-torch paths (the tests run both and compare them).
DISABLE_ENV = "QUANTPLANNER_NO_NATIVE"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quantplanner" / "native"


def _compile(out: Path) -> bool:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or not _SOURCE.exists():
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    # -ffp-contract=off and no -ffast-math: every float operation rounds exactly as the reference libraries' do
    base = [cc, "-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", str(_SOURCE), "-o", tmp, "-lm"]
    for extra in (["-march=native", "-fopenmp"], ["-fopenmp"], []):
        try:
            done = subprocess.run(base[:1] + extra + base[1:], capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            os.replace(tmp, out)
            return True
    Path(tmp).unlink(missing_ok=True)
    return False


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, i32, f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
    lib.qp_bnb4.argtypes = [p, i32, i64, i64, p, p, p, p]
    lib.qp_int8_rows.argtypes = [p, i32, i64, i64, p, p]
    lib.qp_affine.argtypes = [p, i32, i64, i64, i64, i32, p, p, f32, f32, p]
    for f in (lib.qp_bnb4, lib.qp_int8_rows, lib.qp_affine):
        f.restype = None
    lib.qp_hist.argtypes = [p, i32, i64, f32, f32, i64, p, p]
    lib.qp_hist.restype = i64
    lib.qp_count16.argtypes = [p, i64, p]
    lib.qp_count16.restype = i64
    lib.qp_f16.argtypes = [p, i64, p]
    for f in (lib.qp_q8_0, lib.qp_q4_0):
        f.argtypes = [p, i32, i64, p]
        f.restype = i64
    lib.qp_f16.restype = None


def library() -> ctypes.CDLL | None:
    """The compiled library, or None (no compiler, a failed build, or QUANTPLANNER_NO_NATIVE=1)."""
    global _lib, _tried
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    if _tried:
        return _lib
    with _lock:
        if _tried:
            return _lib
        try:
            digest = hashlib.sha256(_SOURCE.read_bytes() + sys.platform.encode()).hexdigest()[:16]
            so = _cache_dir() / f"quantplanner-{digest}-{os.uname().machine}.so"
            if so.exists() or _compile(so):
                lib = ctypes.CDLL(str(so))
                _declare(lib)
                _lib = lib
        except (OSError, AttributeError):
            _lib = None
        _tried = True
    return _lib


def ptr(t: object) -> int:
    """The address of a contiguous torch tensor's data."""
    return t.data_ptr()  # type: ignore[attr-defined]
