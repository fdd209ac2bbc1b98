"""How long each command takes to give up on a Hub that fails: silent, closed port, HTTP 500, slow drip.

Run: .venv/bin/python benchmarks/hub_giveup.py [--tree PATH] [--cap SECONDS] [--only SCENARIO,...]
Every command runs in a fresh process (the code of --tree, default this checkout, first on PYTHONPATH) against a
local server: `silent` accepts connections and never answers, `closed` is a port nothing listens on, `500` answers
every request HTTP 500, `drip` sends the headers at once and then one byte per second of a body that never ends.
Commands: plan / inspect of a repo id that is not bundled (nothing to fall back on), plan of a bundled id (the
bundled config is the fallback), search, fit over three bundled ids, and the desktop app loading the repo id (tests/badinput/app_script.py hub:
from set_model to the banner; the process must then exit). A run still going after --cap seconds is killed and
shown as '>cap'. The runs of one scenario go in parallel (they wait on sockets, not on the CPU); the times count
from the process start, and the `startup` row (plan 7B, no Hub) shows what starting a process costs in that crowd.
The app's time counts from set_model to the banner.
Compare two trees: `git worktree add /tmp/qp-base 0b7b158` then run once with --tree /tmp/qp-base and once
without; or --compare /tmp/qp-base to run both and print them side by side.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))

from hub_server import SilentServer, StandInHub, closed_port_url  # noqa: E402

COMMANDS = {
    "startup": ["plan", "7B", "--precision", "bf16"],  # no Hub at all: what starting a process costs here
    "plan": ["plan", "silent-org/not-bundled", "--precision", "bf16"],
    "plan bundled": ["plan", "meta-llama/Llama-3.1-8B", "--precision", "bf16"],
    "inspect": ["inspect", "silent-org/not-bundled"],
    "search": ["search", "llama"],
    # three bundled ids, each with its bundled config to fall back on: once the Hub has given no answer, the
    # command does not ask it again (one deadline per command, not one per model)
    "fit 3 bundled": ["fit", "--gpu", "rtx-4090", "--model", "meta-llama/Llama-3.2-1B", "--model", "Qwen/Qwen2.5-0.5B",
                      "--model", "facebook/opt-125m"],
    "app load": None,  # tests/badinput/app_script.py hub silent-org/not-bundled
}
SCENARIOS = ("silent", "closed", "500", "drip")


def _server(kind: str) -> tuple[str, object | None]:
    if kind == "silent":
        s = SilentServer()
        return s.url, s
    if kind == "closed":
        return closed_port_url(), None
    hub = StandInHub()
    if kind == "500":
        hub.fail("/", 500)
    else:
        hub.drip("/", 1.0, body=b'{"sha": "' + b"0" * 40 + b'", "siblings": []' + b" " * 100_000 + b"}")
    return hub.url, hub


def _run(tree: Path, url: str, name: str, cap: float, tmp: Path) -> subprocess.Popen[str]:
    home = tmp / name.replace(" ", "-")
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=url, HF_HUB_OFFLINE="0", HF_HOME=str(home / "hf"), HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen", QP_SCRIPT_HOME=str(home),
               QP_BANNER_WAIT=str(cap), QUANTPLANNER_GPUS=str(home / "none.toml"))
    argv = COMMANDS[name]
    cmd = ([sys.executable, str(HERE / "tests" / "badinput" / "app_script.py"), "hub", "silent-org/not-bundled"]
           if argv is None else [sys.executable, "-m", "app.launcher", *argv])
    return subprocess.Popen(cmd, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def measure(tree: Path, scenarios: tuple[str, ...], cap: float) -> dict[tuple[str, str], tuple[float | None, str]]:
    """(scenario, command) -> (seconds to give up, or None past the cap; what the user saw, in short)."""
    out: dict[tuple[str, str], tuple[float | None, str]] = {}
    for kind in scenarios:
        url, server = _server(kind)
        try:
            with tempfile.TemporaryDirectory(prefix=f"giveup-{kind}-") as tmp:
                start = time.monotonic()
                procs = {name: _run(tree, url, name, cap, Path(tmp)) for name in COMMANDS}
                ended: dict[str, float] = {}
                while len(ended) < len(procs) and time.monotonic() - start < cap:
                    for name, p in procs.items():
                        if name not in ended and p.poll() is not None:
                            ended[name] = time.monotonic() - start
                    time.sleep(0.05)
                for name, p in procs.items():
                    if name not in ended:
                        p.kill()
                        p.communicate()
                        out[(kind, name)] = (None, "still waiting (killed)")
                        continue
                    so, se = p.communicate()
                    took: float | None = ended[name]
                    if name == "app load" and "banner after " in so:
                        took = float(so.split("banner after ")[1].split(" s")[0])
                    lines = [ln for ln in se.splitlines() if ln.strip()]
                    seen = (f"exit {p.returncode}, {len(lines)} stderr line{'s' if len(lines) != 1 else ''}"
                            + (", traceback" if "Traceback" in se else ""))
                    if name == "app load":
                        seen = "banner, process exited" if "exited-window" in so else f"exit {p.returncode}"
                    out[(kind, name)] = (took, seen)
        finally:
            if server is not None:
                server.close()  # type: ignore[attr-defined]
    return out


def _fmt(t: float | None, cap: float) -> str:
    return f">{cap:.0f}" if t is None else f"{t:.1f}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=HERE, help="the checkout whose code runs (default: this one)")
    ap.add_argument("--compare", type=Path, help="a second checkout (e.g. the base commit) to run first")
    ap.add_argument("--cap", type=float, default=120.0)
    ap.add_argument("--only", default=",".join(SCENARIOS))
    args = ap.parse_args(argv)
    scenarios = tuple(s for s in args.only.split(",") if s)
    after = measure(args.tree, scenarios, args.cap)
    before = measure(args.compare, scenarios, args.cap) if args.compare else None
    head = f"{'Hub':8s} {'command':13s}"
    if before is not None:
        print(f"{head} {'before s':>9s} {'after s':>8s} {'ratio':>6s}  before -> after")
        for key in after:
            b, a = before[key], after[key]
            ratio = "-" if b[0] is None or a[0] is None or a[0] == 0 else f"{b[0] / a[0]:.1f}x"
            if b[0] is None and a[0] is not None:
                ratio = f">{args.cap / max(a[0], 0.1):.0f}x"
            print(f"{key[0]:8s} {key[1]:13s} {_fmt(b[0], args.cap):>9s} {_fmt(a[0], args.cap):>8s} {ratio:>6s}  "
                  f"{b[1]} -> {a[1]}")
    else:
        print(f"{head} {'seconds':>8s}  what the user saw")
        for key, (t, seen) in after.items():
            print(f"{key[0]:8s} {key[1]:13s} {_fmt(t, args.cap):>8s}  {seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
