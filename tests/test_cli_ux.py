"""The command line for people: tables that fit the terminal and name their units, contexts as 8k/32k, `fit` as
a table with --sort / --min-bits / --json, a bare memory size as --gpu, --version."""
from __future__ import annotations

import json

import pytest

from quantcore import __version__
from quantcore.cli import main
from quantcore.formats.catalog import PRECISIONS
from quantcore.planner.hardware import find_gpu
from quantcore.units import parse_tokens


def test_precisions_fit_the_terminal_or_go_wide(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["precisions"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "bits/w" in out.splitlines()[0] and "q4_k_m" in out
    assert main(["precisions", "--wide"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert len(wide) == len(PRECISIONS) + 2 and "defined by" in wide[0]  # one line per precision, every column


def test_table_headers_state_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    for unit in ("memory (GiB)", "bandwidth (GB/s)", "(TFLOPS)", "price (USD)"):
        assert unit in header
    assert main(["plan", "7B", "--gpu", "l4", "--precision", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "memory in GiB" in out and "max context (tokens)" in out


@pytest.mark.parametrize("text, tokens", [("8k", 8192), ("32K", 32768), ("128k", 131072), ("8,192", 8192),
                                          ("4096", 4096), ("1.5k", 1536), ("1M", 1048576)])
def test_context_accepts_k(text: str, tokens: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_tokens(text) == tokens
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--precision", "bf16", "--context", text, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["context"] == tokens


def test_bad_context_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "7B", "--context", "8x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "token count" in err


def test_fit_is_a_table_sorted_and_filtered(capsys: pytest.CaptureFixture[str]) -> None:
    models = ["meta-llama/Llama-3.1-8B", "Qwen/Qwen2.5-0.5B", "meta-llama/Llama-3.1-70B", "google/gemma-2-9b"]
    args = ["fit", "--gpu", "rtx-4090"] + [a for m in models for a in ("--model", m)]
    assert main(args + ["--sort", "params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("On NVIDIA GeForce RTX 4090") and "memory (GiB)" in lines[1]
    rows = [line.split()[0] for line in lines[3:]]
    assert rows == ["google/gemma-2-9b", "meta-llama/Llama-3.1-8B", "Qwen/Qwen2.5-0.5B", "meta-llama/Llama-3.1-70B"]
    assert "does not fit" in lines[-1]
    data = json.loads(_out(capsys, args + ["--json", "--min-bits", "4", "--sort", "headroom"]))
    best = {m["model"]: m for m in data["models"]}
    assert all(r["precision"] not in ("q3_k_m", "q2_k", "int3-g128", "int2-g64") for r in data["rows"])
    assert best["meta-llama/Llama-3.1-70B"]["best"] is None  # 70B needs fewer than 4 bits on 24 GB
    usable = find_gpu("rtx-4090").usable_bytes
    fits = [m for m in data["models"] if m["best"]]
    assert [m["headroom_bytes"] for m in fits] == sorted((m["headroom_bytes"] for m in fits), reverse=True)
    for m in fits:
        row = next(r for r in data["rows"] if r["model"] == m["model"] and r["precision"] == m["best"])
        assert row["fits"] and m["total_bytes"] == row["total_bytes"] and m["headroom_bytes"] == usable - row["total_bytes"]
    without = json.loads(_out(capsys, args + ["--json"]))  # --min-bits leaves out exactly the rows under 4 bits
    low = {p.id for p in PRECISIONS if p.nominal_bits < 4}
    assert {r["precision"] for r in without["rows"]} - {r["precision"] for r in data["rows"]} == low


def _out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_fit_on_a_bare_memory_size(capsys: pytest.CaptureFixture[str]) -> None:
    """--gpu 24GB reads like the catalog's 24 GB cards (vendors' GB are GiB): the same answers as an RTX 4090."""
    sized = json.loads(_out(capsys, ["fit", "--gpu", "24GB", "--model", "meta-llama/Llama-3.1-8B", "--json"]))
    named = json.loads(_out(capsys, ["fit", "--gpu", "rtx-4090", "--model", "meta-llama/Llama-3.1-8B", "--json"]))
    assert sized["usable_bytes"] == named["usable_bytes"] == 24 * 2**30
    assert [(r["precision"], r["fits"], r["total_bytes"]) for r in sized["rows"]] == \
        [(r["precision"], r["fits"], r["total_bytes"]) for r in named["rows"]]
    assert "On a 24 GB GPU" in _out(capsys, ["fit", "--gpu", "24 GiB", "--model", "meta-llama/Llama-3.1-8B"])
    assert main(["plan", "7B", "--gpu", "24GB"]) == 2
    assert "`quantplanner fit`" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    # main() returns argparse's exit status instead of raising SystemExit (it never raises: issue 8's last resort)
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"quantplanner {__version__}"
