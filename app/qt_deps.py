"""Before the window opens on Linux: are the system libraries Qt's platform plugin needs installed (ldd on it)?

Qt's own message when its xcb plugin cannot load names libxcb-cursor0 whatever is really missing; this module
names the Debian/Ubuntu packages that are missing and installs them when it can (root and apt-get), else prints the
one command to run. `python -m app.qt_deps [--install]` is what `make run` calls; the launcher checks too (no
install). Nothing here imports Qt: it must run where Qt cannot start.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# What Qt 6's xcb plugin loads (Qt's "X11 requirements" page), by soname, with the Debian/Ubuntu package that
# ships it. Checked against the dynamic linker's cache as well as ldd: ldd stops at a missing library, so the
# libraries only that one needs would otherwise show up one install at a time.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
}
WAYLAND_LIBRARIES = {
    "libwayland-client.so.0": "libwayland-client0", "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1", "libxkbcommon.so.0": "libxkbcommon0",
}
NO_DISPLAY_NEEDED = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs", "minimalegl", "vkkhrdisplay")


@dataclass(frozen=True)
class Problem:
    """Why the window cannot open here, and what to do about it."""

    message: str
    packages: tuple[str, ...] = ()  # Debian/Ubuntu packages that would fix it

    def command(self) -> str:
        if not self.packages:
            return ""
        prefix = "" if _is_root() else ("sudo " if shutil.which("sudo") else "")
        return f"{prefix}apt-get install -y {' '.join(self.packages)}" + ("" if prefix or _is_root() else "  (as root)")


def plugin_path(platform: str) -> Path | None:
    """The PySide6 wheel's platform plugin library (libqxcb.so, libqwayland.so), if installed here."""
    spec = importlib.util.find_spec("PySide6")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for name in (f"libq{platform}.so", "libqwayland-generic.so" if platform == "wayland" else ""):
            path = Path(base) / "Qt" / "plugins" / "platforms" / name
            if name and path.exists():
                return path
    return None


def loads(plugin: Path) -> bool:
    """The fast answer (a few ms, and the libraries are about to be loaded anyway): does the dynamic linker
    resolve everything the plugin needs?"""
    import ctypes

    try:
        ctypes.CDLL(str(plugin), mode=getattr(os, "RTLD_LAZY", 1))
    except OSError:
        return False
    return True


def missing_libraries(plugin: Path, expected: dict[str, str]) -> tuple[str, ...]:
    """Sonames the plugin needs that the dynamic linker cannot find: ldd's 'not found' plus expected libraries
    absent from `ldconfig -p`."""
    missing: list[str] = []
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if m and m.group(1) not in missing:
            missing.append(m.group(1))
    known = _linker_cache()
    if known:
        missing += [so for so in expected if so not in known and so not in missing]
    return tuple(missing)


def _linker_cache() -> set[str]:
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    return set()


def debian_package(soname: str, known: dict[str, str]) -> str:
    """libfoo-bar.so.4 -> libfoo-bar4 (Debian's library package naming; a '-' when the name ends in a digit);
    on Ubuntu 24.04+ a package renamed with a t64 suffix is found through apt-cache."""
    name = known.get(soname)
    if name is None:
        m = re.match(r"(lib.+?)\.so\.(\d+)", soname)
        if not m:
            return ""
        base, version = m.group(1).lower(), m.group(2)
        name = f"{base}{'-' if base[-1].isdigit() else ''}{version}"
    if shutil.which("apt-cache") and not _apt_knows(name) and _apt_knows(name + "t64"):
        return name + "t64"
    return name


def _apt_knows(package: str) -> bool:
    try:
        out = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "Package:" in out.stdout


def platforms_to_try(env: dict[str, str]) -> list[str]:
    """The platform plugins Qt will try, in order (QT_QPA_PLATFORM, else Wayland when there is a Wayland
    display, else xcb)."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return [p.split(":")[0].strip() for p in chosen.split(";") if p.strip()]
    return ["wayland", "xcb"] if env.get("WAYLAND_DISPLAY") else ["xcb"]


def check(env: dict[str, str] | None = None) -> Problem | None:
    """None when Qt can open a window here (or when this is not Linux); else what is wrong."""
    env = dict(os.environ if env is None else env)
    if not sys.platform.startswith("linux"):
        return None
    candidates = platforms_to_try(env)
    if any(p in NO_DISPLAY_NEEDED for p in candidates):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return Problem("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a "
                       "desktop session, over `ssh -X`, or under `xvfb-run`; the command line needs no display "
                       "(`quantplanner --help`)")
    problems: dict[str, Problem] = {}
    for platform in candidates:
        table = XCB_LIBRARIES if platform == "xcb" else WAYLAND_LIBRARIES if platform == "wayland" else {}
        plugin = plugin_path(platform)
        if plugin is None:
            continue  # not a plugin we can inspect: let Qt try it
        if loads(plugin):
            return None
        missing = missing_libraries(plugin, table)
        if not missing:
            return None
        packages = tuple(dict.fromkeys(p for p in (debian_package(so, table) for so in missing) if p))
        problems[platform] = Problem(f"Qt's {platform} platform plugin cannot load: missing {', '.join(missing)}",
                                     packages)
    # every candidate failed: name xcb's fix (the one X11 and XWayland both use), else the first
    return problems.get("xcb") or next(iter(problems.values()), None)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def install(problem: Problem) -> bool:
    """apt-get install the packages (root only); refreshes the package lists once if the first try fails."""
    if not problem.packages or not _is_root() or not shutil.which("apt-get"):
        return False
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *problem.packages]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("quantplanner: installing " + " ".join(problem.packages) + " (Qt's window system libraries)",
          file=sys.stderr)
    if subprocess.run(cmd, env=env).returncode == 0:
        return True
    return subprocess.run(["apt-get", "update"], env=env).returncode == 0 and subprocess.run(cmd, env=env).returncode == 0


def explain(problem: Problem) -> str:
    """The lines to print: what is wrong and the one command that fixes it."""
    if not problem.packages:
        return f"quantplanner: {problem.message}"
    return (f"quantplanner: {problem.message}\n"
            f"quantplanner: install them with:\n    {problem.command()}\n"
            f"then run it again (the command line works without them: `quantplanner --help`)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.qt_deps", description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="apt-get install what is missing when root")
    args = parser.parse_args(argv)
    problem = check()
    if problem is None:
        return 0
    if args.install and install(problem):
        problem = check()
        if problem is None:
            return 0
    print(explain(problem), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
