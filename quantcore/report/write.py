"""Reports written to disk: the format from the file's extension, every file written whole or not at all
(temporary names in the same folder, renamed at the end), with ordinary permissions (0644 less the umask)."""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from quantcore.errors import BadInputError

FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv",
           ".json": "json"}
REPORT_SUFFIXES = (".pdf", ".html", ".md", ".csv", ".json")
_UMASK_LOCK = threading.Lock()


def report_format(path: Path) -> str:
    """pdf | html | md | csv | json from the file name, or a one-line error naming the choices."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: report type must be one of {', '.join(REPORT_SUFFIXES)}")
    return fmt


def render_report(data: dict[str, Any], fmt: str, *, name: str = "report", unit: str | None = None,
                  paper: str = "a4") -> list[tuple[str, bytes]]:
    """[(file name, bytes)]: the report first, then the files it links (a Markdown report's charts).

    A plan read from a file may be damaged anywhere below what check_plan looks at (a row's memory as text, a
    10**400 byte count, a list where an object belongs): what rendering then raises is one BadInputError line."""
    try:
        return _render(data, fmt, name, unit, paper)
    except _DAMAGED as exc:
        raise BadInputError(f"the plan is not a well-formed quantplanner.plan/1 object ({exc.__class__.__name__}: "
                            f"{str(exc)[:120]}); make it again with `quantplanner plan MODEL --report plan.json`") \
            from None


# what rendering a plan with wrong types or absurd numbers deep inside raises
_DAMAGED = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, ZeroDivisionError,
            RecursionError, ArithmeticError)


def _render(data: dict[str, Any], fmt: str, name: str, unit: str | None, paper: str) -> list[tuple[str, bytes]]:
    from quantcore.report.content import build_document, check_plan

    check_plan(data)
    if fmt == "json":
        from quantcore.report.tabular import render_json

        return [(name, render_json(data).encode("utf-8"))]
    if fmt == "csv":
        from quantcore.report.tabular import render_csv

        return [(name, render_csv(data).encode("utf-8"))]
    doc = build_document(data, unit)
    if fmt == "pdf":
        from quantcore.report.pdf import render_pdf

        return [(name, render_pdf(doc, paper))]
    if fmt == "html":
        from quantcore.report.html import render_html

        return [(name, render_html(doc).encode("utf-8"))]
    if fmt == "md":
        from quantcore.report.markdown import render_markdown

        text, charts = render_markdown(doc, Path(name).stem)
        return [(name, text.encode("utf-8"))] + [(n, t.encode("utf-8")) for n, t in charts.items()]
    raise BadInputError(f"unknown report format {fmt!r}; use one of {', '.join(sorted(set(FORMATS.values())))}")


def write_report(path: Path, data: dict[str, Any], unit: str | None = None, paper: str = "a4") -> list[Path]:
    """Render and write the report at `path` (format by extension); returns the files written, report first."""
    path = Path(path)
    fmt = report_format(path)
    check_target(path)
    files = render_report(data, fmt, name=path.name, unit=unit, paper=paper)
    return write_files(path.parent, files, label=str(path))


def check_target(path: Path) -> None:
    """A one-line error now (before rendering) when the report could not be written there."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        if not parent.is_dir():
            raise BadInputError(f"{path}: folder {parent} does not exist")
        if path.is_dir():
            raise BadInputError(f"{path} is a folder; give a file name such as {path / 'report.pdf'}")
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write report ({exc.strerror or exc})") from None


def file_mode() -> int:
    """0644 less the process umask: what an ordinary new document gets."""
    return 0o644 & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would race with other threads)
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_files(folder: Path, files: list[tuple[str, bytes]], label: str = "") -> list[Path]:
    """Write every (name, bytes) into folder atomically: all temporary files first, then the renames; on any error
    no temporary file is left and nothing is replaced, and the error is one line."""
    folder = folder if str(folder) else Path(".")
    mode = file_mode()
    temps: list[tuple[str, Path]] = []
    try:
        for name, payload in files:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".qp-", suffix=".tmp")
            temps.append((name, Path(tmp)))
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), mode)
        # the linked files (charts) first, the report itself last
        for name, tmp in temps[1:] + temps[:1]:
            os.replace(tmp, folder / name)
    except OSError as exc:
        for _, tmp in temps:
            tmp.unlink(missing_ok=True)
        raise BadInputError(f"{label or folder}: cannot write report ({exc.strerror or exc})") from None
    return [folder / name for name, _ in files]
