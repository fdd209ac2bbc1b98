"""A Document as a PDF (A4 or Letter) with reportlab: embedded fonts, vector charts drawn from the same figures as
the SVG, tables that break across pages with their header repeated, page numbers "Page N of M"."""
from __future__ import annotations

import calendar
import io
import time
from typing import Any
from xml.sax.saxutils import escape

from quantcore.errors import BadInputError
from quantcore.report import fonts
from quantcore.report.document import Bullets, Chart, Code, Document, Facts, Heading, Para, Span, Table
from quantcore.report.figures import Figure, Line, Polyline, Rect, Text

PAPERS = ("a4", "letter")
INK, MUTED, RULE, HEAD, ZEBRA, ACCENT = "#1f2933", "#5f6b7a", "#d5dae1", "#243b53", "#f5f7fa", "#2f6fab"
MM = 72 / 25.4


def render_pdf(doc: Document, paper: str = "a4") -> bytes:
    """The report as PDF bytes. Deterministic: the same document gives the same bytes (dated by the plan)."""
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    if paper not in PAPERS:
        raise BadInputError(f"paper {paper!r}: use a4 or letter")
    fonts.register()
    size = A4 if paper == "a4" else letter
    left = right = 18 * MM
    top, bottom = 20 * MM, 18 * MM
    buf = io.BytesIO()
    tpl = BaseDocTemplate(buf, pagesize=size, leftMargin=left, rightMargin=right, topMargin=top, bottomMargin=bottom,
                          title=doc.title, author="QuantPlanner", subject=doc.subtitle,
                          creator=f"QuantPlanner {doc.version}".strip(), keywords="LLM memory plan quantization",
                          invariant=1, lang="en")
    frame = Frame(left, bottom, size[0] - left - right, size[1] - top - bottom, id="body", leftPadding=0,
                  rightPadding=0, topPadding=0, bottomPadding=0)
    tpl.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=lambda c, d: _header(c, d, doc))])
    story = _story(doc, frame._width)
    tpl.build(story, canvasmaker=_canvas_class(doc))
    return buf.getvalue()


def _canvas_class(doc: Document) -> Any:
    """A canvas that starts in the embedded font, dates the file by the plan, and numbers pages 'N of M'."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initialFontName"] = fonts.SANS
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            _date(self, doc.generated)

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(fonts.SANS, 7.5)
                self.setFillColorRGB(0.37, 0.42, 0.48)
                w = self._pagesize[0]
                self.drawRightString(w - 18 * MM, 10 * MM, f"Page {self._pageNumber} of {total}")
                self.drawString(18 * MM, 10 * MM, f"QuantPlanner {doc.version}".strip())
                super().showPage()
            super().save()

    return NumberedCanvas


def _date(canvas: Any, generated: str) -> None:
    """Set the PDF's creation date to the plan's (ISO 8601, UTC) so re-rendering gives identical bytes."""
    try:
        epoch = calendar.timegm(time.strptime(generated.replace("Z", ""), "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, AttributeError):
        return
    ts = canvas._doc._timeStamp
    ts.t, ts.lt = epoch, time.gmtime(epoch)
    ts.YMDhms, ts.dhh, ts.dmm, ts.tzname = tuple(ts.lt)[:6], 0, 0, "UTC"


def _header(canvas: Any, _tpl: Any, doc: Document) -> None:
    if canvas.getPageNumber() == 1:
        return
    w, h = canvas._pagesize
    canvas.saveState()
    canvas.setFont(fonts.SANS, 7.5)
    canvas.setFillColorRGB(0.37, 0.42, 0.48)
    title = doc.model_id if len(doc.model_id) < 80 else doc.model_id[:77] + "..."
    canvas.drawString(18 * MM, h - 12 * MM, f"QuantPlanner planning report · {title}")
    canvas.drawRightString(w - 18 * MM, h - 12 * MM, doc.generated[:10])
    canvas.setStrokeColorRGB(0.84, 0.85, 0.88)
    canvas.setLineWidth(0.5)
    canvas.line(18 * MM, h - 13.8 * MM, w - 18 * MM, h - 13.8 * MM)
    canvas.restoreState()


def _styles() -> dict[str, Any]:
    from reportlab.lib.colors import HexColor
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=fonts.SANS, bulletFontName=fonts.SANS, fontSize=9, leading=12.5,
                          textColor=HexColor(INK),
                          spaceAfter=4)
    return {
        "body": base,
        "kicker": ParagraphStyle("kicker", base, fontName=fonts.BOLD, fontSize=8, textColor=HexColor(ACCENT),
                                 spaceAfter=2),
        "title": ParagraphStyle("title", base, fontName=fonts.BOLD, fontSize=19, leading=23, spaceAfter=3),
        "subtitle": ParagraphStyle("subtitle", base, textColor=HexColor(MUTED), fontSize=9.5, spaceAfter=6),
        "h1": ParagraphStyle("h1", base, fontName=fonts.BOLD, fontSize=13.5, leading=17, textColor=HexColor(HEAD),
                             spaceBefore=14, spaceAfter=2, keepWithNext=1),
        "h2": ParagraphStyle("h2", base, fontName=fonts.BOLD, fontSize=10.5, leading=14, spaceBefore=9,
                             spaceAfter=3, keepWithNext=1),
        "note": ParagraphStyle("note", base, fontSize=8.3, leading=11, textColor=HexColor(MUTED)),
        "caption": ParagraphStyle("caption", base, fontSize=7.5, leading=10, textColor=HexColor(MUTED),
                                  spaceBefore=2, spaceAfter=8),
        "bullet": ParagraphStyle("bullet", base, fontSize=8.5, leading=11.5, leftIndent=11, bulletIndent=2,
                                 spaceAfter=2),
        "cell": ParagraphStyle("cell", base, fontSize=7.5, leading=9.5, spaceAfter=0),
        "cellbold": ParagraphStyle("cellbold", base, fontName=fonts.BOLD, fontSize=7.5, leading=9.5, spaceAfter=0),
        "head": ParagraphStyle("head", base, fontName=fonts.BOLD, fontSize=7.5, leading=9.5, spaceAfter=0,
                               textColor=HexColor("#ffffff")),
        "code": ParagraphStyle("code", base, fontName=fonts.MONO, fontSize=7.6, leading=10, wordWrap="CJK",
                               spaceAfter=0),
        "factkey": ParagraphStyle("factkey", base, fontName=fonts.BOLD, fontSize=8.3, leading=11,
                                  textColor=HexColor(MUTED), spaceAfter=0),
        "factval": ParagraphStyle("factval", base, fontSize=8.3, leading=11, spaceAfter=0),
    }


def _markup(items: tuple[Span, ...]) -> str:
    out = []
    for style, text in items:
        t = escape(text)
        out.append(f"<b>{t}</b>" if style == "b" else f'<font name="{fonts.MONO}">{t}</font>' if style == "code"
                   else t)
    return "".join(out)


def _code_markup(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        lines.append("&nbsp;" * (len(line) - len(stripped)) + escape(stripped))
    return "<br/>".join(lines)


def _story(doc: Document, width: float) -> list[Any]:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import HRFlowable, KeepTogether, Paragraph

    st = _styles()
    story: list[Any] = [Paragraph("QUANTPLANNER PLANNING REPORT", st["kicker"]),
                        Paragraph(escape(doc.model_id), st["title"]), Paragraph(escape(doc.subtitle), st["subtitle"]),
                        HRFlowable(width="100%", thickness=2.2, color=HexColor(HEAD), spaceAfter=8)]
    pending: list[Any] = []  # a heading (and its rule) waits to be kept on the page of what follows it
    for blk in doc.blocks:
        if isinstance(blk, Heading):
            pending.append(Paragraph(escape(blk.text), st["h1" if blk.level == 1 else "h2"]))
            if blk.level == 1:
                pending.append(HRFlowable(width="100%", thickness=0.6, color=HexColor(RULE), spaceBefore=1,
                                          spaceAfter=5))
            continue
        parts = _flowables(blk, width, st)
        if pending:
            story.append(KeepTogether(pending + parts[:1]))
            parts, pending = parts[1:], []
        story += parts
    story += pending
    return story


def _flowables(blk: Any, width: float, st: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import KeepTogether, Paragraph, Spacer

    if isinstance(blk, Para):
        para = Paragraph(_markup(blk.spans), st["note" if blk.kind == "note" else "body"])
        return [_boxed(para, width, "#f0f6fc", ACCENT) if blk.kind == "lead" else para]
    if isinstance(blk, Facts):
        return [_facts(blk, width, st), Spacer(1, 4)]
    if isinstance(blk, Table):
        caption = Paragraph(escape(blk.caption), st["caption"]) if blk.caption else Spacer(1, 6)
        return [_table(blk, width, st), caption]
    if isinstance(blk, Chart):
        parts = [drawing(blk.figure, min(1.0, width / blk.figure.width))]
        if blk.caption:
            parts.append(Paragraph(escape(blk.caption), st["caption"]))
        return [KeepTogether(parts)]
    if isinstance(blk, Code):
        box = _boxed(Paragraph(_code_markup(blk.text), st["code"]), width, "#f6f8fa", ACCENT)
        title = [Paragraph(f"<b>{escape(blk.title)}</b>", st["body"])] if blk.title else []
        return [KeepTogether(title + [box]), Spacer(1, 3)]
    if isinstance(blk, Bullets):
        return [Paragraph(_markup(item), st["bullet"], bulletText="•") for item in blk.items] + [Spacer(1, 3)]
    return []


def _boxed(flowable: Any, width: float, fill: str, line: str) -> Any:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    t = RLTable([[flowable]], colWidths=[width])
    t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), fonts.SANS, 8), ("BACKGROUND", (0, 0), (-1, -1), HexColor(fill)),
                           ("LINEBEFORE", (0, 0), (0, -1), 2.5, HexColor(line)),
                           ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                           ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    t.spaceAfter = 5
    return t


def _facts(f: Facts, width: float, st: dict[str, Any]) -> Any:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Paragraph, TableStyle
    from reportlab.platypus import Table as RLTable

    key_w = 78.0
    rows = [[Paragraph(escape(k), st["factkey"]),
             Paragraph(_code_markup(v) if k in f.mono else escape(v), st["code" if k in f.mono else "factval"])]
            for k, v in f.rows]
    t = RLTable(rows, colWidths=[key_w, width - key_w])
    t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), fonts.SANS, 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 0), (-1, -1), 0.4, HexColor(RULE)),
                           ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                           ("LEFTPADDING", (0, 0), (-1, -1), 2)]))
    return t


def _table(t: Table, width: float, st: dict[str, Any]) -> Any:
    from reportlab.lib.colors import HexColor
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Paragraph, TableStyle
    from reportlab.platypus import Table as RLTable

    ncol, pad = len(t.headers), 8.0
    natural = [max([stringWidth(h, fonts.BOLD, 7.5)] + [stringWidth(r[i], fonts.BOLD, 7.5) for r in t.rows]) + pad
               for i, h in enumerate(t.headers)]
    widths = list(natural)
    excess = sum(widths) - width
    if excess > 0 and t.wrap:  # the wrapping text columns give way first, down to 30% of the line between them
        wrap_total = sum(widths[i] for i in t.wrap)
        take = min(excess, max(0.0, wrap_total - 0.3 * width))
        widths = [w * (wrap_total - take) / wrap_total if i in t.wrap else w for i, w in enumerate(widths)]
        excess -= take
    if excess > 0:  # then every other column in proportion (their cells wrap)
        others = sum(w for i, w in enumerate(widths) if i not in t.wrap)
        widths = [w if i in t.wrap else w * (others - excess) / others for i, w in enumerate(widths)]
    elif excess < 0:  # spread the spare width so that tables fill the line
        widths = [w - excess / ncol for w in widths]
    squeezed = [widths[i] < natural[i] - 0.5 for i in range(ncol)]
    align = {"l": "LEFT", "r": "RIGHT", "c": "CENTER"}

    def cell(text: str, i: int, bold: bool) -> Any:
        if i in t.wrap or squeezed[i]:
            return Paragraph(escape(text), st["cellbold" if bold else "cell"])
        return text

    data: list[list[Any]] = [[Paragraph(escape(h), st["head"]) if squeezed[i] or i in t.wrap else h
                              for i, h in enumerate(t.headers)]]
    data += [[cell(c, i, k in t.bold_rows) for i, c in enumerate(r)] for k, r in enumerate(t.rows)]
    style = [("FONT", (0, 0), (-1, -1), fonts.SANS, 7.5), ("FONT", (0, 0), (-1, 0), fonts.BOLD, 7.5),
             ("TEXTCOLOR", (0, 0), (-1, 0), HexColor("#ffffff")), ("BACKGROUND", (0, 0), (-1, 0), HexColor(HEAD)),
             ("TEXTCOLOR", (0, 1), (-1, -1), HexColor(INK)), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("ROWBACKGROUNDS", (0, 1), (-1, -1), [HexColor("#ffffff"), HexColor(ZEBRA)]),
             ("LINEBELOW", (0, 1), (-1, -1), 0.3, HexColor(RULE)),
             ("TOPPADDING", (0, 0), (-1, -1), 2.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
             ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4)]
    for i in range(ncol):
        style.append(("ALIGN", (i, 0), (i, -1), align[t.alignment(i)]))
    for k in t.bold_rows:
        style.append(("FONT", (0, k + 1), (-1, k + 1), fonts.BOLD, 7.5))
    for k, row in enumerate(t.shade):
        for i, colour in enumerate(row):
            if colour:
                style.append(("BACKGROUND", (i, k + 1), (i, k + 1), HexColor(colour)))
    table = RLTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def drawing(fig: Figure, scale: float = 1.0) -> Any:
    """The figure as a reportlab Drawing (vector), y flipped to PDF coordinates, scaled to fit."""
    from reportlab.graphics.shapes import Drawing, Group, PolyLine, String
    from reportlab.graphics.shapes import Line as RLLine
    from reportlab.graphics.shapes import Rect as RLRect
    from reportlab.lib.colors import HexColor

    fonts.register()
    h = fig.height
    g = Group()
    for it in fig.items:
        if isinstance(it, Rect):
            g.add(RLRect(it.x, h - it.y - it.h, it.w, it.h, strokeWidth=it.width,
                         fillColor=None if it.fill == "none" else HexColor(it.fill),
                         strokeColor=HexColor(it.stroke) if it.stroke else None))
        elif isinstance(it, Line):
            g.add(RLLine(it.x1, h - it.y1, it.x2, h - it.y2, strokeColor=HexColor(it.stroke), strokeWidth=it.width,
                         strokeDashArray=list(it.dash) if it.dash else None))
        elif isinstance(it, Polyline):
            pts = [v for x, y in it.points for v in (x, h - y)]
            g.add(PolyLine(pts, strokeColor=HexColor(it.stroke), strokeWidth=it.width, strokeLineJoin=1,
                           strokeLineCap=1, strokeDashArray=list(it.dash) if it.dash else None))
        elif isinstance(it, Text):
            s = String(0, 0, it.text, fontName=fonts.BOLD if it.bold else fonts.SANS, fontSize=it.size,
                       fillColor=HexColor(it.fill), textAnchor=it.anchor)
            if it.rotate:
                import math

                a = math.radians(-it.rotate)
                g.add(Group(s, transform=(math.cos(a), math.sin(a), -math.sin(a), math.cos(a), it.x, h - it.y)))
            else:
                s.x, s.y = it.x, h - it.y
                g.add(s)
    g.transform = (scale, 0, 0, scale, 0, 0)
    d = Drawing(fig.width * scale, fig.height * scale)
    d.initialFontName = fonts.SANS  # the renderer's starting font; its default would pull in Helvetica
    d.add(g)
    return d
