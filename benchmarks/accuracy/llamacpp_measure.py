"""Measure llama.cpp's own buffer sizes (model, KV cache, output, compute) through llama-cpp-python on CPU.

Run with a Python that has llama-cpp-python and gguf (not the project's .venv):
    python benchmarks/accuracy/llamacpp_measure.py [--out tests/golden/accuracy/llamacpp.json] [--cache DIR]
Each case creates a context (llama_init_from_model reserves the worst-case graph: n_ubatch tokens, all of them
outputs) and reads the sizes llama.cpp logs ("... compute buffer size = X MiB"), to the 0.01 MiB it prints.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_models import SHAPES, write_gguf  # noqa: E402

MiB = 2**20
CONTEXTS = (512, 2048, 8192)
UBATCHES = (128, 512)
FLASH = {"auto": -1, "off": 0, "on": 1}

_BUFFER = re.compile(r"(\w+):\s+(\S+)\s+(model|KV|output|compute) buffer size =\s+([\d.]+) MiB")


def parse_buffers(log: str) -> dict[str, float]:
    """{"model": MiB, "kv": MiB, "output": MiB, "compute": MiB} summed over backends, from llama.cpp's log."""
    out: dict[str, float] = {}
    for _, _backend, kind, mib in _BUFFER.findall(log):
        key = {"model": "model", "KV": "kv", "output": "output", "compute": "compute"}[kind]
        out[key] = out.get(key, 0.0) + float(mib)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="tests/golden/accuracy/llamacpp.json")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "quantplanner-accuracy-gguf"))
    args = ap.parse_args()
    import llama_cpp

    chunks: list[str] = []

    @llama_cpp.llama_log_callback
    def log_cb(level, text, user):  # noqa: ANN001 (ctypes callback)
        chunks.append(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(log_cb, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    os.makedirs(args.cache, exist_ok=True)
    cases = []
    for shape in SHAPES:
        path = os.path.join(args.cache, shape.name + ".gguf")
        if not os.path.exists(path):
            print(f"writing {path}", file=sys.stderr)
            write_gguf(shape, path)
        chunks.clear()
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = 0
        mp.use_mmap = False
        model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
        if not model:
            raise SystemExit(f"llama.cpp could not load {path}:\n{''.join(chunks)[-2000:]}")
        model_mib = parse_buffers("".join(chunks)).get("model")
        for n_ctx in CONTEXTS:
            for n_ubatch in UBATCHES:
                for fa_name, fa in FLASH.items():
                    chunks.clear()
                    cp = llama_cpp.llama_context_default_params()
                    cp.n_ctx = n_ctx
                    cp.n_batch = max(n_ubatch, 2048)
                    cp.n_ubatch = n_ubatch
                    cp.flash_attn_type = fa
                    cp.n_threads = cp.n_threads_batch = 1
                    ctx = llama_cpp.llama_init_from_model(model, cp)
                    if not ctx:
                        raise SystemExit(f"no context for {shape.name} n_ctx={n_ctx}:\n{''.join(chunks)[-2000:]}")
                    log = "".join(chunks)
                    llama_cpp.llama_free(ctx)
                    sizes = parse_buffers(log)
                    enabled = "Flash Attention enabled" in log or "flash_attn            = enabled" in log
                    case = {"shape": shape.__dict__, "n_ctx": n_ctx, "n_ubatch": n_ubatch, "n_batch": cp.n_batch,
                            "flash_attn": fa_name, "flash_attn_resolved": enabled,
                            "model_mib": model_mib, "kv_mib": sizes.get("kv"), "output_mib": sizes.get("output"),
                            "compute_mib": sizes.get("compute")}
                    cases.append(case)
                    print(f"{shape.name:24s} ctx {n_ctx:5d} ub {n_ubatch:4d} fa {fa_name:4s}->{enabled!s:5s} "
                          f"compute {case['compute_mib']:9.2f} kv {case['kv_mib']:8.2f} model {model_mib:8.2f} MiB",
                          file=sys.stderr)
        llama_cpp.llama_model_free(model)
    result = {"tool": f"llama-cpp-python {llama_cpp.__version__}", "machine": platform.machine(),
              "command": "make accuracy (python benchmarks/accuracy/llamacpp_measure.py)", "unit": "MiB as llama.cpp logs them (%.2f)",
              "cases": cases}
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.out)
    print(f"wrote {len(cases)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
