"""Render resources/icons/quantplanner.svg into the PNG sizes desktops ask for (16..512), a Windows .ico and a macOS
.icns: `QT_QPA_PLATFORM=offscreen .venv/bin/python build/render_icons.py` (the files are checked in; rerun after
editing the SVG)."""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / "quantplanner.svg"
    pngs = []
    for size in SIZES:
        out = ICONS / f"quantplanner-{size}.png"
        if not render(svg, size).save(str(out), "PNG"):
            raise SystemExit(f"could not write {out}")
        pngs.append(out)
    (ICONS / "quantplanner.png").write_bytes((ICONS / "quantplanner-256.png").read_bytes())
    try:  # .ico (Windows) and .icns (macOS) for the spec's EXE / BUNDLE; Pillow comes with reportlab
        from PIL import Image
    except ImportError:
        print("Pillow is missing: .ico and .icns not written", file=sys.stderr)
    else:
        big = Image.open(ICONS / "quantplanner-512.png")
        big.save(ICONS / "quantplanner.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
        big.save(ICONS / "quantplanner.icns")
    print("\n".join(str(p.relative_to(ICONS.parents[1])) for p in sorted(ICONS.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
