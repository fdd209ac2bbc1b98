"""Start the desktop app; `--self-test [--screenshot PATH] [--size WxH] [--theme T]` checks every tab and exits,
in a settings scope of its own (a temporary folder: the user's saved settings and GPUs are never read or written)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QTableView

from app import settings as store
from app import theme as themes
from app.main_window import MainWindow, wait_for_plan


def run_app(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="quantplanner", description="QuantPlanner desktop app")
    parser.add_argument("--self-test", action="store_true", help="open, plan, visit every tab, exit 0 if all is well")
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
    if args.self_test:
        with tempfile.TemporaryDirectory(prefix="quantplanner-self-test-") as scope:
            os.environ["QUANTPLANNER_GPUS"] = str(Path(scope) / "gpus.toml")  # the catalog only
            qsettings = QSettings(str(Path(scope) / "settings.ini"), QSettings.Format.IniFormat)
            qsettings.setValue("theme", args.theme or "system")
            qsettings.setValue("offline", True)  # the bundled default model; never waits on the network
            themes.apply(app, args.theme or "system")
            window = MainWindow(qsettings)
            status = self_test(window, args.screenshot, args.size)
            qsettings.sync()
            return status
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


def self_test(window: MainWindow, screenshot: Path | None, size: str) -> int:
    """Load the default model, compute the plan, visit every tab; print what failed and return 1, else 0."""
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        print(f"quantplanner: --size {size!r} must look like 1280x800", file=sys.stderr)
        return 2
    window.resize(width, height)
    window.show()
    problems: list[str] = []
    if not wait_for_plan(window):
        problems.append("no plan within 20 s" + (f": {window.banner.text()}" if window.banner.text() else ""))
    else:
        for i in range(window.tabs.count()):
            window.tabs.setCurrentIndex(i)
            QApplication.processEvents()
            name = window.tabs.tabText(i).lower()
            tables = window.tabs.widget(i).findChildren(QTableView) or [window.tabs.widget(i)]
            if getattr(window.tabs.widget(i), "empty_until_run", False):  # Weights, Lab: filled by the user's runs
                tables = []
            for view in tables:
                if isinstance(view, QTableView) and view.model().rowCount() == 0:
                    problems.append(f"tab {name}: an empty table")
            if screenshot is not None:
                out = screenshot.with_name(f"{screenshot.stem}-{name}{screenshot.suffix or '.png'}")
                if not window.grab().save(str(out)):
                    problems.append(f"could not save {out}")
        if window.memory_tab.bars.bars[0].opts.get("width") is None:
            problems.append("memory bars have no data")
        if screenshot is not None and not window.grab().save(str(screenshot)):
            problems.append(f"could not save {screenshot}")
    window.close()
    if problems:
        print("self-test failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"self-test passed: {window.controller.inventory.id}, {len(window.controller.plan.rows)} precisions")
    return 0
