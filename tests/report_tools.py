"""What the report tests share: external tools (poppler, headless Chromium), looking at rendered pages, a plan."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
                  "--disable-default-apps", "--no-default-browser-check", "--disable-dev-shm-usage")


def require(tool: str) -> str:
    """The tool's path; skipped with the reason when it is missing, failed under CI (the Makefile installs it)."""
    names = CHROMIUM_NAMES if tool == "chromium" else (tool,)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    why = (f"{tool} is not installed; `make test` installs it (apt-get install "
           f"{'chromium' if tool == 'chromium' else 'poppler-utils'}) when run as root")
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def run(args: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def chromium(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Headless Chromium, no network, its own empty profile; console messages logged to stderr."""
    exe = require("chromium")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("http_proxy", "https_proxy", "HTTP", "ALL"))}
    return run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                "--log-level=0", *args], timeout=timeout, env=env)


def console_lines(stderr: str) -> list[str]:
    """The page's console messages in Chromium's log (lines carrying CONSOLE)."""
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln]


def ink(png: Path) -> tuple[float, int]:
    """(share of pixels that are not near-white, number of distinct colours) of a PNG."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB")).reshape(-1, 3)
    dark = int((rgb.min(axis=1) < 235).sum())
    return dark / max(1, len(rgb)), len(np.unique(rgb, axis=0))


def pdf_pages_text(pdf: Path) -> list[str]:
    """pdftotext per page (layout kept), form-feed separated."""
    out = run([require("pdftotext"), "-layout", str(pdf), "-"])
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\f")[:-1] if out.stdout.endswith("\f") else out.stdout.split("\f")
