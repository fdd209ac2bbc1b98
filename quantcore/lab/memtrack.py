"""Peak memory of a piece of torch work: CUDA's allocator statistics, or on the CPU a dispatch-mode tracker that
counts the bytes of the tensor storages created inside it while they are alive."""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def storage_bytes(tensors: Any) -> int:
    """Bytes of the distinct storages behind `tensors` (an iterable of tensors): what they actually hold, each
    storage counted once, a view counting its whole storage."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for t in tensors:
        st = t.untyped_storage()
        key = (str(t.device), st.data_ptr())
        if st.nbytes() == 0 or key in seen:
            continue
        seen.add(key)
        total += st.nbytes()
    return total


def _tracker_class() -> type:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class LiveStorageTracker(TorchDispatchMode):
        """Counts every storage an op inside the `with` block creates, from its creation until it is freed.

        current: bytes of such storages alive now; peak: the most alive at once. Storages that existed before the
        block (weights, inputs) are not counted: add them yourself (storage_bytes).
        """

        def __init__(self) -> None:
            super().__init__()
            self.current = 0
            self.peak = 0
            self.allocated = 0  # bytes created in all (freed ones included)
            self._live: dict[int, Any] = {}
            self._preexisting: set[int] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.device.type == "cpu" and not t.is_meta:
                    self._track(t)
            return out

        def ignore(self, tensors: Any) -> None:
            """Storages that already exist (an in-place op returning them must not count them as new)."""
            for t in tensors:
                self._preexisting.add(t.untyped_storage().data_ptr())

        def _track(self, t: torch.Tensor) -> None:
            st = t.untyped_storage()
            ptr, n = st.data_ptr(), st.nbytes()
            if n == 0 or ptr in self._live or ptr in self._preexisting:
                return
            self._live[ptr] = weakref.ref(st, lambda _ref, p=ptr, b=n: self._free(p, b))
            self.current += n
            self.allocated += n
            self.peak = max(self.peak, self.current)

        def _free(self, ptr: int, n: int) -> None:
            if self._live.pop(ptr, None) is not None:
                self.current -= n

    return LiveStorageTracker


_CLASS: type | None = None


def cpu_tracker() -> Any:
    """A new LiveStorageTracker (use as `with tracker: ...`, then read .peak / .current)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _tracker_class()
    return _CLASS()
