"""The README stands on its own in a clone: no links outside the repository, every linked file present, and the
screenshots it promises (both sizes, both themes, every tab) at their stated size."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_stay_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets and "../shared/DESIGN.md" not in text
    for target in targets:
        if re.match(r"^[a-z]+://", target) or target.startswith("#"):
            continue
        assert not target.startswith(".."), target
        assert (ROOT / target).exists(), target


def test_screenshots_in_both_themes_and_sizes() -> None:
    for size in ("1280x800", "1920x1080"):
        width, height = (int(v) for v in size.split("x"))
        for theme in ("", "dark-"):
            for tab in ("memory", "fit", "cost"):
                data = (ROOT / "docs" / f"screenshot-{size}-{theme}{tab}.png").read_bytes()
                assert data[:8] == b"\x89PNG\r\n\x1a\n"
                assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (width, height)
