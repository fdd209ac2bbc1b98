"""The `quantplanner` command line: the parser and main(); each group of commands lives in its own module here."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from quantcore.errors import BadInputError, QuantPlannerError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (exit 2), never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{self.prog}: {message} (see --help)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if not args_list:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(args_list)
        args.argv = args_list  # what was typed: reports record the command that regenerates them
        return int(args.func(args) or 0)
    except QuantPlannerError as exc:
        print(f"quantplanner: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quantplanner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _build_parser() -> argparse.ArgumentParser:
    from quantcore import __version__
    from quantcore.cli import catalogs, inspect, lab, plan, quantize, report

    p = _Parser(prog="quantplanner", description="Will this model fit, at which precision, on which GPUs?")
    p.add_argument("--version", action="version", version=f"quantplanner {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)
    for commands in (plan, inspect, quantize, lab, catalogs, report):  # one module per group of commands
        commands.register(sub)
    return p


if __name__ == "__main__":
    sys.exit(main())
