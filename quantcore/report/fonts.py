"""The fonts reports use, registered once with reportlab so that PDFs embed them and charts measure text with them.

Body text is Bitstream Vera (shipped inside reportlab); code is DejaVu Sans Mono (resources/fonts, same license).
Browsers draw the HTML with DejaVu Sans / Verdana, whose widths are close to Vera's.
"""
from __future__ import annotations

from functools import lru_cache

SANS, BOLD, ITALIC, BOLD_ITALIC, MONO = "QPSans", "QPSans-Bold", "QPSans-Italic", "QPSans-BoldItalic", "QPMono"
CSS_SANS = "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, 'Segoe UI', Arial, sans-serif"
CSS_MONO = "'DejaVu Sans Mono', 'Bitstream Vera Sans Mono', Menlo, Consolas, monospace"


@lru_cache(maxsize=1)
def register() -> tuple[str, str, str]:
    """Register the report fonts with reportlab (once); returns (sans, bold, mono) names."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from quantcore.errors import QuantPlannerError
    from quantcore.sources.resources import resource_path

    for name, file in ((SANS, "Vera.ttf"), (BOLD, "VeraBd.ttf"), (ITALIC, "VeraIt.ttf"), (BOLD_ITALIC, "VeraBI.ttf")):
        pdfmetrics.registerFont(TTFont(name, file))
    mono = resource_path("fonts", "DejaVuSansMono.ttf")
    if not mono.is_file():
        raise QuantPlannerError(f"report font missing: {mono}; reinstall QuantPlanner")
    pdfmetrics.registerFont(TTFont(MONO, str(mono)))
    for bold, italic, name in ((0, 0, SANS), (1, 0, BOLD), (0, 1, ITALIC), (1, 1, BOLD_ITALIC)):
        addMapping(SANS, bold, italic, name)
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(MONO, bold, italic, MONO)
    return SANS, BOLD, MONO


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of text in points in the report's sans font (what the PDF draws; browsers come close)."""
    from reportlab.pdfbase import pdfmetrics

    register()
    return float(pdfmetrics.stringWidth(text, BOLD if bold else SANS, size))
