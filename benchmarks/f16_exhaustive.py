"""The C loops' float32 -> fp16 rounding (formats/_native.c f32_to_f16, through qp_f16) against numpy's astype over
all 2^32 float32 bit patterns; NaN must stay NaN. About 6 minutes on 2 cores:

    .venv/bin/python benchmarks/f16_exhaustive.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quantcore.formats import native  # noqa: E402


def main() -> None:
    lib = native.library()
    if lib is None:
        sys.exit("no C compiler here: nothing to check")
    step, bad, start_t = 1 << 26, 0, time.time()
    out = np.empty(step, dtype=np.uint16)
    for start in range(0, 1 << 32, step):
        f = np.arange(start, start + step, dtype=np.uint64).astype(np.uint32).view(np.float32)
        lib.qp_f16(f.ctypes.data, step, out.ctypes.data)
        with np.errstate(over="ignore", invalid="ignore"):
            ref = f.astype(np.float16).view(np.uint16)
        nan = np.isnan(f)
        bad += int(((out != ref) & ~nan).sum())
        o = out[nan]
        bad += int((((o & 0x7C00) != 0x7C00) | ((o & 0x3FF) == 0)).sum())
    print(f"mismatches {bad} in {1 << 32} patterns, {time.time() - start_t:.0f} s")


if __name__ == "__main__":
    main()
