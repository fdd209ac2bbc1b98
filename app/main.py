"""Start the desktop app; `--self-test [--screenshot PATH] [--size WxH] [--theme T]` checks the window, the lab and
the reports and exits (app/selftest.py), in a settings scope of its own (the user's settings are never touched)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import settings as store
from app import theme as themes
from app.main_window import MainWindow


def run_app(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="quantplanner", description="QuantPlanner desktop app")
    parser.add_argument("--self-test", action="store_true",
                        help="open, plan, visit every tab, quantize and test-run a synthetic layer on the CPU, write "
                             "a PDF and an HTML report; exit 0 if all is well")
    parser.add_argument("--screenshot", type=Path, metavar="PATH",
                        help="with --self-test: save PNGs of the window: PATH itself (the window as it is at the end "
                             "of the self-test) and one per tab visited, PATH's name with -memory, -fit, -cost")
    parser.add_argument("--size", default="1280x800", help="window size for --self-test, e.g. 1920x1080")
    parser.add_argument("--theme", choices=themes.THEMES, default=None,
                        help="with --self-test: the theme to draw in (default: follow the system)")
    args = parser.parse_args(list(argv))
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "quantplanner"])
    app.setApplicationName("QuantPlanner")
    app.setOrganizationName(store.ORG)
    app.setDesktopFileName("quantplanner")  # pairs the window with quantplanner.desktop (Wayland, task bars)
    app.setWindowIcon(app_icon())
    if args.self_test:
        from app import selftest

        return selftest.run(app, args.screenshot, args.size, args.theme)
    qsettings = store.settings()
    themes.apply(app, store.theme(qsettings))  # type: ignore[arg-type]
    window = MainWindow(qsettings)
    install_last_resort(window)
    hints = app.styleHints()  # type: ignore[union-attr]
    if hasattr(hints, "colorSchemeChanged"):  # follow the system's light/dark switch while running
        hints.colorSchemeChanged.connect(lambda _scheme: window.theme == "system" and window.set_theme("system"))
    window.show()
    return app.exec()


def install_last_resort(window: MainWindow) -> None:
    """An exception that escapes a slot (a bug) shows in the window's banner, with its traceback on stderr, instead
    of leaving the window in an unknown state; the user's message is never a bare exception name."""
    import traceback

    from app.workers import unexpected_message

    def hook(kind: type[BaseException], exc: BaseException, tb: object) -> None:
        traceback.print_exception(kind, exc, tb)  # type: ignore[arg-type]
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        try:
            window.show_error(unexpected_message(exc, "the last action"))
        except RuntimeError:  # the window is gone
            pass

    sys.excepthook = hook


def app_icon() -> QIcon:
    """The window and task-bar icon: resources/icons/quantplanner-<size>.png, 16 to 512 pixels (null if absent)."""
    from quantcore.sources.resources import resources_dir

    icon = QIcon()
    for path in sorted(resources_dir().joinpath("icons").glob("quantplanner-*.png")):
        size = int(path.stem.rsplit("-", 1)[1])
        icon.addFile(str(path), QSize(size, size))
    return icon
