"""Reading files that may be hostile: regular files only (a FIFO or device never blocks), bounded reads, JSON and
TOML parsed only up to a sane nesting depth, and path checks that never raise.

Every reader in quantcore opens files through open_regular / read_capped (config.json, indexes, safetensors and GGUF
headers, Hub cache entries, the GPUs file, and the engine's tensor readers): checks sprinkled per call site miss the
next reader. What it guarantees:
  - open never blocks: O_NONBLOCK, so a FIFO named config.json (no writer) opens at once and is then refused;
  - only regular files are read (fstat on the opened descriptor, so a swapped symlink cannot slip a device in):
    /dev/zero, /dev/urandom, FIFOs, sockets and folders are refused, whatever st_size says;
  - at most cap + 1 bytes are read: a file over its cap is refused before anything is parsed;
  - JSON and TOML nested deeper than MAX_DEPTH are refused before the parser recurses (no RecursionError), and
    numbers too long to convert are refused (no ValueError escaping as a traceback).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from quantcore.errors import ModelFileError, QuantPlannerError

MAX_DEPTH = 64  # real configs, indexes and headers nest 3 to 6 deep
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"\\[]{}')
_ESCAPED = re.compile(rb"\\.", re.DOTALL)
_TOML_NOISE = re.compile(rb'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*',
                         re.DOTALL)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


@contextlib.contextmanager
def open_regular(path: str | os.PathLike[str], what: str = "file",
                 error: type[QuantPlannerError] = ModelFileError) -> Iterator[BinaryIO]:
    """The file opened for binary reading, if it is a regular file; `error` (one line) otherwise.

    Opens with O_NONBLOCK (a FIFO without a writer would block a plain open forever), then checks the opened
    descriptor with fstat, then turns blocking back on for the reads."""
    p = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise error(f"{p}: no such {what}") from None
        raise error(f"{p}: cannot open {what} ({_reason(exc)})") from None
    except ValueError:  # an embedded NUL byte
        raise error(f"{p!r}: not a usable file name") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise error(f"{p}: is {kind}, not a regular {what}; point at the file itself")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh  # type: ignore[misc]


def read_capped(fh: BinaryIO, cap: int, where: str, what: str = "file",
                error: type[QuantPlannerError] = ModelFileError) -> bytes:
    """At most cap bytes from an open file; `error` when there is more (at most cap + 1 bytes are ever read)."""
    try:
        data = fh.read(cap + 1)
    except OSError as exc:
        raise error(f"{where}: cannot read {what} ({_reason(exc)})") from None
    if len(data) > cap:
        raise error(f"{where}: {what} is larger than {cap:,} bytes; refusing (is it really a {what}?)")
    return data


def read_bytes(path: str | os.PathLike[str], cap: int, what: str = "file",
               error: type[QuantPlannerError] = ModelFileError) -> bytes:
    """The whole content of a regular file of at most `cap` bytes."""
    with open_regular(path, what, error) as fh:
        return read_capped(fh, cap, os.fspath(path), what, error)


def read_text(path: str | os.PathLike[str], cap: int, what: str = "file",
              error: type[QuantPlannerError] = ModelFileError) -> str:
    """A UTF-8 text file of at most `cap` bytes."""
    raw = read_bytes(path, cap, what, error)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{os.fspath(path)}: {what} is not UTF-8 text") from None


def nesting_depth(raw: bytes) -> int:
    """How deep [ and { nest in JSON text, brackets inside strings not counted; linear time, bounded memory."""
    import numpy as np

    body = raw.translate(None, _NOT_STRUCTURE)  # only " \\ [ ] { } are left: a few bytes per entry
    if b"\\" in body:
        body = _ESCAPED.sub(b"", body)  # an escaped quote or backslash is not structure
    deepest = level = quotes = 0
    for start in range(0, len(body), 1 << 20):  # in 1 MiB pieces
        arr = np.frombuffer(body, dtype=np.uint8, count=min(1 << 20, len(body) - start), offset=start)
        inside = (np.cumsum(arr == 0x22) + quotes) % 2 == 1  # odd number of quotes so far: inside a string
        step = ((arr == 0x5B) | (arr == 0x7B)).astype(np.int32) - ((arr == 0x5D) | (arr == 0x7D))
        step[inside] = 0
        run = np.cumsum(step) + level
        deepest, level = max(deepest, int(run.max())), int(run[-1])
        quotes += int(np.count_nonzero(arr == 0x22))
    return deepest


def _toml_depth(raw: bytes) -> int:
    """nesting_depth for TOML: its strings (basic, literal, multi-line) and comments removed first."""
    return nesting_depth(_TOML_NOISE.sub(b"", raw))


def parse_json(raw: bytes | str, where: str, what: str = "JSON",
               error: type[QuantPlannerError] = ModelFileError, *, finite: bool = False) -> Any:
    """JSON bytes parsed, refused with one line when malformed, nested deeper than MAX_DEPTH, or holding a number
    too long to convert; never a RecursionError or ValueError traceback. With `finite`, NaN, Infinity and numbers
    that overflow a float (1e400) are refused too (strict JSON, as a saved plan must be)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = nesting_depth(data)
    if depth > MAX_DEPTH:
        raise error(f"{where}: {what} nests {depth:,} levels deep (at most {MAX_DEPTH}); refusing")
    strict: dict[str, Any] = {"parse_constant": _not_finite, "parse_float": _finite_float} if finite else {}
    try:
        return json.loads(data, **strict)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: {what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except UnicodeDecodeError:
        raise error(f"{where}: {what} is not valid JSON (not UTF-8 text)") from None
    except (ValueError, RecursionError, OverflowError) as exc:  # e.g. a 5,000-digit number
        raise error(f"{where}: unusable {what} ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def _not_finite(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def read_json(path: str | os.PathLike[str], cap: int, what: str = "JSON file",
              error: type[QuantPlannerError] = ModelFileError, *, finite: bool = False) -> Any:
    """A JSON file of at most `cap` bytes, parsed with parse_json's bounds."""
    return parse_json(read_bytes(path, cap, what, error), os.fspath(path), what, error, finite=finite)


def parse_toml(raw: bytes, where: str, error: type[QuantPlannerError] = ModelFileError) -> dict[str, Any]:
    """TOML bytes parsed with the same nesting bound as JSON (tomllib recurses on nested arrays and tables)."""
    import tomllib

    depth = _toml_depth(raw)
    if depth > MAX_DEPTH:
        raise error(f"{where}: TOML nests {depth:,} levels deep (at most {MAX_DEPTH}); refusing")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML ({exc})") from None
    except (ValueError, RecursionError, OverflowError) as exc:
        raise error(f"{where}: unusable TOML ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def probe(path: Path) -> str | None:
    """'dir', 'file' or 'other' for what is at `path`, None when nothing is (or the name cannot be a path: too long,
    a NUL byte). A permission error is raised as ModelFileError: the thing may well be there."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as exc:
        raise ModelFileError(f"{path}: cannot access ({_reason(exc)})") from None
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL):
            return None
        raise ModelFileError(f"{path}: cannot access ({_reason(exc)})") from None
    except ValueError:  # NUL byte in the name
        return None
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def exists(path: Path) -> bool:
    """Path.exists that never raises (ENAMETOOLONG, EACCES and a NUL byte all read as 'not there')."""
    try:
        return probe(path) is not None
    except ModelFileError:
        return False


def safe_name(name: Any) -> bool:
    """A relative file name inside a folder or repo: text, no absolute path, no '..', no NUL or control bytes,
    no backslash; at most 1,000 characters."""
    if not isinstance(name, str) or not name or len(name) > 1000 or name.startswith("/") or "\\" in name:
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def under(root: Path, path: Path) -> bool:
    """Whether `path` resolves to somewhere inside `root` (symlinks and '..' resolved)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))
    except (OSError, ValueError):
        return False
