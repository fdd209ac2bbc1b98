"""Live tensor bytes on CPU, exact: a TorchDispatchMode that sees every tensor an op returns and follows each
storage until it is freed (weakref finalizer on the storage), plus the process high-water mark as a second view.

CPU has no caching allocator to ask (torch.cuda.max_memory_allocated has no CPU twin), so the tensor-level peak is
the largest sum of live storage bytes seen at any op boundary. Buffers a kernel allocates internally without
returning them as tensors are not seen here; the process view (VmHWM) sees them.
"""
from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class StorageTracker(TorchDispatchMode):
    """Tracks live storage bytes; `track(t)` adds tensors that existed before the mode (parameters, inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self.peak_at = ""

    def track(self, *tensors: Any) -> None:
        for t in tree_flatten(tensors)[0]:
            if isinstance(t, torch.Tensor):
                self._add(t, "track")

    def _add(self, t: torch.Tensor, where: str) -> None:
        if t.device.type != "cpu" or t.is_meta:
            return
        st = t.untyped_storage()
        key, n = st.data_ptr(), st.nbytes()
        if n == 0 or key in self.live:
            return
        self.live[key] = n
        self.current += n
        if self.current > self.peak:
            self.peak, self.peak_at = self.current, where
        weakref.finalize(st, self._release, key)

    def _release(self, key: int) -> None:
        n = self.live.pop(key, 0)
        self.current -= n

    def reset_peak(self) -> None:
        self.peak, self.peak_at = self.current, "reset"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._add(t, str(func))
        return out


def storage_bytes(*tensors: Any) -> int:
    """Bytes of the distinct storages behind these tensors."""
    seen: dict[int, int] = {}
    for t in tree_flatten(tensors)[0]:
        if isinstance(t, torch.Tensor) and t.device.type == "cpu":
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0: writing 5 to clear_refs); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc malloc_trim), so RSS before a measured step is the live data."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
