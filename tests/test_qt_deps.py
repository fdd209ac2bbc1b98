"""`make run`'s check of Qt's platform plugin: ldd's view of missing libraries, Debian package names, the one
command printed (or apt-get run as root), and no check where no window system is needed."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app import qt_deps

LDD_OUTPUT = """\tlinux-vdso.so.1 (0x00007ffd5b3f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0e1c000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0e1bf00000)
"""


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`ldd` that prints what Debian 12 printed for PySide6's libqxcb.so without libxcb-icccm4/keysyms1, and an
    `ldconfig -p` whose cache has every other library Qt's xcb plugin loads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "ldd.txt").write_text(LDD_OUTPUT)
    cache = "".join(f"\t{so} (libc6,x86-64) => /lib/x86_64-linux-gnu/{so}\n" for so in qt_deps.XCB_LIBRARIES
                    if so not in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"))
    (tmp_path / "ldconfig.txt").write_text(f"{len(qt_deps.XCB_LIBRARIES)} libs found in cache\n" + cache)
    for tool in ("ldd", "ldconfig"):
        script = bin_dir / tool
        script.write_text(f"#!/bin/sh\ncat {tmp_path / (tool + '.txt')}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def test_missing_libraries_are_read_from_ldd(fake_tools: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"\x7fELF")
    assert qt_deps.missing_libraries(plugin, qt_deps.XCB_LIBRARIES) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_debian_package_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qt_deps, "_apt_knows", lambda name: not name.endswith("t64"))  # Debian 12's archive
    table = qt_deps.XCB_LIBRARIES
    assert qt_deps.debian_package("libxcb-icccm.so.4", table) == "libxcb-icccm4"
    assert qt_deps.debian_package("libxkbcommon-x11.so.0", {}) == "libxkbcommon-x11-0"  # a '-' after a digit
    assert qt_deps.debian_package("libfoo-bar.so.7", {}) == "libfoo-bar7"
    monkeypatch.setattr(qt_deps, "_apt_knows", lambda name: name == "libglib2.0-0t64")  # Ubuntu 24.04's rename
    assert qt_deps.debian_package("libglib-2.0.so.0", table) == "libglib2.0-0t64"


def test_check_names_the_packages_and_the_one_command(fake_tools: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"\x7fELF")
    monkeypatch.setattr(qt_deps, "plugin_path", lambda platform: plugin if platform == "xcb" else None)
    monkeypatch.setattr(qt_deps, "loads", lambda path: False)  # the linker could not load it
    monkeypatch.setattr(qt_deps.sys, "platform", "linux")
    monkeypatch.setattr(qt_deps, "_apt_knows", lambda name: not name.endswith("t64"))
    problem = qt_deps.check({"DISPLAY": ":0"})
    assert problem is not None and problem.packages == ("libxcb-icccm4", "libxcb-keysyms1")
    monkeypatch.setattr(qt_deps, "_is_root", lambda: False)
    monkeypatch.setattr(qt_deps.shutil, "which", lambda name: "/usr/bin/" + name)
    text = qt_deps.explain(problem)
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1" in text
    assert "libxcb-icccm.so.4" in text and "cursor" not in text  # what is really missing, not Qt's guess
    assert qt_deps.install(problem) is False  # not root: nothing is run


def test_no_check_where_no_window_system_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qt_deps.sys, "platform", "linux")
    assert qt_deps.check({"QT_QPA_PLATFORM": "offscreen"}) is None
    problem = qt_deps.check({})  # Linux without DISPLAY or WAYLAND_DISPLAY
    assert problem is not None and "xvfb-run" in problem.message and not problem.packages
    monkeypatch.setattr(qt_deps.sys, "platform", "darwin")
    assert qt_deps.check({}) is None  # macOS and Windows wheels carry what Qt needs


def test_a_plugin_that_loads_needs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "not-a-library.so").write_bytes(b"not an ELF file")
    assert qt_deps.loads(tmp_path / "not-a-library.so") is False
    monkeypatch.setattr(qt_deps.sys, "platform", "linux")
    monkeypatch.setattr(qt_deps, "plugin_path", lambda platform: tmp_path / "libqxcb.so")
    monkeypatch.setattr(qt_deps, "loads", lambda path: True)
    monkeypatch.setattr(qt_deps, "missing_libraries", lambda *a: pytest.fail("ldd is not needed when it loads"))
    assert qt_deps.check({"DISPLAY": ":0"}) is None


def test_platforms_qt_will_try() -> None:
    assert qt_deps.platforms_to_try({"DISPLAY": ":0"}) == ["xcb"]
    assert qt_deps.platforms_to_try({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) == ["wayland", "xcb"]
    assert qt_deps.platforms_to_try({"QT_QPA_PLATFORM": "wayland;xcb"}) == ["wayland", "xcb"]
