"""Byte figures at the edge: parse '1.5GiB' / '800MB', format ints as GiB or GB."""
from __future__ import annotations

import re
from fractions import Fraction

from quantcore.errors import BadInputError

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([a-z]{0,3})\s*$", re.IGNORECASE)
MAX_BYTES = 1 << 55  # 32 PiB: any size a user types above this is a typo (quantcore.model.bounds.BYTES)


def parse_bytes(text: str) -> int:
    """'1.5GiB' -> 1610612736; a bare number is bytes. Bad text, or more than 32 PiB, raises BadInputError."""
    m = _SIZE.match(str(text)[:100])
    if not m or m.group(2).lower() not in _UNITS:
        raise BadInputError(f"'{str(text)[:60]}' is not a size (examples: 512MiB, 1.5GiB, 2GB, 1000000)")
    value = int(Fraction(m.group(1)) * _UNITS[m.group(2).lower()])  # exact: no float overflow
    if value > MAX_BYTES:
        raise BadInputError(f"'{str(text)[:60]}' is more than {MAX_BYTES // 2**50} PiB; give a size in bytes, "
                            "MiB, GiB or TiB")
    return value


def format_bytes(n: int | float | None, unit: str = "GiB", digits: int = 2) -> str:
    """An int of bytes as '12.34 GiB' (binary) or '13.25 GB' (decimal); None as '-'."""
    if n is None:
        return "-"
    div = {"GiB": 2**30, "GB": 10**9, "MiB": 2**20, "MB": 10**6}[unit]
    return f"{n / div:,.{digits}f} {unit}"
