"""Small widget helpers the input panels share: combo boxes over (key, label) pairs and list filtering."""
from __future__ import annotations

import html
import re

from PySide6.QtWidgets import QComboBox, QListWidget

from quantcore.errors import one_line

ZWSP = "\u200b"  # a zero-width space: a place a word-wrapped label may break a long id or path


def breakable(text: str, longest: int = 24) -> str:
    """Long unbroken runs (repo ids, file paths, URLs) get break points after / _ - . so a word-wrapped label can
    wrap them instead of growing wider than the panel."""
    return re.sub(r"\S{%d,}" % longest, lambda m: re.sub(r"([/_.\-])", "\\1" + ZWSP, m.group(0)), text)


def plain_tip(text: object, keep_lines: bool = False) -> str:
    """Text that may hold names from files, the Hub or the GPUs file, made safe for a tooltip: Qt shows a tooltip as
    rich text when it looks like markup, so text with a '<' is escaped inside a <span> (shown as written, never
    rendered); other text is returned as it is (one line unless keep_lines)."""
    s = "\n".join(one_line(line) for line in str(text).split("\n")) if keep_lines else one_line(text)
    if "<" not in s:
        return s
    return "<span>" + html.escape(s, quote=False).replace("\n", "<br>") + "</span>"


def filter_list(widget: QListWidget, text: str) -> None:
    """Hide the items that do not contain every word typed (case-insensitive)."""
    words = text.lower().split()
    for i in range(widget.count()):
        item = widget.item(i)
        item.setHidden(not all(w in item.text().lower() for w in words))


def combo(items: tuple[tuple[str, str], ...]) -> QComboBox:
    box = QComboBox()
    for key, label in items:
        box.addItem(label, key)
    return box


def select(box: QComboBox, key: object) -> None:
    i = box.findData(key)
    if i >= 0:
        box.setCurrentIndex(i)
