"""Where a test-run runs: auto / cpu / cuda[:N] / mps resolved to a torch device, with its name and free memory."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quantcore.errors import BadInputError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


@dataclass(frozen=True)
class DeviceInfo:
    """One device a test-run can use: its torch name ("cpu", "cuda:0", "mps"), what it is, its memory."""

    device: str
    name: str
    free_bytes: int | None  # free memory now (CPU: MemAvailable); None when the platform does not say
    total_bytes: int | None

    def label(self) -> str:
        free = f", {self.free_bytes / 2**30:.1f} GiB free" if self.free_bytes is not None else ""
        return f"{self.device}: {self.name}{free}"

    def as_dict(self) -> dict[str, object]:
        return {"device": self.device, "name": self.name, "free_bytes": self.free_bytes,
                "total_bytes": self.total_bytes}


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) * (1024 if parts[-1] == "kB" else 1)
    except OSError:
        pass
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def cpu_info() -> DeviceInfo:
    mem = _meminfo()
    total = mem.get("MemTotal")
    if total is None and hasattr(os, "sysconf"):
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            total = None
    threads = os.cpu_count() or 1
    return DeviceInfo("cpu", f"{_cpu_name()} ({threads} threads)", mem.get("MemAvailable"), total)


def list_devices() -> tuple[DeviceInfo, ...]:
    """Every device torch can run on here: the CPU first, then each CUDA GPU, then Apple's MPS."""
    import torch

    out = [cpu_info()]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append(DeviceInfo(f"cuda:{i}", torch.cuda.get_device_name(i), int(free), int(total)))
    if _mps_available():
        out.append(_mps_info())
    return tuple(out)


def _mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def _mps_info() -> DeviceInfo:
    import torch

    total = None
    try:
        total = int(torch.mps.recommended_max_memory())
        free = total - int(torch.mps.driver_allocated_memory())
    except (AttributeError, RuntimeError):
        free = None
    return DeviceInfo("mps", "Apple GPU (Metal Performance Shaders)", free, total)


def resolve(spec: str | None) -> DeviceInfo:
    """The device a spec names, or a one-line error saying why it cannot be used here.

    auto: the first CUDA GPU, else MPS, else the CPU. cuda: cuda:0.
    """
    import torch

    s = (spec or "auto").strip().lower()
    if s == "auto":
        devices = list_devices()
        return next((d for d in devices if d.device.startswith("cuda")), None) or \
            next((d for d in devices if d.device == "mps"), devices[0])
    if s == "cpu":
        return cpu_info()
    if s == "mps":
        if not _mps_available():
            raise BadInputError("device mps is not available here (no Apple GPU, or this torch has no MPS); "
                                "use --device cpu")
        return _mps_info()
    if s == "cuda" or s.startswith("cuda:"):
        index = 0 if s == "cuda" else _index(s)
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise BadInputError(f"device {s} is not available: {why} (torch {torch.__version__}); use --device cpu")
        count = torch.cuda.device_count()
        if index >= count:
            raise BadInputError(f"device {s} is not available: {count} CUDA GPU(s) here (cuda:0 .. cuda:{count - 1})")
        free, total = torch.cuda.mem_get_info(index)
        return DeviceInfo(f"cuda:{index}", torch.cuda.get_device_name(index), int(free), int(total))
    raise BadInputError(f"unknown device '{spec}'; use {DEVICE_CHOICES}")


def _index(s: str) -> int:
    tail = s.split(":", 1)[1]
    if not tail.isdigit():
        raise BadInputError(f"unknown device '{s}'; use {DEVICE_CHOICES}")
    return int(tail)


def torch_device(info: DeviceInfo) -> torch.device:
    import torch

    return torch.device(info.device)
