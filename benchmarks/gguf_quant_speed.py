"""GGUF block quantizers, side by side: ours vs the gguf package's numpy reference (Q8_0, Q4_0, TQ1_0) and vs
llama.cpp's own C quantizer (ggml_quantize_chunk, one thread) for the k-quants, plus a plain copy of the tensor.

    .venv/bin/python benchmarks/gguf_quant_speed.py \
        [--ggml-lib /work/venvs/llama/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so]

Every row also says whether the bytes are identical to the reference's. Times are the best of --repeat runs
(1 for runs over 2 s); compare ratios from one run, the machine is shared.
"""
from __future__ import annotations

import argparse
import ctypes
import time
from collections.abc import Callable

import numpy as np

from quantcore.formats.ggml_quants import quantize_rows

SHAPES = ((4096, 4096), (4096, 14336))
GGUF_TYPES = ("Q8_0", "Q4_0", "TQ1_0")
K_TYPES = ("Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K")


def weights(shape: tuple[int, int]) -> np.ndarray:
    r = np.random.default_rng(0)
    x = (r.standard_normal(shape, dtype=np.float32) * np.float32(0.02))
    mask = r.random(shape) < 0.001
    x[mask] *= np.float32(30)  # outlier weights
    return x


def timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        if best > 2.0:
            break
    return best, out


def ggml_quantizer(lib_path: str) -> Callable[[str, np.ndarray], np.ndarray]:
    import gguf

    lib = ctypes.CDLL(lib_path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    def quantize(type_name: str, x: np.ndarray) -> np.ndarray:
        qtype = gguf.GGMLQuantizationType[type_name]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        out = np.empty((x.shape[0], x.shape[1] // block * size), dtype=np.uint8)
        lib.ggml_quantize_chunk(int(qtype), x.ctypes.data, out.ctypes.data, 0, x.shape[0], x.shape[1], None)
        return out

    return quantize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ggml-lib", help="libggml-base.so of a llama.cpp build (llama-cpp-python ships one)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import gguf
    import torch
    from gguf import quants

    ggml = ggml_quantizer(args.ggml_lib) if args.ggml_lib else None
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}")
    print(f"{'shape':>12} {'type':>6} {'ours s':>8} {'ref s':>8} {'ref/ours':>9} {'copy/ours':>9}  "
          "reference, identical bytes")
    for shape in SHAPES:
        x = weights(shape)
        copy, _ = timed(lambda: x.copy(), args.repeat)
        rows = [(t, "gguf.quants (numpy)", lambda t=t: quants.quantize(x, gguf.GGMLQuantizationType[t]))
                for t in GGUF_TYPES]
        if ggml is not None:
            rows += [(t, "llama.cpp ggml_quantize_chunk (C, 1 thread)", lambda t=t: ggml(t, x)) for t in K_TYPES]
        else:
            rows += [(t, "-", None) for t in K_TYPES]
        for t, name, ref_fn in rows:
            ours, got = timed(lambda t=t: quantize_rows(t, x), args.repeat)
            if ref_fn is None:
                print(f"{shape[0]}x{shape[1]:>6} {t:>6} {ours:8.3f} {'':>8} {'':>9} {copy / ours:9.3f}  (no reference)")
                continue
            ref, want = timed(ref_fn, args.repeat)
            same = np.array_equal(got, want)
            print(f"{shape[0]}x{shape[1]:>6} {t:>6} {ours:8.3f} {ref:8.3f} {ref / ours:9.2f} {copy / ours:9.3f}  "
                  f"{name}, {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
