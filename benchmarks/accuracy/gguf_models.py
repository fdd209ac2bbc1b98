"""Synthetic GGUF files for the accuracy suite: real llama.cpp layouts (llama, qwen2) with random weights.

Written with the `gguf` package (F16, Q8_0 through its numpy quantizer; Q4_K as valid blocks built here, because
gguf-py has no K-quant quantizer): the values do not matter for buffer sizes, only shapes, types and the vocabulary.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shape:
    name: str
    arch: str  # llama.cpp architecture: llama | qwen2
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_layer: int
    n_vocab: int
    qtype: str  # F16 | Q8_0 | Q4_K
    tied: bool = False
    n_expert: int = 0  # Mixtral-style MoE in the llama layout when > 0
    n_expert_used: int = 0

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


# Several shapes: MHA and GQA, small and large vocabularies (up to Llama 3's 128,256), three weight types.
SHAPES = (
    Shape("llama-mha-32k-f16", "llama", 512, 8, 8, 1536, 2, 32000, "F16"),
    Shape("llama3-gqa-128k-q4k", "llama", 512, 8, 2, 1536, 2, 128256, "Q4_K"),
    Shape("qwen2-gqa-64k-q8", "qwen2", 512, 8, 2, 2048, 2, 65536, "Q8_0", tied=True),
    Shape("llama-32head-4k-f16", "llama", 1024, 32, 8, 2816, 2, 4096, "F16"),
    Shape("llama-6layer-512v-f16", "llama", 1024, 32, 8, 2816, 6, 512, "F16"),
    Shape("mixtral-8x2-32k-f16", "llama", 512, 8, 2, 768, 2, 32000, "F16", n_expert=8, n_expert_used=2),
    Shape("moe-16x4-512v-f16", "llama", 512, 8, 2, 1024, 3, 512, "F16", n_expert=16, n_expert_used=4),
)


def _f16(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)


def _q4_k(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Valid Q4_K blocks (144 bytes per 256 weights: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 of nibbles)."""
    assert cols % 256 == 0
    blocks = rows * cols // 256
    out = np.empty((blocks, 144), dtype=np.uint8)
    out[:, 0:2] = np.frombuffer(np.float16(0.001).tobytes(), dtype=np.uint8)
    out[:, 2:4] = np.frombuffer(np.float16(0.0).tobytes(), dtype=np.uint8)
    out[:, 4:16] = rng.integers(0, 64, size=(blocks, 12), dtype=np.uint8)
    out[:, 16:] = rng.integers(0, 256, size=(blocks, 128), dtype=np.uint8)
    return out.reshape(rows, cols // 256 * 144)


def _matrix(w, gguf, rng, name: str, rows: int, cols: int, qtype: str) -> None:
    if qtype == "F16":
        w.add_tensor(name, _f16(rng, rows, cols))
    elif qtype == "Q8_0":
        data = gguf.quants.quantize(_f16(rng, rows, cols).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    elif qtype == "Q4_K":
        w.add_tensor(name, _q4_k(rng, rows, cols), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    else:
        raise ValueError(qtype)


def write_gguf(shape: Shape, path: str) -> str:
    """Write `shape` as a GGUF file at path (atomically); returns path."""
    import gguf

    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, shape.arch)
    w.add_context_length(131072)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(500000.0)
    w.add_rope_dimension_count(shape.head_dim)
    w.add_file_type({"F16": 1, "Q8_0": 7, "Q4_K": 15}[shape.qtype])
    if shape.n_expert:
        w.add_expert_count(shape.n_expert)
        w.add_expert_used_count(shape.n_expert_used)
    # an SPM-style vocabulary: unk, bos, eos, the 256 byte tokens, then fillers
    n = shape.n_vocab
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"tok{i}" for i in range(n - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(0)
    e, hd, q = shape.n_embd, shape.head_dim, shape.qtype
    _matrix(w, gguf, rng, "token_embd.weight", n, e, q)
    w.add_tensor("output_norm.weight", np.ones(e, np.float32))
    if not shape.tied:
        _matrix(w, gguf, rng, "output.weight", n, e, q)
    for i in range(shape.n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(e, np.float32))
        _matrix(w, gguf, rng, f"blk.{i}.attn_q.weight", shape.n_head * hd, e, q)
        _matrix(w, gguf, rng, f"blk.{i}.attn_k.weight", shape.n_head_kv * hd, e, q)
        _matrix(w, gguf, rng, f"blk.{i}.attn_v.weight", shape.n_head_kv * hd, e, q)
        if shape.arch == "qwen2":
            w.add_tensor(f"blk.{i}.attn_q.bias", np.zeros(shape.n_head * hd, np.float32))
            w.add_tensor(f"blk.{i}.attn_k.bias", np.zeros(shape.n_head_kv * hd, np.float32))
            w.add_tensor(f"blk.{i}.attn_v.bias", np.zeros(shape.n_head_kv * hd, np.float32))
        _matrix(w, gguf, rng, f"blk.{i}.attn_output.weight", e, shape.n_head * hd, q)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(e, np.float32))
        if shape.n_expert:
            x, f = shape.n_expert, shape.n_ff
            w.add_tensor(f"blk.{i}.ffn_gate_inp.weight", (rng.standard_normal((x, e)) * 0.02).astype(np.float32))
            for name, rows, cols in (("gate", f, e), ("up", f, e), ("down", e, f)):
                data = (rng.standard_normal((x, rows, cols), dtype=np.float32) * 0.02).astype(np.float16)
                w.add_tensor(f"blk.{i}.ffn_{name}_exps.weight", data)
            continue
        _matrix(w, gguf, rng, f"blk.{i}.ffn_gate.weight", shape.n_ff, e, q)
        _matrix(w, gguf, rng, f"blk.{i}.ffn_up.weight", shape.n_ff, e, q)
        _matrix(w, gguf, rng, f"blk.{i}.ffn_down.weight", e, shape.n_ff, q if shape.n_ff % 256 == 0 else "F16")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path
