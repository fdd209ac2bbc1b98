"""Report files are written whole or not at all, with ordinary permissions; failures are one line, exit 2."""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quantcore.cli import main
from quantcore.errors import BadInputError
from quantcore.report import write as report_write
from quantcore.report.write import write_report

ROOT = Path(__file__).resolve().parents[1]
PLAN = ["plan", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090"]


def _one_line_error(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("quantplanner: error: "), err
    return lines[0]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_get_0644_less_the_umask(tmp_path: Path, mask: int, mode: int,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(mask)
    try:
        assert main([*PLAN, "--report", str(tmp_path / "plan.md")]) == 0
    finally:
        os.umask(old)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 4  # the .md and its three charts, no temporary file
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == mode, f.name


@pytest.mark.parametrize("target", ["/proc/quantplanner-report.pdf", "/sys/quantplanner-report.html"])
def test_unwritable_places_give_one_line(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_error(capsys, main([*PLAN, "--report", target]))
    assert target in line and "cannot write report" in line
    assert not Path(target).exists()


def test_a_folder_or_a_missing_folder_is_refused_before_planning(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.pdf").mkdir()
    assert "is a folder" in _one_line_error(capsys, main([*PLAN, "--report", str(tmp_path / "a.pdf")]))
    assert "does not exist" in _one_line_error(capsys, main([*PLAN, "--report", str(tmp_path / "no" / "a.pdf")]))
    assert "report type" in _one_line_error(capsys, main([*PLAN, "--report", str(tmp_path / "a.docx")]))


def test_a_full_disk_leaves_no_file_and_the_old_report_intact(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = _plan_dict(tmp_path)
    target = tmp_path / "out" / "plan.md"
    target.parent.mkdir()
    target.write_text("the report of yesterday")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(report_write.os, "fsync", full)
    with pytest.raises(BadInputError, match="No space left on device"):
        write_report(target, data)
    assert sorted(p.name for p in target.parent.iterdir()) == ["plan.md"]  # no chart, no temporary file
    assert target.read_text() == "the report of yesterday"


def test_a_file_size_limit_mid_write_is_one_line_and_no_partial_file(tmp_path: Path) -> None:
    """A real failing write: RLIMIT_FSIZE makes the kernel refuse bytes past 20 kB (EFBIG), as a full disk would."""
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            "from quantcore.cli import main\n"
            f"sys.exit(main({[*PLAN, '--report', str(tmp_path / 'plan.pdf')]!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "cannot write report (File too large)" in lines[0]
    assert list(tmp_path.iterdir()) == []


def _plan_dict(tmp_path: Path) -> dict:
    from quantcore.planner.hardware import find_gpu, load_gpus
    from quantcore.planner.plan import make_plan
    from quantcore.planner.workload import Workload
    from quantcore.report.data import report_dict
    from quantcore.sources.source import load_model

    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    return report_dict(make_plan(inv, Workload(), ("bf16", "q4_k_m"), (find_gpu("rtx-4090", load_gpus()),)))


def test_report_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[" * 100000)
    assert "nests 100,000 levels deep" in _one_line_error(  # refused before the parser recurses (safe_io)
        capsys, main(["report", str(bad), "--out", str(tmp_path / "x.pdf")]))
    bad.write_text("{not json")
    assert "not valid JSON" in _one_line_error(capsys, main(["report", str(bad), "--out", str(tmp_path / "x.pdf")]))
    bad.write_text('{"schema": "something/else"}')
    assert "not a quantplanner.plan/1 plan" in _one_line_error(
        capsys, main(["report", str(bad), "--out", str(tmp_path / "x.pdf")]))
    assert "no such plan file" in _one_line_error(
        capsys, main(["report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.pdf")]))
    assert not (tmp_path / "x.pdf").exists()
