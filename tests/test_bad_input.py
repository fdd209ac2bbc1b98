"""Every malformed file, config or argument ends in exit 2 with one clear line on stderr, never a traceback."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable

import pytest

from quantcore.cli import main

LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 2048}


def _st(header: bytes | dict, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def _write(name: str, content: bytes | str | dict | list) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            p.write_text(json.dumps(content))
        elif isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
        return str(p)
    return make


def _config(**changes: object) -> Callable[[Path], str]:
    cfg = {**LLAMA, **changes}
    cfg = {k: v for k, v in cfg.items() if v is not _DROP}
    return _write("config.json", cfg)


_DROP = object()
_T = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}

# (case id, function making the model argument in a temp folder)
MODEL_CASES: list[tuple[str, Callable[[Path], str]]] = [
    ("missing file", lambda t: str(t / "nope" / "model.safetensors")),
    ("missing gguf", lambda t: str(t / "nope.gguf")),
    ("empty safetensors", _write("a.safetensors", b"")),
    ("3-byte safetensors", _write("a.safetensors", b"abc")),
    ("header claims 10 GB", _write("a.safetensors", _st(b"{}", length=10 * 10**9))),
    ("header longer than file", _write("a.safetensors", _st(b'{"a":1}', length=5000))),
    ("header not JSON", _write("a.safetensors", _st(b"{not json}"))),
    ("header is a list", _write("a.safetensors", _st(b"[1,2,3]"))),
    ("header invalid utf-8", _write("a.safetensors", _st(b'{"\xff\xfe": 1}'))),
    ("tensor without dtype", _write("a.safetensors", _st({"w": {"shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8))),
    ("negative shape", _write("a.safetensors", _st({"w": {**_T, "shape": [-2, 2]}}, b"\0" * 16))),
    ("offsets past end", _write("a.safetensors", _st({"w": {**_T, "data_offsets": [0, 16]}}, b"\0" * 4))),
    ("offsets reversed", _write("a.safetensors", _st({"w": {**_T, "data_offsets": [16, 0]}}, b"\0" * 16))),
    ("bytes disagree with dtype", _write("a.safetensors", _st({"w": {**_T, "data_offsets": [0, 12]}}, b"\0" * 16))),
    ("only metadata", _write("a.safetensors", _st({"__metadata__": {"format": "pt"}}))),
    ("shape not a list", _write("a.safetensors", _st({"w": {**_T, "shape": "2x2"}}, b"\0" * 16))),
    ("empty gguf", _write("a.gguf", b"")),
    ("random gguf", _write("a.gguf", b"GGUF" + bytes(range(256)) * 2)),
    ("gguf wrong magic", _write("a.gguf", b"NOPE" + b"\0" * 64)),
    ("config malformed JSON", _write("config.json", '{"model_type": "llama",')),
    ("config is a list", _write("config.json", [1, 2])),
    ("config empty object", _write("config.json", {})),
    ("config binary", _write("config.json", b"\x89PNG\r\n\x1a\n\xff\xfe")),
    ("unknown model_type", _config(model_type="mamba_vision_xl")),
    ("llama missing hidden_size", _config(hidden_size=_DROP)),
    ("llama negative hidden_size", _config(hidden_size=-256)),
    ("llama string hidden_size", _config(hidden_size="abc")),
    ("llama zero heads", _config(num_attention_heads=0)),
    ("llama zero vocab", _config(vocab_size=0)),
    ("llama missing layers", _config(num_hidden_layers=_DROP)),
    ("empty folder", lambda t: str(t)),
    ("two gguf in folder", lambda t: (_write("x/a.gguf", b"GGUF")(t), _write("x/b.gguf", b"GGUF")(t), str(t / "x"))[2]),
    ("index with missing shard", _write("model.safetensors.index.json",
                                        {"metadata": {}, "weight_map": {"w": "model-00001-of-00002.safetensors"}})),
    ("index without weight_map", _write("model.safetensors.index.json", {"metadata": {}, "weight_map": 3})),
    ("text file", _write("notes.txt", "hello")),
    ("unknown repo id", lambda t: "no-such-org/no-such-model"),
    ("count too small", lambda t: "10M"),
    ("count absurd", lambda t: "1000T"),
    ("empty model string", lambda t: "  "),
]

ARG_CASES: list[tuple[str, list[str]]] = [
    ("batch zero", ["--batch", "0"]),
    ("batch negative", ["--batch", "-1"]),
    ("batch absurd", ["--batch", "10000000"]),
    ("batch not a number", ["--batch", "abc"]),
    ("context zero", ["--context", "0"]),
    ("context absurd", ["--context", "999999999"]),
    ("unknown precision", ["--precision", "bogus"]),
    ("empty precision list", ["--precision", ","]),
    ("unknown gpu", ["--gpu", "nvidia-zz9000"]),
    ("unknown mode", ["--mode", "pretrain-ish"]),
    ("unknown kv dtype", ["--kv-dtype", "fp3"]),
    ("unknown optimizer", ["--optimizer", "lion9"]),
    ("zero stage 5", ["--zero", "5"]),
    ("bad overhead", ["--overhead", "lots"]),
    ("negative lora rank", ["--lora-rank", "0"]),
    ("unknown recompute", ["--recompute", "sometimes"]),
    ("unknown engine", ["--engine", "turbo"]),
    ("report bad suffix", ["--report", "plan.docx"]),
    ("report missing folder", ["--report", "/nonexistent-dir/x/plan.json"]),
    ("full fine-tune at q4_k_m", ["--mode", "full", "--precision", "q4_k_m"]),
    ("unknown flag", ["--frobnicate"]),
]


def _assert_one_line_error(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    out, err = capsys.readouterr()
    assert rc == 2, f"exit {rc}; stderr={err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("quantplanner: error: ")
    assert len(lines[0]) > 30  # says something a person can act on
    return lines[0]


@pytest.mark.parametrize("case,make", MODEL_CASES, ids=[c for c, _ in MODEL_CASES])
def test_bad_model_inputs(case: str, make: Callable[[Path], str], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    model = make(tmp_path)
    _assert_one_line_error(capsys, main(["plan", model, "--precision", "bf16"]))


@pytest.mark.parametrize("case,args", ARG_CASES, ids=[c for c, _ in ARG_CASES])
def test_bad_arguments(case: str, args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _assert_one_line_error(capsys, main(["plan", "7B", *args]))
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("argv", [["frobnicate"], ["plan"], ["fit"], ["fit", "--gpu", "nvidia-zz9000"]])
def test_bad_commands(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _assert_one_line_error(capsys, main(argv))


def test_error_names_supported_families(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _assert_one_line_error(capsys, main(["plan", _config(model_type="mamba_vision_xl")(tmp_path)]))
    assert "llama" in line and "gpt2" in line and "mamba_vision_xl" in line


def test_case_count() -> None:
    assert len(MODEL_CASES) + len(ARG_CASES) >= 40
