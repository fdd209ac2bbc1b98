"""The `quantplanner` entry point: no arguments opens the desktop app, anything else is the headless CLI."""
from __future__ import annotations

import sys
from typing import Sequence

APP_OPTIONS = ("--self-test", "--theme", "--size", "--screenshot")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("--version", "-V"):
        from quantcore import __version__

        print(f"quantplanner {__version__}")
        return 0
    if not args or args[0].split("=")[0] in APP_OPTIONS:
        from app import qt_deps

        problem = qt_deps.check()
        if problem is not None:  # say what is missing, instead of Qt's abort that blames another library
            print(qt_deps.explain(problem), file=sys.stderr)
            return 2
        try:
            from app.main import run_app
        except ImportError as exc:
            print(f"quantplanner: the desktop window is not available ({exc}); "
                  "use `quantplanner plan MODEL` (see `quantplanner --help`)", file=sys.stderr)
            return 2
        return int(run_app(args))
    from quantcore.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
