"""What a PyInstaller bundle holds, by package: files on disk plus each package's compiled modules in the PYZ
archive; with two bundles (e.g. `QUANTPLANNER_BUNDLE_KEEP=all` against the default) a side-by-side table of what each
exclusion saves.

    .venv/bin/python benchmarks/bundle_size.py dist/quantplanner [other/dist/quantplanner] [--top 30]
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

LIB_OWNERS = (  # top-level shared libraries the analysis copied, by who brought them in
    ("libQt6", "PySide6"), ("libpyside6", "PySide6"), ("libshiboken6", "PySide6"), ("libicu", "PySide6"),
    ("libpython", "python"),
)


def owner(rel: str) -> str:
    """The package a file inside _internal/ belongs to ('system libraries' for the libraries of the machine)."""
    head = rel.split("/", 1)[0]
    if "/" in rel:
        if head.endswith(".libs"):  # numpy.libs, pillow.libs: the wheels' vendored libraries
            return head[: -len(".libs")].replace("pillow", "PIL")
        if head in ("python3.11", "lib-dynload"):
            return "python"
        return head.split("-")[0]
    if head.endswith(".so") or ".so." in head:
        for prefix, who in LIB_OWNERS:
            if head.startswith(prefix):
                return who
        return "system libraries"
    if head.startswith("_") and head.endswith(".py"):
        return head
    return head.split(".")[0]


def sizes(bundle: Path) -> dict[str, int]:
    """Bytes per package: files (symbolic links not counted twice) and compressed PYZ entries."""
    from PyInstaller.archive.readers import CArchiveReader

    inner = bundle / "_internal"
    out: dict[str, int] = defaultdict(int)
    for dirpath, _dirs, files in os.walk(inner):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            out[owner(path.relative_to(inner).as_posix())] += path.stat().st_size
    exe = next(p for p in (bundle / "quantplanner", bundle / "quantplanner.exe") if p.exists())
    car = CArchiveReader(str(exe))
    pyz = car.open_embedded_archive("PYZ.pyz")
    in_pyz = 0
    for name, (_kind, _offset, length) in pyz.toc.items():
        out[name.split(".")[0]] += length
        in_pyz += length
    out["(executable and bootloader)"] += exe.stat().st_size - in_pyz
    return dict(out)


def mib(n: int) -> str:
    return f"{n / 2**20:8.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("other", type=Path, nargs="?", help="a second bundle to compare against (e.g. the full one)")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    a = sizes(args.bundle)
    if args.other is None:
        print(f"{'package':<28} {'MiB':>8}")
        for name, n in sorted(a.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"{name:<28} {mib(n)}")
        print(f"{'total':<28} {mib(sum(a.values()))}")
        return 0
    b = sizes(args.other)
    print(f"{'package':<28} {'A MiB':>8} {'B MiB':>8} {'B - A':>8}   A: {args.bundle}  B: {args.other}")
    names = sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0)))
    shown = [k for k in names if abs(b.get(k, 0) - a.get(k, 0)) >= 2**18][: args.top]
    for name in shown:
        print(f"{name:<28} {mib(a.get(name, 0))} {mib(b.get(name, 0))} {mib(b.get(name, 0) - a.get(name, 0))}")
    rest = [k for k in names if k not in shown]
    ra, rb = sum(a.get(k, 0) for k in rest), sum(b.get(k, 0) for k in rest)
    print(f"{'(the rest)':<28} {mib(ra)} {mib(rb)} {mib(rb - ra)}")
    print(f"{'total':<28} {mib(sum(a.values()))} {mib(sum(b.values()))} {mib(sum(b.values()) - sum(a.values()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
