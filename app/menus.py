"""The window's menu bar: File, Edit, View (units, theme, offline) and Help, wired to the window's actions."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from app import theme as themes


def action(window: Any, menu: Any, text: str, shortcut: Any, slot: Callable[..., Any]) -> QAction:
    act = QAction(text, window)
    act.setShortcut(QKeySequence(shortcut))
    act.triggered.connect(slot)
    menu.addAction(act)
    return act


def build_menus(w: Any) -> None:
    """Menus of MainWindow w; keeps w.unit_actions, w.theme_actions and w.offline_action for the window's use."""
    bar = w.menuBar()
    file = bar.addMenu("&File")
    action(w, file, "&Open model file...", QKeySequence.StandardKey.Open, w.open_file)
    action(w, file, "Open model &folder...", "Ctrl+Shift+O", w.open_folder)
    action(w, file, "&Export report...", "Ctrl+E", w.export_report)
    action(w, file, "Hugging Face &token...", "", w.ask_token)
    file.addSeparator()
    action(w, file, "&Quit", QKeySequence.StandardKey.Quit, w.close)
    edit = bar.addMenu("&Edit")
    action(w, edit, "&Copy cells", QKeySequence.StandardKey.Copy, w.copy_selection)
    view = bar.addMenu("&View")
    units = QActionGroup(w)
    w.unit_actions = {}
    for unit in ("GiB", "GB"):
        act = QAction(f"Show {unit}" + (" (2^30 bytes)" if unit == "GiB" else " (10^9 bytes)"), w,
                      checkable=True, checked=w.state.request.unit == unit)
        act.triggered.connect(lambda _=False, u=unit: w.state.set_unit(u))
        units.addAction(act)
        view.addAction(act)
        w.unit_actions[unit] = act
    view.addSeparator()
    themes_group = QActionGroup(w)
    w.theme_actions = {}
    for name in themes.THEMES:
        act = QAction(f"{name.capitalize()} theme", w, checkable=True, checked=w.theme == name)
        act.triggered.connect(lambda _=False, n=name: w.set_theme(n))
        themes_group.addAction(act)
        view.addAction(act)
        w.theme_actions[name] = act
    view.addSeparator()
    w.offline_action = w.hub_mode.offline_action(w)
    view.addAction(w.offline_action)
    action(w, bar.addMenu("&Help"), "&About QuantPlanner", "", w.about)
