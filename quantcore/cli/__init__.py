"""The `quantplanner` command line: the parser and main(); each group of commands lives in its own module here."""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import Sequence

from quantcore.errors import BadInputError, QuantPlannerError, one_line


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (exit 2), never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{self.prog}: {message} (see --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 2 with one clean stderr line on bad usage or bad input, never a traceback
    (--debug anywhere on the line prints the traceback of an unexpected error as well)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    args_list = [a for a in args_list if a != "--debug"]
    try:
        parser = _build_parser()
        if not args_list:
            parser.print_help()
            return 0
        args = parser.parse_args(args_list)
        args.argv = args_list  # what was typed: reports record the command that regenerates them
        from quantcore.sources.hub_http import one_command

        with one_command():  # a Hub that gave no answer is not asked again in this command (the 20 s bound)
            return int(args.func(args) or 0)
    except QuantPlannerError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        print("quantplanner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except SystemExit as exc:  # --help, --version: argparse's own exit
        return int(exc.code) if isinstance(exc.code, int) else 0
    except BaseException as exc:  # noqa: BLE001 - the last resort: a bug or an unforeseen input, still one line
        if debug:
            traceback.print_exc()
        _error(f"unexpected {exc.__class__.__name__}: {exc}" + ("" if debug else
               " (a bug in QuantPlanner: please report it; rerun with --debug for the traceback)"))
        return 2


def _error(message: str) -> None:
    """One line on stderr: the message with newlines and terminal escapes shown as text (one_line)."""
    try:
        print(f"quantplanner: error: {one_line(message)}", file=sys.stderr)
    except (OSError, ValueError):  # stderr closed or broken: nothing else to tell
        pass


def _quiet_stdout() -> None:
    """After a broken pipe (`quantplanner plan ... | head`), point stdout at /dev/null so that Python's own flush
    at exit does not print a second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _build_parser() -> argparse.ArgumentParser:
    from quantcore import __version__
    from quantcore.cli import catalogs, inspect, lab, plan, quantize, report

    p = _Parser(prog="quantplanner", description="Will this model fit, at which precision, on which GPUs?")
    p.add_argument("--version", action="version", version=f"quantplanner {__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error (anywhere on "
                                                       "the command line)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)
    for commands in (plan, inspect, quantize, lab, catalogs, report):  # one module per group of commands
        commands.register(sub)
    return p


if __name__ == "__main__":
    sys.exit(main())
