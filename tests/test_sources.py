"""Model sources: safetensors headers (real file), GGUF headers (file written by the gguf package), counts."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from quantcore.errors import ModelFileError
from quantcore.model.count_model import from_parameter_count, parse_count
from quantcore.sources import safetensors_header
from quantcore.sources.gguf_header import read_gguf
from quantcore.sources.source import load_model


def test_real_safetensors_bytes_equal_file_size(minilm_dir: Path) -> None:
    # Ground truth: the size on disk of the real model.safetensors = 8 + header length + every tensor's bytes.
    path = minilm_dir / "model.safetensors"
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
    tensors = safetensors_header.read_file(path)
    assert 8 + header_len + sum(t.stored_bytes for t in tensors) == path.stat().st_size


def test_real_safetensors_parameters_match_loaded_tensors(minilm_dir: Path) -> None:
    # Ground truth: load the weights with safetensors' own torch loader and count elements of float tensors
    # (the file also stores the int64 position_ids buffer, which is not a parameter).
    from safetensors.torch import load_file

    loaded = load_file(str(minilm_dir / "model.safetensors"))
    expected = sum(t.numel() for t in loaded.values() if t.is_floating_point())
    inv = load_model(str(minilm_dir))
    assert inv.source == "safetensors"
    assert inv.parameters == expected
    assert inv.stored_bytes == sum(t.numel() * t.element_size() for t in loaded.values())
    # the model card: "22.7M parameters" (sentence-transformers/all-MiniLM-L6-v2)
    assert round(inv.parameters / 1e6, 1) == 22.7


def test_folder_takes_architecture_from_config(minilm_dir: Path) -> None:
    config = json.loads((minilm_dir / "config.json").read_text())
    inv = load_model(str(minilm_dir))
    assert inv.arch is not None
    assert inv.arch.num_layers == config["num_hidden_layers"] == 6
    assert inv.arch.hidden_size == config["hidden_size"] == 384
    assert inv.arch.num_heads == config["num_attention_heads"]


def test_single_safetensors_file(minilm_dir: Path) -> None:
    inv = load_model(str(minilm_dir / "model.safetensors"))
    assert inv.source == "safetensors" and inv.arch is not None and inv.arch.hidden_size == 384


def _write_gguf(path: Path) -> dict[str, int]:
    """A tiny llama-style GGUF written by the gguf package itself; returns tensor name -> bytes it wrote."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(2048)
    w.add_feed_forward_length(128)
    w.add_file_type(7)
    rng = np.random.default_rng(0)
    sizes: dict[str, int] = {}

    def add(name: str, arr: np.ndarray, qtype: "gguf.GGMLQuantizationType") -> None:
        data = gguf.quants.quantize(arr, qtype) if qtype != gguf.GGMLQuantizationType.F32 else arr
        w.add_tensor(name, data, raw_dtype=qtype)
        sizes[name] = data.nbytes

    q8 = gguf.GGMLQuantizationType.Q8_0
    add("token_embd.weight", rng.standard_normal((100, 64), dtype=np.float32), q8)
    for i in range(2):
        add(f"blk.{i}.attn_norm.weight", np.ones(64, dtype=np.float32), gguf.GGMLQuantizationType.F32)
        add(f"blk.{i}.attn_q.weight", rng.standard_normal((64, 64), dtype=np.float32), q8)
        add(f"blk.{i}.attn_k.weight", rng.standard_normal((32, 64), dtype=np.float32), q8)
        add(f"blk.{i}.ffn_down.weight", rng.standard_normal((64, 128), dtype=np.float32), gguf.GGMLQuantizationType.Q4_0)
    add("output.weight", rng.standard_normal((100, 64), dtype=np.float32), q8)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sizes


def test_gguf_header_bytes_and_shapes(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    sizes = _write_gguf(path)
    inv = read_gguf(path)
    assert inv.source == "gguf"
    assert {t.name: t.stored_bytes for t in inv.tensors} == sizes
    q = next(t for t in inv.tensors if t.name == "blk.1.attn_k.weight")
    assert q.shape == (32, 64) and q.dtype == "Q8_0" and q.kind == "attn_k" and q.layer == 1
    assert inv.arch is not None
    assert (inv.arch.num_layers, inv.arch.hidden_size, inv.arch.num_heads, inv.arch.num_kv_heads) == (2, 64, 4, 2)
    assert inv.arch.max_context == 2048 and inv.arch.vocab_size == 100
    assert inv.quantization == "q8_0"
    assert inv.parameters == 100 * 64 * 2 + 2 * (64 + 64 * 64 + 32 * 64 + 64 * 128)


def test_gguf_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 40)
    with pytest.raises(ModelFileError):
        read_gguf(bad)


@pytest.mark.parametrize("text,expected", [("7B", 7 * 10**9), ("1.5t", 15 * 10**11), ("350M", 350 * 10**6),
                                           ("7e9", 7 * 10**9), ("70b", 70 * 10**9), ("llama", None)])
def test_parse_count(text: str, expected: int | None) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("n", [50_000_000, 1_000_000_000, 7_000_000_000, 70_000_000_000, 405_000_000_000])
def test_count_guess_is_exact_and_flagged(n: int) -> None:
    inv = from_parameter_count(n)
    assert inv.parameters == n
    assert inv.source == "count"
    assert any("guess" in note for note in inv.notes)
    assert inv.arch is not None and inv.arch.num_layers >= 1
