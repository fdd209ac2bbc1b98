"""A Document as one self-contained HTML file: inline CSS and SVG, no scripts, every string escaped, prints on A4."""
from __future__ import annotations

import html as _html
import re

from quantcore.errors import one_line
from quantcore.report.charts import WIDTH as CHART_WIDTH
from quantcore.report.document import Bullets, Chart, Code, Document, Facts, Heading, Para, Span, Table
from quantcore.report.fonts import CSS_MONO, CSS_SANS
from quantcore.report.svg import to_svg

# control characters (terminal escapes, bidi overrides) but newlines and tabs: shown as escapes, never kept raw
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def escape(text: str, quote: bool = True) -> str:
    """html.escape, and control characters from model ids and names shown as escapes (\\x1b)."""
    return _html.escape(_CONTROL.sub(lambda m: one_line(m.group(0)), text), quote)


CSS = """
:root { --ink: #1f2933; --muted: #5f6b7a; --rule: #d5dae1; --head: #243b53; --zebra: #f5f7fa; --accent: #2f6fab; }
* { box-sizing: border-box; }
html { background: #eef1f5; }
body { margin: 0; color: var(--ink); font: 10.5pt/1.45 FONT_SANS; }
main { max-width: 940px; margin: 24px auto; background: #fff; padding: 36px 44px 28px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }
header.title { border-bottom: 3px solid var(--head); margin-bottom: 14px; padding-bottom: 8px; }
header.title .kicker { color: var(--accent); font-weight: bold; letter-spacing: .06em; text-transform: uppercase;
                       font-size: 8.5pt; }
h1 { font-size: 19pt; margin: 2px 0 2px; line-height: 1.2; word-break: break-word; }
header.title p { margin: 0; color: var(--muted); }
h2 { font-size: 14pt; color: var(--head); border-bottom: 1px solid var(--rule); padding-bottom: 3px;
     margin: 26px 0 10px; break-after: avoid; }
h3 { font-size: 11.5pt; margin: 18px 0 6px; break-after: avoid; }
p { margin: 6px 0; }
p.lead { background: #f0f6fc; border-left: 4px solid var(--accent); padding: 8px 12px; }
p.note { color: var(--muted); font-size: 9.5pt; }
p.codetitle { margin: 10px 0 2px; break-after: avoid; }
ul { margin: 4px 0 10px; padding-left: 20px; }
ul.caveat li { margin: 2px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 9pt; }
thead { display: table-header-group; }
th { background: var(--head); color: #fff; font-weight: bold; padding: 4px 6px; text-align: left; }
td { padding: 3px 6px; border-bottom: 1px solid var(--rule); vertical-align: top; }
tbody tr:nth-child(even) td { background: var(--zebra); }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.c, th.c { text-align: center; }
tr.strong td { font-weight: bold; }
td.wrap { white-space: normal; word-break: break-word; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 8.5pt; padding-top: 3px; }
table.facts { font-size: 9.5pt; }
table.facts th { width: 120px; background: none; color: var(--muted); border-bottom: 1px solid var(--rule);
                 font-weight: bold; vertical-align: top; }
table.facts td { word-break: break-word; }
table.facts tr:nth-child(even) td { background: none; }
code, pre, .mono { font-family: FONT_MONO; font-size: 8.5pt; }
code { background: #f1f3f5; padding: 0 3px; border-radius: 3px; }
pre { background: #f6f8fa; border: 1px solid var(--rule); border-left: 3px solid var(--accent); padding: 8px 10px;
      white-space: pre-wrap; word-break: break-all; margin: 4px 0 6px; break-inside: avoid; }
figure { margin: 10px 0 14px; break-inside: avoid; }
figure svg { height: auto; display: block; max-width: 100%; }
figcaption { color: var(--muted); font-size: 8.5pt; margin-top: 2px; }
footer { margin-top: 28px; border-top: 1px solid var(--rule); padding-top: 6px; color: var(--muted); font-size: 8pt; }
@page { size: A4; margin: 16mm 14mm 18mm;
        @bottom-center { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #5f6b7a; } }
@media print {
  html { background: #fff; }
  main { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  h2 { break-before: auto; }
  tr, td, th { break-inside: avoid; }
}
""".replace("FONT_SANS", CSS_SANS).replace("FONT_MONO", CSS_MONO)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _spans(items: tuple[Span, ...]) -> str:
    out = []
    for style, text in items:
        t = escape(text)
        out.append(f"<b>{t}</b>" if style == "b" else f"<code>{t}</code>" if style == "code" else t)
    return "".join(out)


def _table(t: Table) -> str:
    cls = {"r": ' class="r"', "c": ' class="c"', "l": ""}
    head = "".join(f"<th{cls[t.alignment(i)]}>{escape(h)}</th>" for i, h in enumerate(t.headers))
    body = []
    for k, row in enumerate(t.rows):
        cells = []
        for i, cell in enumerate(row):
            classes = [c for c in (t.alignment(i) if t.alignment(i) != "l" else "", "wrap" if i in t.wrap else "",
                                   "mono" if i in t.mono else "") if c]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            shade = t.shade[k][i] if t.shade and k < len(t.shade) and i < len(t.shade[k]) else None
            style = f' style="background:{shade}"' if shade else ""
            cells.append(f"<td{attr}{style}>{escape(cell)}</td>")
        strong = ' class="strong"' if k in t.bold_rows else ""
        body.append(f"<tr{strong}>{''.join(cells)}</tr>")
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _facts(f: Facts) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{'<code>' + escape(v) + '</code>' if k in f.mono else escape(v)}"
                   f"</td></tr>" for k, v in f.rows)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


def render_html(doc: Document) -> str:
    """The whole report as one HTML page (UTF-8 text)."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f'<meta name="generator" content="QuantPlanner {escape(doc.version)}">',
             f"<title>{escape(doc.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
             '<header class="title"><div class="kicker">QuantPlanner planning report</div>',
             f"<h1>{escape(doc.model_id)}</h1><p>{escape(doc.subtitle)}</p></header>"]
    for blk in doc.blocks:
        if isinstance(blk, Heading):
            tag = "h2" if blk.level == 1 else "h3"
            parts.append(f"<{tag}>{escape(blk.text)}</{tag}>")
        elif isinstance(blk, Para):
            cls = f' class="{blk.kind}"' if blk.kind != "body" else ""
            parts.append(f"<p{cls}>{_spans(blk.spans)}</p>")
        elif isinstance(blk, Facts):
            parts.append(_facts(blk))
        elif isinstance(blk, Table):
            parts.append(_table(blk))
        elif isinstance(blk, Chart):
            cap = f"<figcaption>{escape(blk.caption)}</figcaption>" if blk.caption else ""
            share = min(100.0, blk.figure.width / CHART_WIDTH * 100)  # every chart at the same scale
            svg = to_svg(blk.figure).replace("<svg ", f'<svg style="width:{share:.1f}%" ', 1)
            parts.append(f"<figure>{svg}{cap}</figure>")
        elif isinstance(blk, Code):
            if blk.title:
                parts.append(f'<p class="codetitle"><b>{escape(blk.title)}</b></p>')
            parts.append(f'<pre aria-label="{escape(blk.title)}"><code>{escape(blk.text)}</code></pre>')
        elif isinstance(blk, Bullets):
            cls = f' class="{blk.kind}"' if blk.kind != "body" else ""
            parts.append(f"<ul{cls}>" + "".join(f"<li>{_spans(i)}</li>" for i in blk.items) + "</ul>")
    stamp = " ".join(p for p in (f"QuantPlanner {doc.version}" if doc.version else "QuantPlanner",
                                 f"· {doc.generated.replace('T', ' ').replace('Z', ' UTC')}" if doc.generated else "")
                     if p)
    parts += [f"<footer>Generated by {escape(stamp)} from the plan's quantplanner.plan/1 JSON. Every figure is an "
              "estimate of the planner; see Assumptions and formulas.</footer>", "</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
