"""Light and dark palettes that follow the system unless the user picks one; plots follow the palette."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme and scheme() == Qt.ColorScheme.Dark)


def resolve(theme: str) -> str:
    """'light' or 'dark' for a theme setting ('system' asks the platform)."""
    if theme == "system":
        return "dark" if system_is_dark() else "light"
    return theme if theme in ("light", "dark") else "light"


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(222, 224, 228)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, window)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, window)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, base)
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.Highlight, QColor(53, 116, 240))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(140, 143, 150))
        p.setColor(group, QPalette.ColorRole.Link, QColor(110, 160, 255))
    disabled = QColor(120, 122, 128)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    # disabled boxes keep the dark backgrounds (Qt's defaults for them are light: grey text on white)
    for role, colour in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.Base, window),
                         (QPalette.ColorRole.Button, window), (QPalette.ColorRole.AlternateBase, window)):
        p.setColor(QPalette.ColorGroup.Disabled, role, colour)
    return p


def apply(app: QApplication, theme: str) -> str:
    """Apply the theme to the whole application; returns the resolved 'light' or 'dark'."""
    mode = resolve(theme)
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if mode == "dark" else app.style().standardPalette())
    pg.setConfigOptions(antialias=False, background="#1e1f22" if mode == "dark" else "w",
                        foreground="#dee0e4" if mode == "dark" else "#202124")
    return mode
