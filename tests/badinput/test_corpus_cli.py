"""The bad-input corpus through the command line, in process (quantcore.cli.main): every case ends in exit 2 with
one clean stderr line (exit 0 where the input is valid), no traceback, no file outside its folder, the fake token
nowhere, within its time bound."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cases_hub import hub_cases
from cases_args import local_cases
from corpus import CLASSES, FAKE_TOKEN, Case, unique

from quantcore.cli import main

pytest_plugins = ("hub_server",)

LOCAL = unique(local_cases())
HUB = unique(hub_cases())
ALLOWED = {"inputs", "work", "hf-home", "outside", "repo-files"}
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_corpus_size_and_classes() -> None:
    cases = unique(LOCAL + HUB)
    assert len(cases) >= 300, len(cases)
    per_class = {c: sum(1 for x in cases if x.cls == c) for c in CLASSES}
    assert all(n >= 8 for n in per_class.values()), per_class


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for d in ("inputs", "work", "hf-home", "outside"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def _run(case: Case, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         before: Any = None) -> tuple[int, str, str, float, list[str]]:
    made = case.make(root)
    argv, env = made if isinstance(made, tuple) else (made, {})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    if before is not None:
        before()
    capsys.readouterr()
    start = time.monotonic()
    rc = main(argv)
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    return rc, out, err, elapsed, argv


def _check(case: Case, root: Path, rc: int, out: str, err: str, elapsed: float, argv: list[str]) -> None:
    assert elapsed < case.seconds, f"{elapsed:.1f} s (bound {case.seconds} s)"
    assert "Traceback" not in out + err
    assert FAKE_TOKEN not in out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if case.ok:
        assert rc == 0, f"exit {rc}: {err!r}"
        assert not lines, err
        if "--json" in argv:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))
    else:
        assert rc == 2, f"exit {rc}; stdout={out[:300]!r} stderr={err!r}"
        assert len(lines) == 1 and err.endswith("\n") and err.count("\n") == 1, err
        assert lines[0].startswith("quantplanner: error: ") and len(lines[0]) > 30, lines[0]
        assert not _CONTROL.search(lines[0]), repr(lines[0])
        assert case.needle.lower() in lines[0].lower(), (case.needle, lines[0])
    assert not _CONTROL.search(out.replace("\n", "")), repr(out[:500])
    assert not any((root / "outside").iterdir()), list((root / "outside").iterdir())
    assert not list(Path("/tmp").glob("quantplanner-pwned*"))
    stray = [p.name for p in root.iterdir() if p.name not in ALLOWED]
    assert not stray, f"files outside the case folders: {stray}"
    for d in ("hf-home", "work"):
        for p in (root / d).rglob("*"):
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 50 << 20:
                assert FAKE_TOKEN.encode() not in p.read_bytes(), p
    if case.check is not None:
        case.check(root, out, err)


@pytest.mark.parametrize("case", LOCAL, ids=[c.id for c in LOCAL])
def test_local(case: Case, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hub_server import point_huggingface_hub_at

    # offline, and this case's own HF_HOME: whatever the case caches stays in its folder
    point_huggingface_hub_at(monkeypatch, "http://127.0.0.1:9", root / "hf-home", offline=True)
    _check(case, root, *_run(case, root, monkeypatch, capsys))


@pytest.mark.parametrize("case", HUB, ids=[c.id for c in HUB])
def test_hub(case: Case, hub: Any, root: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import constants

    from quantcore.sources import hub_http, safe_http

    if "short-deadline" in case.tags:  # the real deadline (15 s) is measured by benchmarks/hub_giveup.py
        monkeypatch.setattr(safe_http, "DEADLINE_S", 1.5)
        monkeypatch.setattr(hub_http, "TIMEOUT_S", 1.0)
    assert case.hub is not None

    def before() -> None:
        case.hub(hub, root)
        if "offline" in case.tags:
            monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    _check(case, root, *_run(case, root, monkeypatch, capsys, before))
