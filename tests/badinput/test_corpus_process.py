"""The corpus in real processes: exit codes and stderr as a shell sees them, a silent Hub given up on within 20 s by
every command (the real deadline, not a test's), the last-resort handler, and the app process exiting after FIFOs
and after a worker got stuck in I/O."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from corpus import FAKE_TOKEN, LLAMA, deep_json, fifo, link, write

from quantcore.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("app_script.py")


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(tmp / "hf-home"), HF_HUB_OFFLINE="1", HF_TOKEN=FAKE_TOKEN, QT_QPA_PLATFORM="offscreen",
               QUANTPLANNER_GPUS=str(tmp / "no-gpus.toml"), PYTHONPATH=str(ROOT), QP_SCRIPT_HOME=str(tmp),
               HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


def _cli(tmp: Path, *argv: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.launcher", *argv], cwd=tmp, env=_env(tmp, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_line(p: subprocess.Popen[str], timeout: float) -> tuple[str, float]:
    start = time.monotonic()
    out, err = p.communicate(timeout=timeout)
    took = time.monotonic() - start
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, err)
    assert len(lines) == 1 and lines[0].startswith("quantplanner: error: "), err
    assert "Traceback" not in out + err and FAKE_TOKEN not in out + err
    return lines[0], took


@pytest.mark.parametrize("name,make", [
    ("fifo-config", lambda t: fifo(t, "m/config.json").parent),
    ("fifo-gguf", lambda t: fifo(t, "x.gguf")),
    ("dev-zero-config", lambda t: link(t, "m/config.json", "/dev/zero").parent),
    ("deep-config", lambda t: write(t, "m/config.json", deep_json(200_000)).parent),
    ("layers-1e30", lambda t: write(t, "m/config.json", {**LLAMA, "num_hidden_layers": 10**30}).parent),
    ("count-1e400", lambda t: "1e400"),
])
def test_subprocess_exit_codes(name: str, make: Any, tmp_path: Path) -> None:
    line, took = _one_line(_cli(tmp_path, "plan", str(make(tmp_path)), "--precision", "bf16"), timeout=60)
    assert took < 30, took


def test_last_resort_handler(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An error nobody foresaw: one line and exit 2; the traceback only with --debug."""
    from quantcore.cli import plan as plan_cmd

    def boom(args: Any) -> int:
        raise RecursionError("maximum recursion depth exceeded\nsecond line \x1b[31m")

    monkeypatch.setattr(plan_cmd, "cmd_plan", boom)
    assert main(["plan", "7B"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err and "\x1b" not in err
    assert "RecursionError" in err and "--debug" in err
    assert main(["plan", "7B", "--debug"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("quantplanner: error: unexpected")


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    p = subprocess.run(f"{sys.executable} -m app.launcher plan 70B | head -c 10", shell=True, cwd=tmp_path,
                       env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr and "Error" not in p.stderr, p.stderr


FIT_MODELS = ("--model", "meta-llama/Llama-3.2-1B", "--model", "Qwen/Qwen2.5-0.5B", "--model", "facebook/opt-125m")


def test_silent_hub_gives_up_within_20s_for_every_command(tmp_path: Path) -> None:
    """plan, inspect, search, fit (and fit --rank quality) over three models, and the app's load against a Hub that
    accepts connections and never answers, with the real deadline: each gives up within 20 s with one line (the
    app: the banner; fit: the bundled configs), all at once. Process
    start-up (slow when five Pythons start on two cores) is measured by a fifth process that never asks the Hub
    and taken off; the app's time runs from set_model to the banner."""
    from hub_server import SilentServer

    silent = SilentServer()
    try:
        env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": silent.url}
        (tmp_path / "app").mkdir()
        start = time.monotonic()
        procs = {
            "startup": _cli(tmp_path, "plan", "7B", "--precision", "bf16"),
            "plan": _cli(tmp_path, "plan", "silent-org/silent-model", "--precision", "bf16", **env),
            "inspect": _cli(tmp_path, "inspect", "silent-org/silent-model", **env),
            "search": _cli(tmp_path, "search", "llama", **env),
            # three bundled models: each falls back to its bundled config, and once the Hub has given no answer it
            # is not asked again in the same command (one deadline per command, not one per model)
            "fit": _cli(tmp_path, "fit", "--gpu", "rtx-4090", *FIT_MODELS, **env),
            "rank": _cli(tmp_path, "fit", "--gpu", "rtx-4090", "--rank", "quality", *FIT_MODELS, **env),
            "app": subprocess.Popen([sys.executable, str(SCRIPT), "hub", "silent-org/silent-model"],
                                    cwd=tmp_path / "app", env=_env(tmp_path / "app", **env), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True),
        }
        ended: dict[str, float] = {}
        while len(ended) < len(procs) and time.monotonic() - start < 90:
            ended.update({n: time.monotonic() - start for n, p in procs.items() if n not in ended
                          and p.poll() is not None})
            time.sleep(0.05)
        assert len(ended) == len(procs), f"still running after 90 s: {set(procs) - set(ended)}"
        startup = ended["startup"]
        out, err = procs["app"].communicate()
        assert procs["app"].returncode == 0 and "exited-window" in out, (out, err)
        assert float(out.split("banner after ")[1].split(" s")[0]) < 20, out
        assert FAKE_TOKEN not in out + err
        for name in ("plan", "inspect", "search"):
            line, _ = _one_line(procs[name], timeout=5)
            assert "answer" in line, line
            assert ended[name] - startup < 20, (name, ended[name], startup)
        for name in ("fit", "rank"):
            out, err = procs[name].communicate(timeout=5)
            assert procs[name].returncode == 0 and "Traceback" not in err and "Llama-3.2-1B" in out, (out, err)
            assert ended[name] - startup < 20, (name, ended[name], startup)
    finally:
        silent.close()


def test_app_survives_five_fifos_then_loads_and_exits(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(SCRIPT), "fifos", str(tmp_path)], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.count("banner") == 5 and "valid model loaded" in p.stdout and "exited-window" in p.stdout
    assert "Traceback" not in p.stderr


def test_app_exits_while_a_worker_is_stuck_in_io(tmp_path: Path) -> None:
    """A worker blocked forever in a plain open() (what a FIFO did before): closing the window still ends the
    process at once."""
    start = time.monotonic()
    p = subprocess.run([sys.executable, str(SCRIPT), "stuck", str(tmp_path)], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0 and "exited-window" in p.stdout, (p.stdout, p.stderr)
    assert time.monotonic() - start < 60

