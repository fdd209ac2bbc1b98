"""Small widget helpers the input panels share: combo boxes over (key, label) pairs and list filtering."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QListWidget


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
