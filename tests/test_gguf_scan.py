"""GGUF headers walked by quantcore.sources.gguf_scan against the gguf package's own reader (the reference), on
files gguf.GGUFWriter writes and on the real llama.cpp-written SmolLM2-135M Q4_1 file; the "as stored" plan row."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from quantcore.errors import ModelFileError
from quantcore.planner.hardware import find_gpu
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.gguf_header import gguf_inventory, gguf_parts, read_gguf
from quantcore.sources.gguf_scan import ggml_types, read_header, scan

TOKENS = [f"tok{i}" + "x" * (i % 13) for i in range(5000)]


def _write(path: Path) -> None:
    """A small GGUF with every metadata value type, numeric and string arrays, a tokenizer, and quantized tensors
    whose bytes come from the gguf package's own quantizers."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(4096)
    w.add_embedding_length(256)
    w.add_feed_forward_length(512)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.bool", True)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", 1e-300)
    w.add_string("test.str", "héllo ✓")
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.5, 1.5])
    w.add_array("test.strings", ["a", "", "ccc"])
    w.add_token_list(TOKENS)
    w.add_token_scores([float(i) for i in range(len(TOKENS))])
    w.add_token_types([1] * len(TOKENS))
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((len(TOKENS), 256), dtype=np.float32).astype(np.float16))
    for i in range(2):
        for name, qtype, shape in (("attn_q", gguf.GGMLQuantizationType.Q4_0, (256, 256)),
                                   ("attn_k", gguf.GGMLQuantizationType.Q8_0, (128, 256)),
                                   ("ffn_up", gguf.GGMLQuantizationType.MXFP4, (512, 256)),
                                   ("ffn_down", gguf.GGMLQuantizationType.Q4_1, (256, 512))):
            data = gguf.quants.quantize(rng.standard_normal(shape, dtype=np.float32), qtype)
            w.add_tensor(f"blk.{i}.{name}.weight", data, raw_dtype=qtype)
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(256, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "small.gguf"
    _write(path)
    return path


def test_metadata_and_tensors_equal_the_gguf_readers(small_gguf: Path) -> None:
    reader = gguf.GGUFReader(str(small_gguf))
    meta, tensors, data_start = read_header(small_gguf)
    theirs = {name: f.contents() for name, f in reader.fields.items()}
    for key, value in theirs.items():
        if key.startswith("tokenizer.ggml."):
            assert meta[key] == len(value)  # skipped by length: only the element count is kept
        elif isinstance(value, float):
            assert meta[key] == pytest.approx(value, rel=1e-7)
        elif isinstance(value, list) and value and isinstance(value[0], float):
            assert meta[key] == pytest.approx(value)
        else:
            assert meta[key] == value, key
    assert meta["test.u64"] == 2**63 + 5 and meta["test.str"] == "héllo ✓" and meta["test.strings"] == ["a", "", "ccc"]
    assert data_start == reader.data_offset
    assert [(n, tuple(reversed(d)), ggml_types()[t][0]) for n, d, t, _ in tensors] == [
        (t.name, tuple(int(x) for x in reversed(list(t.shape))), t.tensor_type.name) for t in reader.tensors]
    assert [off for *_, off in tensors] == [int(t.data_offset) - reader.data_offset for t in reader.tensors]


def test_inventory_equals_the_one_from_gguf_reader(small_gguf: Path) -> None:
    ours = read_gguf(small_gguf)
    theirs = gguf_inventory(*gguf_parts(gguf.GGUFReader(str(small_gguf))), str(small_gguf), small_gguf.stem)
    assert ours == theirs
    assert ours.tensors == theirs.tensors and ours.arch == theirs.arch


def test_real_smollm2_file_equals_gguf_reader(smollm2_gguf: Path) -> None:
    # the llama.cpp-written file: 272 tensors, 49,152-token vocabulary and 48,900 merges in its header
    ours = read_gguf(smollm2_gguf)
    reader = gguf.GGUFReader(str(smollm2_gguf))
    assert ours == gguf_inventory(*gguf_parts(reader), str(smollm2_gguf), smollm2_gguf.stem)
    assert [t.nbytes for t in ours.tensors] == [int(t.n_bytes) for t in reader.tensors]
    assert {t.dtype for t in ours.tensors} == {"Q4_1", "Q8_0", "F32"}
    meta, _, _ = read_header(smollm2_gguf)
    assert meta["tokenizer.ggml.tokens"] == 49152 and meta["tokenizer.ggml.merges"] == 48900


def test_every_truncation_is_a_clear_error(small_gguf: Path, tmp_path: Path) -> None:
    data = small_gguf.read_bytes()
    _, _, header_end = read_header(small_gguf)
    cut = tmp_path / "cut.gguf"
    for n in sorted({0, 3, 4, 8, 23, 24, 100, header_end // 3, header_end // 2, header_end - 40, header_end - 9}):
        cut.write_bytes(data[:n])
        with pytest.raises(ModelFileError) as err:
            read_gguf(cut)
        assert "truncated" in str(err.value) or "empty" in str(err.value) or "not a readable" in str(err.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"GGML" + b[4:], "GGUF magic"),
    (lambda b: b[:4] + (7).to_bytes(4, "little") + b[8:], "version 7"),
    (lambda b: b[:16] + (2**40).to_bytes(8, "little") + b[24:], "implausible"),
])
def test_bad_headers_are_refused_in_one_line(small_gguf: Path, tmp_path: Path, mutate, message: str) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(mutate(small_gguf.read_bytes()))
    with pytest.raises(ModelFileError, match=message):
        read_gguf(bad)


def test_string_arrays_are_skipped_not_read(small_gguf: Path) -> None:
    meta, _, _ = scan(small_gguf.read_bytes())
    assert meta["tokenizer.ggml.tokens"] == len(TOKENS) and meta["tokenizer.ggml.scores"] == len(TOKENS)


def test_ggml_type_table_is_the_gguf_packages() -> None:
    for t in gguf.GGMLQuantizationType:
        if t in gguf.GGML_QUANT_SIZES:
            assert ggml_types()[int(t)] == (t.name, *gguf.GGML_QUANT_SIZES[t])


# ------------------------------------------------------------------------------------------------ as stored


def test_q4_1_file_plans_as_stored_first_with_its_exact_bytes(smollm2_gguf: Path) -> None:
    inv = read_gguf(smollm2_gguf)
    assert inv.quantization is None  # Q4_1 has no catalog precision
    plan = make_plan(inv, Workload(context=2048), None, (find_gpu("rtx-4090"),))
    row = plan.rows[0]
    # 210 Q4_1 matrices and the tied token embedding in Q8_0 (a fifth of the bytes)
    assert row.as_stored and row.precision.id == "stored" and row.precision.label == "as stored (Q4_1 + Q8_0)"
    reader = gguf.GGUFReader(str(smollm2_gguf))
    exact = sum(int(t.n_bytes) for t in reader.tensors)  # the gguf package's byte count of every stored tensor
    assert row.memory.weights == exact
    assert row.engine == "llamacpp" and row.precision.nominal_bits == 4 and row.precision.compute == "int8"
    assert row.bits_per_weight == pytest.approx(8 * exact / inv.parameters)
    # every catalog precision still follows, and "stored" can be asked for by name
    assert [r.precision.id for r in plan.rows[1:]][:3] == ["fp32", "fp16", "bf16"]
    only = make_plan(inv, Workload(), ("stored",), ())
    assert [r.precision.id for r in only.rows] == ["stored"] and only.rows[0].memory.weights == exact


def test_safetensors_file_plans_as_stored_in_its_dtype(minilm_dir: Path) -> None:
    from safetensors import safe_open

    from quantcore.sources.local import load_path

    inv = load_path(minilm_dir)
    plan = make_plan(inv, Workload(), None, ())
    row = plan.rows[0]
    assert row.as_stored and row.precision.label == "as stored (F32)" and row.engine == "hf"
    with safe_open(str(minilm_dir / "model.safetensors"), "np") as f:  # bytes of every stored weight, by safetensors
        exact = sum(f.get_tensor(k).nbytes for k in f.keys() if not k.endswith("position_ids"))
    assert row.memory.weights == exact


def test_config_only_models_have_no_as_stored_row() -> None:
    from quantcore.sources.source import load_model

    plan = make_plan(load_model("meta-llama/Llama-3.1-8B", use_hub=False), Workload(), None, ())
    assert not any(r.as_stored for r in plan.rows) and plan.rows[0].precision.id == "fp32"


def test_as_stored_weights_explained_with_the_files_own_bytes(smollm2_gguf: Path) -> None:
    from quantcore.planner.explain import explain

    inv = read_gguf(smollm2_gguf)
    text = explain(inv, "stored", Workload())["weights"]
    exact = sum(t.stored_bytes for t in inv.tensors)
    assert f"{exact:,} B" in text and "Q4_1 + Q8_0" in text
