"""Our ggml quantizers write the very bytes llama.cpp's llama_model_quantize wrote (fixtures from
tests/golden/make_ggml_fixtures.py, run against llama-cpp-python 0.3.36), and choose the same type per tensor."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantcore.formats import gguf_mix
from quantcore.formats.ggml_quants import BLOCKS, quantize_rows

from .ggml_fixture_inputs import digest, tiny_llama_tensors, write_f32_gguf

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = json.loads((FIXTURES / "ggml_llamacpp.json").read_text())


@pytest.fixture(scope="module")
def tensors(minilm_dir: Path) -> dict[str, np.ndarray]:
    got = dict(tiny_llama_tensors(minilm_dir))
    assert {k: digest(v) for k, v in got.items()} == GOLDEN["inputs"], "fixture inputs changed; rerun the script"
    return got


def _ours(type_name: str, x: np.ndarray) -> np.ndarray:
    return quantize_rows(type_name, x.reshape(-1, x.shape[-1]))


def _mismatches(run: dict[str, list[str]], tensors: dict[str, np.ndarray]) -> list[str]:
    return [f"{name} ({ty})" for name, (ty, want) in run.items() if digest(_ours(ty, tensors[name])) != want]


@pytest.mark.parametrize("type_name", sorted(GOLDEN["pure"]))
def test_every_tensor_equals_llama_cpp_bytes(type_name: str, tensors: dict[str, np.ndarray]) -> None:
    run = GOLDEN["pure"][type_name]
    assert {ty for ty, _ in run.values()} >= {type_name, "F32"}
    assert _mismatches(run, tensors) == []


@pytest.mark.parametrize("type_name", sorted(GOLDEN["pure"]))
def test_corner_case_blocks_equal_llama_cpp(type_name: str, tensors: dict[str, np.ndarray]) -> None:
    """Zero, constant, tiny, huge, one-sided, single-weight and tie-heavy blocks, compared block by block."""
    theirs = np.load(FIXTURES / "ggml_llamacpp_blocks.npz")[type_name]
    ours = _ours(type_name, tensors["output.weight"])[: theirs.shape[0]]
    block = BLOCKS[type_name][1]
    differ = np.nonzero((ours.reshape(-1, block) != theirs.reshape(-1, block)).any(axis=1))[0]
    assert differ.tolist() == []


def test_fallback_types_exercised() -> None:
    pure = GOLDEN["pure"]
    assert pure["Q4_K"]["blk.5.ffn_down.weight"][0] == "Q5_0"
    assert pure["Q6_K"]["blk.9.attn_k.weight"][0] == "Q8_0"
    assert pure["Q2_K"]["blk.9.attn_k.weight"][0] == "Q4_0"


@pytest.fixture(scope="module")
def inventory(tensors: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory):
    from quantcore.sources.gguf_header import read_gguf

    path = tmp_path_factory.mktemp("ggml") / "tiny-f32.gguf"
    write_f32_gguf(path, list(tensors.items()))
    return read_gguf(path)


@pytest.mark.parametrize("pid", sorted(GOLDEN["mix"]))
def test_mixtures_choose_llama_cpp_types_and_bytes(pid: str, tensors: dict[str, np.ndarray], inventory) -> None:
    run = GOLDEN["mix"][pid]
    planned = gguf_mix.tensor_types(inventory.tensors, pid, gguf_mix.context_for(inventory))
    assert {t.name: ty for t, ty, _ in planned} == {name: ty for name, (ty, _) in run.items()}
    assert len({ty for ty, _ in run.values()}) >= (2 if pid == "q8_0" else 3)  # kept F32, the base type, others
    assert _mismatches(run, tensors) == []
