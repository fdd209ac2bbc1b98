"""A report as format-free blocks (headings, paragraphs, facts, tables, charts, code) that every writer renders.

Every string in a block is plain text: each writer escapes it for its own format (HTML, PDF markup, Markdown).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from quantcore.report.figures import Figure

Span = tuple[str, str]  # (style, text); style: "" plain, "b" bold, "code" monospace


def b(text: object) -> Span:
    return ("b", str(text))


def code(text: object) -> Span:
    return ("code", str(text))


def spans(*parts: object) -> tuple[Span, ...]:
    """Plain strings and styled spans, in order."""
    return tuple(p if isinstance(p, tuple) else ("", str(p)) for p in parts if p != "")


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 1 section, 2 subsection


@dataclass(frozen=True)
class Para:
    spans: tuple[Span, ...]
    kind: str = "body"  # body | lead | note | caveat


@dataclass(frozen=True)
class Facts:
    """Two-column key / value table (the title block)."""

    rows: tuple[tuple[str, str], ...]
    mono: tuple[str, ...] = ()  # keys whose values are code


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""  # one of l / r / c per column (default: first left, others right)
    caption: str = ""
    shade: tuple[tuple[str | None, ...], ...] = ()  # background colour per cell, or None
    bold_rows: tuple[int, ...] = ()  # rows to emphasise (the recommended precision)
    wrap: tuple[int, ...] = ()  # columns of long text that may wrap
    mono: tuple[int, ...] = ()  # columns in monospace

    def alignment(self, i: int) -> str:
        if self.align and i < len(self.align):
            return self.align[i]
        return "l" if i == 0 else "r"


@dataclass(frozen=True)
class Chart:
    figure: Figure
    caption: str = ""


@dataclass(frozen=True)
class Code:
    text: str
    language: str = "shell"  # shell | python | text
    title: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Span, ...], ...]
    kind: str = "body"  # body | caveat


Block = Union[Heading, Para, Facts, Table, Chart, Code, Bullets]


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    model_id: str
    generated: str
    version: str
    blocks: tuple[Block, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def charts(self) -> list[Figure]:
        return [blk.figure for blk in self.blocks if isinstance(blk, Chart)]

    def plain_text(self) -> str:
        """Every string of the document, for tests and search."""
        out = [self.title, self.subtitle]
        for blk in self.blocks:
            if isinstance(blk, Heading):
                out.append(blk.text)
            elif isinstance(blk, Para):
                out.append("".join(t for _, t in blk.spans))
            elif isinstance(blk, Facts):
                out += [f"{k}: {v}" for k, v in blk.rows]
            elif isinstance(blk, Table):
                out += [" | ".join(blk.headers)] + [" | ".join(r) for r in blk.rows]
            elif isinstance(blk, Code):
                out.append(blk.text)
            elif isinstance(blk, Bullets):
                out += ["".join(t for _, t in item) for item in blk.items]
        return "\n".join(out)
