"""Median latency after warm-up (CUDA events on a GPU, perf_counter elsewhere) and peak memory of a forward pass
(torch.cuda.max_memory_allocated on a GPU, the live-storage tracker on the CPU)."""
from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quantcore.lab.histogram import CancelledError
from quantcore.lab.memtrack import cpu_tracker

if TYPE_CHECKING:
    import torch

WARMUP = 3
MIN_RUNS = 5
MAX_RUNS = 50
BUDGET_S = 0.5  # timed runs stop after this long (at least MIN_RUNS)


def synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_latency_ms(fn: Callable[[], Any], device: torch.device, cancel: threading.Event | None = None,
                      warmup: int = WARMUP, min_runs: int = MIN_RUNS, max_runs: int = MAX_RUNS,
                      budget_s: float = BUDGET_S) -> tuple[float, int]:
    """(median milliseconds, timed runs) of fn() after `warmup` untimed runs."""
    import torch

    for _ in range(warmup):
        fn()
    synchronize(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        if cancel is not None and cancel.is_set():
            raise CancelledError("test-run cancelled")
        if device.type == "cuda":
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record()
            fn()
            t1.record()
            t1.synchronize()
            times.append(float(t0.elapsed_time(t1)))
        else:
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def peak_bytes(setup: Callable[[], Any], run: Callable[[Any], Any], device: torch.device) -> tuple[int, Any, Any]:
    """Peak bytes of setup() (putting the layer and its input on the device) followed by run(setup's result):
    what they allocated at most at once, the layer's and the input's own bytes included. Returns (peak, what setup
    made, what run gave)."""
    import torch

    if device.type == "cuda":
        synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        made = setup()
        out = run(made)
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base), made, out
    if device.type == "mps":  # no peak statistic: the current allocation after the pass is a lower bound
        base = torch.mps.current_allocated_memory()
        made = setup()
        out = run(made)
        synchronize(device)
        return int(torch.mps.current_allocated_memory() - base), made, out
    tracker = cpu_tracker()
    with tracker:
        made = setup()
        out = run(made)
    return int(tracker.peak), made, out
