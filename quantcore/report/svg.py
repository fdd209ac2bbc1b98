"""Figures as SVG text: inline in the HTML report, or standalone files beside a Markdown report."""
from __future__ import annotations

from html import escape

from quantcore.report.figures import Figure, Line, Polyline, Rect, Text
from quantcore.report.fonts import CSS_SANS


def _n(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _dash(d: tuple[float, ...]) -> str:
    return f' stroke-dasharray="{" ".join(_n(x) for x in d)}"' if d else ""


def to_svg(fig: Figure, standalone: bool = False) -> str:
    """The figure as one <svg> element (with the XML declaration when standalone). All text is escaped."""
    out = []
    if standalone:
        out.append('<?xml version="1.0" encoding="UTF-8"?>')
    size = (f'width="{_n(fig.width)}" height="{_n(fig.height)}" ' if standalone
            else f'width="{_n(fig.width)}" ')
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" {size}viewBox="0 0 {_n(fig.width)} {_n(fig.height)}" '
               f'role="img" aria-labelledby="{escape(fig.name)}-title" class="chart" '
               f'font-family="{escape(CSS_SANS)}">')
    out.append(f'<title id="{escape(fig.name)}-title">{escape(fig.title)}</title>')
    if fig.desc:
        out.append(f"<desc>{escape(fig.desc)}</desc>")
    out.append(f'<rect x="0" y="0" width="{_n(fig.width)}" height="{_n(fig.height)}" fill="#ffffff"/>')
    for it in fig.items:
        if isinstance(it, Rect):
            stroke = f' stroke="{it.stroke}" stroke-width="{_n(it.width)}"' if it.stroke else ""
            tip = f"<title>{escape(it.tip)}</title>" if it.tip else ""
            body = (f'<rect x="{_n(it.x)}" y="{_n(it.y)}" width="{_n(it.w)}" height="{_n(it.h)}" '
                    f'fill="{it.fill}"{stroke}')
            out.append(body + (f">{tip}</rect>" if tip else "/>"))
        elif isinstance(it, Line):
            out.append(f'<line x1="{_n(it.x1)}" y1="{_n(it.y1)}" x2="{_n(it.x2)}" y2="{_n(it.y2)}" '
                       f'stroke="{it.stroke}" stroke-width="{_n(it.width)}"{_dash(it.dash)}/>')
        elif isinstance(it, Polyline):
            pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in it.points)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{it.stroke}" stroke-width="{_n(it.width)}" '
                       f'stroke-linejoin="round"{_dash(it.dash)}/>')
        elif isinstance(it, Text):
            rot = f' transform="rotate({_n(it.rotate)} {_n(it.x)} {_n(it.y)})"' if it.rotate else ""
            weight = ' font-weight="bold"' if it.bold else ""
            out.append(f'<text x="{_n(it.x)}" y="{_n(it.y)}" font-size="{_n(it.size)}" fill="{it.fill}" '
                       f'text-anchor="{it.anchor}"{weight}{rot}>{escape(it.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + ("\n" if standalone else "")
