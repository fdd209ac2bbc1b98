"""What each exclusion of build/quantplanner.spec saves: the default bundle, then one build per key with that key
kept (QUANTPLANNER_BUNDLE_KEEP=key), and one with everything kept; bundle size on disk and build time side by side.
Each build takes 2-4 minutes on 2 cores.

    .venv/bin/python benchmarks/bundle_exclusions.py [--keys transformers,bitsandbytes,...] [--out /tmp/bundles]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEYS = "transformers,bitsandbytes,scipy,torchao,hub-cli,torch-tests,qt-translations,symbols,all"


def disk_bytes(folder: Path) -> int:
    """Bytes of the files under folder, symbolic links counted once (as du does)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def build(out: Path, keep: str) -> tuple[int, float]:
    env = {**os.environ, "QUANTPLANNER_BUNDLE_KEEP": keep}
    start = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("pyinstaller")), "--noconfirm", "--clean", "--log-level",
                    "WARN", "--distpath", str(out / "dist"), "--workpath", str(out / "work"),
                    str(ROOT / "build" / "quantplanner.spec")], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return disk_bytes(out / "dist" / "quantplanner"), time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", default=DEFAULT_KEYS)
    ap.add_argument("--out", type=Path, default=Path("/tmp/quantplanner-bundles"))
    args = ap.parse_args(argv)
    base, base_s = build(args.out / "default", "")
    print(f"{'kept':<18} {'bundle MiB':>10} {'saved MiB':>10} {'build s':>8}")
    print(f"{'(default)':<18} {base / 2**20:10.1f} {'':>10} {base_s:8.0f}", flush=True)
    for key in [k for k in args.keys.split(",") if k]:
        size, secs = build(args.out / key, key)
        print(f"{key:<18} {size / 2**20:10.1f} {(size - base) / 2**20:10.1f} {secs:8.0f}", flush=True)
        subprocess.run(["rm", "-rf", str(args.out / key)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
