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


_PREFIXES = {"GiB": (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)),
             "GB": (("GB", 10**9), ("MB", 10**6), ("kB", 10**3))}


def unit_for(n: int | float, unit: str = "GiB") -> tuple[str, int]:
    """The unit to show n bytes in: the chosen one (GiB or GB, never a larger one), or a smaller one of the same
    family when n is under one of it, so a small model reads '87.6 MiB', not '0.09 GiB'."""
    for name, div in _PREFIXES.get(unit, _PREFIXES["GiB"]):
        if abs(n) >= div:
            return name, div
    return "B", 1


def format_auto(n: int | float | None, unit: str = "GiB") -> str:
    """n bytes in the unit its magnitude calls for (unit_for): 2 decimals in GiB/GB, 1 in MiB/MB, 0 below."""
    if n is None:
        return "-"
    name, div = unit_for(n, unit)
    digits = 2 if name in ("GiB", "GB") else 1 if name in ("MiB", "MB") else 0
    return f"{n / div:,.{digits}f} {name}"


def format_in(n: int | float | None, unit: str) -> str:
    """n bytes in a table's unit (GiB, MiB, GB, ...) so a column reads alike; a value that would show as 0.00 there
    falls back to the unit its own magnitude calls for ('2.0 MiB', not '0.00 GiB')."""
    if n is None:
        return "-"
    div = {name: d for family in _PREFIXES.values() for name, d in family} | {"B": 1}
    family = "GB" if unit in ("GB", "MB", "kB") else "GiB"
    if unit not in div or abs(n) / div[unit] < 0.005:
        return format_auto(n, family)
    digits = 2 if unit in ("GiB", "GB") else 1 if unit in ("MiB", "MB") else 0
    return f"{n / div[unit]:,.{digits}f} {unit}"


_TOKENS = re.compile(r"^\s*(\d{1,30}(?:[,_]\d{3}){0,10}(?:\.\d{1,30})?)\s*([km]?)\s*$", re.IGNORECASE)


def parse_tokens(text: str) -> int:
    """A token count as people write it: '8192', '8,192', '8k' (= 8192: k and M are powers of 1024, as in '128k
    context' = 131072), '1.5k', '1M'. Bad text raises BadInputError (digits bounded and the value exact: '1e400k'
    or 400 nines are refused, never an overflow; the workload bounds the value itself)."""
    m = _TOKENS.match(str(text)[:200])
    if not m:
        raise BadInputError(f"'{str(text)[:60]}' is not a token count (examples: 4096, 8k, 32k, 128k; k = 1024 "
                            "tokens)")
    value = Fraction(m.group(1).replace(",", "").replace("_", "")) * {"": 1, "k": 1024, "m": 1024**2}[
        m.group(2).lower()]
    if value < 1 or value.denominator != 1:
        raise BadInputError(f"'{str(text)[:60]}' is not a whole number of tokens of at least 1")
    return int(value)


_GPU_MEMORY = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*(g|gb|gib|t|tb|tib|m|mb|mib)\s*$", re.IGNORECASE)


def parse_gpu_memory(text: str) -> int | None:
    """A bare GPU memory size such as '24GB' or '80 GiB' -> bytes, read as vendors state GPU memory: their 'GB' is
    binary (a 24 GB card holds 24 GiB), so GB and GiB both mean 2**30 here. None when text is not such a size."""
    m = _GPU_MEMORY.match(str(text))
    if not m:
        return None
    scale = {"g": 2**30, "t": 2**40, "m": 2**20}[m.group(2)[0].lower()]
    value = int(Fraction(m.group(1)) * scale)  # exact: no float overflow
    if value > MAX_BYTES:
        raise BadInputError(f"GPU memory '{str(text)[:60]}' is more than {MAX_BYTES // 2**50} PiB")
    if value < MIN_GPU_BYTES:
        raise BadInputError(f"GPU memory '{str(text)[:60]}' is less than 1 MiB; give the card's memory, e.g. 24GB")
    return value


MIN_GPU_BYTES = 1 << 20
