"""Expected quality per precision in a report: the change, whether it was measured, published or estimated, and
the source of every figure (the plan rows' "quality" objects, planner/quality.py)."""
from __future__ import annotations

from typing import Any

from quantcore.report.document import Block, Heading, Para, Table, spans

KINDS = {"measured": "measured on this model", "published": "published", "estimate": "scaling-law estimate"}


def change_text(q: dict[str, Any]) -> str:
    """The figure with its unit: a percentage, MMLU points, or an absolute perplexity change."""
    value, metric = q.get("value"), str(q.get("metric", ""))
    if not isinstance(value, (int, float)):
        return "-"
    if "%" in metric:
        return f"{value:+.2f}%"
    if "points" in metric:
        return f"{value:+.1f} pts"
    return f"{value:+.3g}"


def quality_section(data: dict[str, Any], unit: str) -> list[Block]:
    """One row per precision: expected change, its metric, the kind of evidence and its source (never a number
    without one)."""
    rows = [r for r in data["rows"] if isinstance(r.get("quality"), dict)]
    if not rows:
        return []
    body = tuple((r["precision"] + (" (as stored)" if r.get("as_stored") else ""), change_text(r["quality"]),
                  KINDS.get(str(r["quality"].get("kind")), str(r["quality"].get("kind", ""))),
                  f"{r['quality'].get('metric', '')}. {r['quality'].get('source', '')}") for r in rows)
    return [Heading("Expected quality"),
            Para(spans("What each precision is expected to cost in quality, from the best evidence available: the "
                       "quantization lab's measurement on this model when present, else a published figure for the "
                       "format, else its rounding noise placed on the k-bit scaling-law curve (Dettmers & "
                       "Zettlemoyer, arXiv 2212.09720). For a fixed memory budget, 4-bit weights of a larger model "
                       "usually beat a smaller model at higher precision.")),
            Table(("precision", "change", "evidence", "metric and source"), body, "lrll",
                  caption="Published figures are for the model named in their source, not necessarily this one.",
                  wrap=(3,))]
