"""The Hub source against a stand-in Hub (tests/hub_server.py): exact counts, bytes and requests per plan, caching,
offline mode, every error a person can hit, quantized / pickled / GGUF repos, search, and the CLI on top."""
from __future__ import annotations

import json
import math
import shutil
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from quantcore.cli import main
from quantcore.errors import (
    HubCancelledError,
    HubGatedRepoError,
    HubOfflineError,
    HubRateLimitError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    HubServerError,
    HubTimeoutError,
    ModelFileError,
)
from quantcore.formats import catalog as formats
from quantcore.model.arch import inventory_from_config
from quantcore.sources import hub as qhub
from quantcore.sources import hub_http as qhub_http
from quantcore.sources.bundled import find_bundled
from quantcore.sources.gguf_header import read_gguf
from quantcore.sources.source import load_model

if TYPE_CHECKING:
    from hub_server import StandInHub

pytest_plugins = ("hub_server",)  # the `hub_server` (session) and `hub` (per test) fixtures

GOLDEN = json.loads((Path(__file__).parent / "golden" / "counts_dense.json").read_text())
L70, L8, MISTRAL = "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.1"
TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 8,
        "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 2048, "torch_dtype": "bfloat16"}


def _data_bytes(files: dict[str, Path]) -> int:
    """Ground truth from the files themselves: file size minus the 8-byte length and the header."""
    total = 0
    for name, p in files.items():
        if name.endswith(".safetensors"):
            with p.open("rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
            total += p.stat().st_size - 8 - n
    return total


def _gptq(inv: Any, bits: int = 4, group: int = 128) -> list[tuple[str, tuple[int, ...], str]]:
    """AutoGPTQ's QuantLinear buffers (auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py): qweight int32
    [in // 32 * bits, out], qzeros int32 [ceil(in / group), out // 32 * bits], scales fp16 [ceil(in / group), out],
    g_idx int32 [in]; embeddings, norms and lm_head stay fp16 (GPTQ quantizes the decoder's linear layers)."""
    out: list[tuple[str, tuple[int, ...], str]] = []
    for t in inv.tensors:
        if t.role in ("attention", "mlp") and len(t.shape) == 2 and t.name.endswith(".weight"):
            o, i = t.shape
            stem = t.name[: -len(".weight")]
            g = math.ceil(i / group)
            out += [(f"{stem}.qweight", (i // 32 * bits, o), "I32"), (f"{stem}.qzeros", (g, o // 32 * bits), "I32"),
                    (f"{stem}.scales", (g, o), "F16"), (f"{stem}.g_idx", (i,), "I32")]
        else:
            out.append((t.name, tuple(t.shape), "F16"))
    return out


def _write_gguf(path: Path, ftype: int, qtype_name: str, vocab: int = 32000) -> None:
    """A llama GGUF written by the gguf package (header, metadata with a token list, tensor infos); the tensor
    data is a hole."""
    import gguf

    qtype = gguf.GGMLQuantizationType[qtype_name]
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_block_count(2)
    w.add_embedding_length(256)
    w.add_head_count(8)
    w.add_head_count_kv(2)
    w.add_context_length(4096)
    w.add_feed_forward_length(512)
    w.add_file_type(ftype)
    w.add_token_list([f"token-{i}" for i in range(vocab)])
    total = 0

    def info(name: str, shape: tuple[int, ...], quant: bool) -> None:
        nonlocal total
        t = qtype if quant else gguf.GGMLQuantizationType.F32
        b, s = (block, type_size) if quant else (1, 4)
        nbytes = math.prod(shape) * s // b
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=t)
        total += gguf.GGUFWriter.ggml_pad(nbytes, 32)

    info("token_embd.weight", (vocab, 256), True)
    for i in range(2):
        info(f"blk.{i}.attn_norm.weight", (256,), False)
        for name, shape in (("attn_q", (256, 256)), ("attn_k", (64, 256)), ("attn_v", (64, 256)),
                            ("attn_output", (256, 256)), ("ffn_gate", (512, 256)), ("ffn_up", (512, 256)),
                            ("ffn_down", (256, 512))):
            info(f"blk.{i}.{name}.weight", shape, True)
    info("output.weight", (vocab, 256), True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    with path.open("r+b") as fh:
        fh.seek(0, 2)
        fh.truncate(fh.tell() + (-fh.tell() % 32) + total)


@pytest.fixture(scope="module")
def repos(hub_server: StandInHub, tmp_path_factory: pytest.TempPathFactory,
          minilm_dir: Path) -> dict[str, dict[str, Path]]:
    from hub_server import tensors_of, write_sharded

    root = tmp_path_factory.mktemp("repos")
    made: dict[str, dict[str, Path]] = {}

    def add(repo_id: str, files: dict[str, Path], **info: Any) -> None:
        made[repo_id] = files
        hub_server.add_repo(repo_id, files, **info)

    b70 = find_bundled(L70)
    assert b70 is not None  # 30 shards, as the real repo (model-00001-of-00030.safetensors ...)
    add(L70, write_sharded(root / "l70", tensors_of(inventory_from_config(b70.config(), L70)), 30, b70.config()),
        downloads=900, parameters=GOLDEN[L70]["transformers_parameters"])
    add("sentence-transformers/all-MiniLM-L6-v2", {p.relative_to(minilm_dir).as_posix(): p
                                                    for p in minilm_dir.rglob("*") if p.is_file()},
        downloads=5000, library="sentence-transformers", pipeline_tag="sentence-similarity")
    b8 = find_bundled(L8)
    assert b8 is not None
    cfg = {**b8.config(), "torch_dtype": "float16", "quantization_config": {
        "quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True}}
    add("acme/llama-3.1-8b-gptq", write_sharded(root / "gptq", _gptq(inventory_from_config(b8.config())), 2, cfg),
        downloads=300)
    bm = find_bundled(MISTRAL)
    assert bm is not None
    (root / "pickled").mkdir()
    (root / "pickled" / "config.json").write_text(json.dumps(bm.config()))
    for i in (1, 2):
        (root / "pickled" / f"pytorch_model-0000{i}-of-00002.bin").write_bytes(b"PK\x03\x04 never fetched" * 100)
    add("acme/pickled-mistral", {p.name: p for p in (root / "pickled").iterdir()}, downloads=10)
    for rev, layers in (("main", 2), ("v2", 4)):
        cfg = {**TINY, "num_hidden_layers": layers}
        add("acme/tiny-llama", write_sharded(root / f"tiny-{rev}", tensors_of(inventory_from_config(cfg)), 1, cfg),
            revision=rev, downloads=50)
    cfg = {**TINY, "num_hidden_layers": 2}
    add("acme/gated-llama", write_sharded(root / "gated", tensors_of(inventory_from_config(cfg)), 1, cfg),
        gated=True, downloads=20)
    bad = write_sharded(root / "truncated", tensors_of(inventory_from_config(cfg)), 1, cfg)
    with bad["model.safetensors"].open("r+b") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        fh.truncate(8 + n // 2)
    add("acme/truncated", bad)
    huge = root / "huge" / "model.safetensors"
    huge.parent.mkdir()
    huge.write_bytes(struct.pack("<Q", 1 << 40) + b"{" * 4000)
    add("acme/huge-header", {"model.safetensors": huge})
    garbage = root / "garbage" / "model.safetensors"
    garbage.parent.mkdir()
    garbage.write_bytes(struct.pack("<Q", 64) + b"{not json" + b" " * 55 + b"\0" * 1000)
    add("acme/garbage-header", {"model.safetensors": garbage})
    (root / "gguf").mkdir()
    _write_gguf(root / "gguf" / "tiny-Q4_K_M.gguf", 15, "Q4_K")
    _write_gguf(root / "gguf" / "tiny-Q8_0.gguf", 7, "Q8_0")
    add("acme/tiny-gguf", {p.name: p for p in (root / "gguf").iterdir()}, library="gguf", downloads=70)
    return made


# -- exact inventories and what they cost ------------------------------------------------------------------------

def test_sharded_70b_exact_count_bytes_and_requests(hub: StandInHub, repos: dict) -> None:
    inv = qhub.resolve_model(L70)
    # transformers' LlamaForCausalLM parameter count for this config (tests/golden/counts_dense.json)
    assert inv.parameters == GOLDEN[L70]["transformers_parameters"] == 70_553_706_496
    assert inv.source == "safetensors" and inv.arch is not None and inv.arch.num_layers == 80
    size = _data_bytes(repos[L70])
    assert inv.stored_bytes == size
    shards = sum(1 for n in repos[L70] if n.endswith(".safetensors"))
    assert shards == 30
    assert hub.request_count <= shards + 3, [r.path for r in hub.requests]
    assert hub.bytes_sent < size * 1e-4  # under 0.01% of the model
    assert not any(r.path.endswith(".index.json") for r in hub.requests)


def test_cached_plan_then_offline(hub: StandInHub, repos: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    first = qhub.resolve_model(L70)
    hub.reset()
    again = qhub.resolve_model(L70)
    assert hub.request_count == 1  # model_info only: headers and config.json come from the caches
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset()
    offline = load_model(L70)
    assert hub.request_count == 0
    assert offline.tensors == again.tensors == first.tensors and offline.arch == first.arch
    assert "local cache" in offline.notes[0] and "HF_HUB_OFFLINE" in offline.notes[0]
    assert [t.name for t in offline.tensors][:3] == [t.name for t in first.tensors][:3]


def test_hub_down_after_a_first_plan_uses_the_cache(hub: StandInHub, repos: dict) -> None:
    first = qhub.resolve_model(L70)
    hub.fail(f"/api/models/{L70}", 503)
    again = load_model(L70)
    assert again.tensors == first.tensors and again.source == "safetensors"
    assert "HTTP 503" in again.notes[0] and "local cache" in again.notes[1]


def test_offline_without_cache(hub: StandInHub, repos: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE") as err:
        load_model("acme/tiny-llama")
    assert "bundled" in str(err.value) and "\n" not in str(err.value)
    inv = load_model(L8)  # a bundled id still plans, from its bundled config, and says why
    assert inv.source == "config" and inv.parameters == GOLDEN[L8]["transformers_parameters"]
    assert "HF_HUB_OFFLINE" in inv.notes[0]
    assert hub.request_count == 0


def test_offline_reads_a_snapshot_other_tools_downloaded(hub: StandInHub, repos: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants, hf_hub_download

    for name in ("config.json", "model.safetensors"):  # as transformers' from_pretrained would leave them
        hf_hub_download("acme/tiny-llama", name)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset()
    inv = load_model("acme/tiny-llama")
    assert inv.source == "safetensors" and inv.id == "acme/tiny-llama" and hub.request_count == 0
    expected = sum(math.prod(s) for _, s, _ in _tiny_tensors(2))
    assert inv.parameters == expected and "local Hugging Face cache" in inv.notes[0]


def test_bundled_id_falls_back_when_the_hub_fails(hub: StandInHub, repos: dict) -> None:
    hub.fail(f"/api/models/{L8}", 503)
    inv = load_model(L8)
    assert inv.source == "config" and inv.parameters == GOLDEN[L8]["transformers_parameters"]
    assert inv.notes[0].startswith("Hugging Face Hub not used") and "503" in inv.notes[0]


def test_minilm_via_hub_equals_local_read(hub: StandInHub, repos: dict, minilm_dir: Path) -> None:
    remote = qhub.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    local = load_model(str(minilm_dir))
    assert remote.tensors == local.tensors and remote.arch == local.arch
    assert remote.parameters == local.parameters and remote.stored_bytes == local.stored_bytes
    assert hub.request_count <= 1 + 3
    assert hub.bytes_sent < 110_000  # one 100 kB range read, not the 90 MB file


def _tiny_tensors(layers: int) -> list[tuple[str, tuple[int, ...], str]]:
    from hub_server import tensors_of

    return tensors_of(inventory_from_config({**TINY, "num_hidden_layers": layers}))


def test_revision_is_honoured(hub: StandInHub, repos: dict) -> None:
    main_inv = qhub.resolve_model("acme/tiny-llama")
    v2 = qhub.resolve_model("acme/tiny-llama", "v2")
    assert main_inv.arch is not None and v2.arch is not None
    assert (main_inv.arch.num_layers, v2.arch.num_layers) == (2, 4)
    expected = sum(math.prod(s) for _, s, _ in _tiny_tensors(4))
    assert v2.parameters == expected and "at v2" in v2.notes[0]
    with pytest.raises(HubRevisionNotFoundError, match="no revision 'nope'"):
        qhub.resolve_model("acme/tiny-llama", "nope")


# -- already-quantized, pickled and GGUF repos -------------------------------------------------------------------

def test_gptq_repo_is_planned_as_gptq_with_logical_parameters(hub: StandInHub, repos: dict) -> None:
    inv = qhub.resolve_model("acme/llama-3.1-8b-gptq")
    assert inv.quantization == "gptq-4bit-g128"
    assert inv.parameters == GOLDEN[L8]["transformers_parameters"]  # transformers' count, not packed int32s
    stored = _data_bytes(repos["acme/llama-3.1-8b-gptq"])
    assert inv.stored_bytes == stored
    # the plan's row for the checkpoint's own precision is the checkpoint
    assert formats.weight_bytes(inv, "gptq-4bit-g128") == stored
    q = next(t for t in inv.tensors if t.name == "model.layers.0.self_attn.q_proj.weight")
    assert q.shape == (4096, 4096) and q.role == "attention" and q.kind == "attn_q"
    assert not any(t.name.endswith((".qzeros", ".scales", ".g_idx")) for t in inv.tensors)


def test_mxfp4_checkpoint_counts_logical_parameters(tmp_path: Path) -> None:
    from hub_server import write_safetensors

    rid = "openai/gpt-oss-20b"
    b = find_bundled(rid)
    assert b is not None
    # the checkpoint's layout (openai/gpt-oss-20b model-0000i-of-00002.safetensors): each expert projection as
    # <name>_blocks uint8 [experts, out, in / 32, 16] (32 E2M1 values in 16 bytes) + <name>_scales uint8
    # [experts, out, in / 32] (one E8M0 scale per block); everything else bf16
    tensors: list[tuple[str, tuple[int, ...], str]] = []
    for t in inventory_from_config(b.config(), rid).tensors:
        if t.role == "expert" and len(t.shape) == 2:
            e, (i, o) = t.count, t.shape  # transformers' GptOssExperts parameters are [experts, in, out]
            tensors += [(f"{t.name}_blocks", (e, o, i // 32, 16), "U8"), (f"{t.name}_scales", (e, o, i // 32), "U8")]
        else:
            tensors.append((t.name, (t.count, *t.shape) if t.count > 1 else tuple(t.shape), "BF16"))
    size = write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps(b.config()))
    inv = load_model(str(tmp_path))
    assert inv.quantization == "mxfp4"
    # transformers' GptOssForCausalLM count (tests/golden/counts_moe.json), not the packed uint8 element count
    assert inv.parameters == 20_914_757_184
    with (tmp_path / "model.safetensors").open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
    assert inv.stored_bytes == size - 8 - n
    assert all(t.role != "buffer" for t in inv.tensors) and not any(t.name.endswith("_scales") for t in inv.tensors)


def _awq(name: str, o: int, i: int) -> list[tuple[str, tuple[int, ...], str]]:
    # AutoAWQ WQLinear_GEMM buffers (awq/modules/linear/gemm.py): qweight int32 [in, out // 8], qzeros int32
    # [in // group, out // 8], scales fp16 [in // group, out]
    return [(f"{name}.qweight", (i, o // 8), "I32"), (f"{name}.qzeros", (i // 128, o // 8), "I32"),
            (f"{name}.scales", (i // 128, o), "F16")]


def _bnb4(name: str, o: int, i: int) -> list[tuple[str, tuple[int, ...], str]]:
    # bitsandbytes Params4bit as transformers saves it: weight uint8 [n / 2, 1] plus the QuantState
    # (QuantState.as_dict(packed=True)): absmax uint8 per block of 64, nested absmax fp32 per 256 blocks,
    # the 16-entry code, the 256-entry nested code, and the packed JSON state
    n = o * i
    w = f"{name}.weight"
    return [(w, (n // 2, 1), "U8"), (f"{w}.absmax", (n // 64,), "U8"), (f"{w}.quant_map", (16,), "F32"),
            (f"{w}.nested_absmax", (math.ceil(n / 64 / 256),), "F32"), (f"{w}.nested_quant_map", (256,), "F32"),
            (f"{w}.quant_state.bitsandbytes__nf4", (120,), "U8")]


@pytest.mark.parametrize("method,pid", [("awq", "awq-4bit-g128"), ("bitsandbytes", "nf4")])
def test_packed_4bit_checkpoints_count_logical_parameters(tmp_path: Path, method: str, pid: str) -> None:
    from hub_server import write_safetensors

    cfg = {**TINY, "num_hidden_layers": 2, "quantization_config": (
        {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}
        if method == "awq" else
        {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
         "bnb_4bit_use_double_quant": True})}
    logical = inventory_from_config(cfg)
    tensors: list[tuple[str, tuple[int, ...], str]] = []
    for t in logical.tensors:
        if t.role in ("attention", "mlp") and len(t.shape) == 2:
            tensors += (_awq if method == "awq" else _bnb4)(t.name[: -len(".weight")], *t.shape)
        else:
            tensors.append((t.name, tuple(t.shape), "F16"))
    size = write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    inv = load_model(str(tmp_path))
    assert inv.quantization == pid
    assert inv.parameters == sum(math.prod(t.shape) for t in logical.tensors)  # the unquantized model's count
    assert {t.name: t.shape for t in inv.tensors} == {t.name: t.shape for t in logical.tensors}
    with (tmp_path / "model.safetensors").open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
    assert inv.stored_bytes == size - 8 - n


def test_pickle_only_repo_is_planned_from_config(hub: StandInHub, repos: dict) -> None:
    inv = qhub.resolve_model("acme/pickled-mistral")
    assert inv.source == "config"
    assert inv.parameters == GOLDEN[MISTRAL]["transformers_parameters"]
    assert any("pickled" in n and "nothing was downloaded" in n for n in inv.notes)
    assert not any(".bin" in r.path for r in hub.requests)


def test_gguf_repo_header_by_range_reads(hub: StandInHub, repos: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qhub, "GGUF_FIRST_READ_BYTES", 64 << 10)  # smaller than this header: it has to grow
    files = qhub.list_gguf_files("acme/tiny-gguf")
    assert sorted(f.name for f in files) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    hub.reset()
    inv = load_model("acme/tiny-gguf/tiny-Q8_0.gguf")
    from gguf import GGUFReader

    from quantcore.sources.gguf_header import gguf_inventory, gguf_parts

    path = repos["acme/tiny-gguf"]["tiny-Q8_0.gguf"]
    local = gguf_inventory(*gguf_parts(GGUFReader(str(path))), str(path), path.stem)  # the gguf package's reader
    assert inv.tensors == local.tensors and inv.arch == local.arch and inv.quantization == "q8_0"
    assert read_gguf(path).tensors == local.tensors

    data_start = GGUFReader(str(repos["acme/tiny-gguf"]["tiny-Q8_0.gguf"])).data_offset
    ranges = [r.range for r in hub.requests if r.range]
    assert len(ranges) >= 3  # 64 KiB, then grown until the tensor infos were complete
    assert max(int(r.split("-")[1]) for r in ranges) < 2 * data_start + 4096  # no tensor data beyond the header
    assert hub.bytes_sent < 2 * data_start + 16384
    default = qhub.resolve_model("acme/tiny-gguf")
    assert default.quantization == "q4_k_m" and "tiny-Q4_K_M.gguf" in default.notes[0]
    assert "plan one as acme/tiny-gguf/FILE.gguf: tiny-Q8_0.gguf" in default.notes[0]


# -- errors -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token,status", [(None, 401), ("hf_test_token", 403)])
def test_gated_repo(hub: StandInHub, repos: dict, monkeypatch: pytest.MonkeyPatch,
                    token: str | None, status: int) -> None:
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(HubGatedRepoError) as err:
        qhub.resolve_model("acme/gated-llama")
    msg = str(err.value)
    assert "acme/gated-llama" in msg and "HF_TOKEN" in msg and "hf auth login" in msg and "\n" not in msg
    assert hub.requests[-1].status == status and hub.requests[-1].auth == bool(token)


def test_repo_not_found(hub: StandInHub, repos: dict) -> None:
    with pytest.raises(HubRepoNotFoundError, match="no such model repository"):
        qhub.resolve_model("acme/does-not-exist")
    assert hub.request_count == 1


def test_server_error_is_retried_then_reported(hub: StandInHub, repos: dict) -> None:
    hub.fail("/api/models/acme/tiny-llama", 500)
    with pytest.raises(HubServerError, match="HTTP 500"):
        qhub.resolve_model("acme/tiny-llama")
    assert hub.request_count == qhub_http.RETRIES + 1


def test_transient_errors_on_a_shard_are_retried(hub: StandInHub, repos: dict) -> None:
    hub.fail("model-00007-of-00030", 502, times=2)
    inv = qhub.resolve_model(L70)
    assert inv.parameters == GOLDEN[L70]["transformers_parameters"]
    assert sum(1 for r in hub.requests if r.status == 502) == 2


def test_rate_limit(hub: StandInHub, repos: dict) -> None:
    hub.fail("/api/models/acme/tiny-llama", 429)
    with pytest.raises(HubRateLimitError, match="429") as err:
        qhub.resolve_model("acme/tiny-llama")
    assert "hf auth login" in str(err.value)
    assert hub.request_count == qhub_http.RETRIES + 1


def test_slow_answer_times_out(hub: StandInHub, repos: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qhub_http, "TIMEOUT_S", 0.3)
    monkeypatch.setattr(qhub_http, "RETRIES", 1)
    hub.slow("/api/models/acme/tiny-llama", 1.5)
    start = time.monotonic()
    with pytest.raises(HubTimeoutError, match="did not answer within 0.3 s"):
        qhub.resolve_model("acme/tiny-llama")
    assert time.monotonic() - start < 3


def test_truncated_header(hub: StandInHub, repos: dict) -> None:
    with pytest.raises(ModelFileError, match="truncated"):
        qhub.resolve_model("acme/truncated")


def test_header_claiming_a_terabyte_is_refused(hub: StandInHub, repos: dict) -> None:
    with pytest.raises(ModelFileError, match="claims 1,099,511,627,776 bytes; refusing"):
        qhub.resolve_model("acme/huge-header")
    assert hub.request_count == 2 and hub.bytes_sent < 10_000


def test_header_that_is_not_json(hub: StandInHub, repos: dict) -> None:
    with pytest.raises(ModelFileError, match="acme/garbage-header/model.safetensors: safetensors header is not valid"):
        qhub.resolve_model("acme/garbage-header")


def test_body_cut_off_midway(hub: StandInHub, repos: dict) -> None:
    hub.cut("/acme/tiny-llama/resolve/", 100, times=1)  # once: read again, then fine
    assert qhub.resolve_model("acme/tiny-llama").parameters > 0
    hub.reset()
    hub.cut("/acme/tiny-llama/resolve/", 100)
    with pytest.raises(HubServerError, match="broke off"):
        qhub.resolve_model("acme/tiny-llama", "v2")
    assert sum(1 for r in hub.requests if "/resolve/" in r.path) == qhub_http.RETRIES + 1


# -- progress, cancel, search -------------------------------------------------------------------------------------

def test_progress_and_cancel(hub: StandInHub, repos: dict) -> None:
    seen: list[tuple[str, float]] = []
    qhub.resolve_model(L70, progress=lambda m, f: seen.append((m, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 30
    cancel = threading.Event()
    shutil.rmtree(qhub.hub_cache.cache_root())  # forget the headers: fetch again, and cancel midway

    def progress(message: str, fraction: float) -> None:
        if "header 2/30" in message:
            cancel.set()

    hub.reset()
    with pytest.raises(HubCancelledError, match="cancelled"):
        qhub.resolve_model(L70, progress=progress, cancel=cancel)
    assert hub.request_count == 2  # model_info and one shard header; the second is cancelled before it is sent


def test_search_results(hub: StandInHub, repos: dict) -> None:
    found = qhub.search_models("acme", limit=3)
    assert [m.id for m in found] == ["acme/llama-3.1-8b-gptq", "acme/tiny-gguf", "acme/tiny-llama"]
    assert all(isinstance(m, qhub.HubModel) for m in found)
    (llama,) = qhub.search_models("Llama-3.1-70B")
    assert llama.parameters == GOLDEN[L70]["transformers_parameters"] and llama.downloads == 900
    assert llama.last_modified is not None and llama.last_modified.year == 2024 and not llama.gated
    (gated,) = qhub.search_models("gated")
    assert gated.gated


# -- command line -------------------------------------------------------------------------------------------------

def _one_line_error(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("quantplanner: error: "), err
    return lines[0]


def test_cli_plan_with_revision_and_inspect(hub: StandInHub, repos: dict,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "acme/tiny-llama", "--revision", "v2", "--precision", "bf16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["layers"] == 4 and data["model"]["source"] == "safetensors"
    assert main(["inspect", "acme/llama-3.1-8b-gptq"]) == 0
    out = capsys.readouterr().out
    assert "gptq-4bit-g128" in out and "attention" in out and f"{GOLDEN[L8]['transformers_parameters']:,}" in out
    assert main(["inspect", "acme/llama-3.1-8b-gptq", "--json", "--tensor",
                 "model.layers.0.self_attn.q_proj.weight"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["shape"] for t in data["tensors"]] == [[4096, 4096]]
    assert {r["role"] for r in data["roles"]} >= {"embedding", "attention", "mlp", "norm", "head"}
    assert main(["search", "acme", "--limit", "2", "--json"]) == 0
    assert [m["id"] for m in json.loads(capsys.readouterr().out)] == ["acme/llama-3.1-8b-gptq", "acme/tiny-gguf"]


@pytest.mark.parametrize("argv,needle", [
    (["plan", "acme/does-not-exist"], "no such model repository"),
    (["plan", "acme/gated-llama", "--precision", "bf16"], "HF_TOKEN"),
    (["inspect", "acme/tiny-llama", "--revision", "nope"], "no revision 'nope'"),
    (["inspect", "acme/tiny-llama", "--tensor", "no.such.tensor"], "no tensor matches"),
    (["plan", "7B", "--revision", "v2"], "--revision applies to Hub repo ids only"),
])
def test_cli_errors_are_one_line(hub: StandInHub, repos: dict, capsys: pytest.CaptureFixture[str],
                                 argv: list[str], needle: str) -> None:
    assert needle in _one_line_error(capsys, main(argv))


def test_models_lists_taken_dates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "taken"]
    rows = [ln.split() for ln in lines[2:]]
    assert len(rows) >= 40 and all(len(r) == 2 and len(r[1]) == 10 and r[1][4] == "-" for r in rows)
