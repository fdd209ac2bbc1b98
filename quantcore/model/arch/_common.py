"""Config-reading helpers shared by the architecture families: dtype, switches, positive sizes."""
from __future__ import annotations

from typing import Any

from quantcore.model.bounds import config_int

DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "half": "F16", "float": "F32"}


def dtype_of(config: dict[str, Any]) -> str:
    """Stored dtype named by config "dtype" (transformers 5) or "torch_dtype"; BF16 when neither is given."""
    name = config.get("dtype") or config.get("torch_dtype") or "bfloat16"
    if not isinstance(name, str):
        raise TypeError(f"torch_dtype must be a string, not {name!r}")
    key = name.removeprefix("torch.")
    if key not in DTYPES:
        raise ValueError(f"torch_dtype {name!r} is not one of {', '.join(sorted(DTYPES))}")
    return DTYPES[key]


def flag(config: dict[str, Any], key: str, default: bool) -> bool:
    """A true/false switch; absent or null gives the family's transformers default."""
    value = config.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TypeError(f"'{key}' must be true or false, not {value!r}")
    return value


def positive(key: str, value: Any) -> int:
    """An integer size that must be > 0 (bools are not sizes)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{key}' must be an integer, not {value!r}")
    if value <= 0:
        raise ValueError(f"'{key}' must be positive, not {value}")
    return config_int(key, value)
