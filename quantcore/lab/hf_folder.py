"""Whether transformers may open a local model folder: it opens the files there by name with plain open() and
builds the model config.json describes, so a FIFO would block it forever, /dev/zero behind a symlink would be read
without end, and 10**12-wide layers would be allocated. Checked here first (issue 8); the callers (calibration,
activations) fall back to synthetic inputs with the reason."""
from __future__ import annotations

import os
from pathlib import Path

MAX_SIDE_FILE_BYTES = 512 << 20  # tokenizer and config files transformers reads whole
MAX_FOLDER_ENTRIES = 10_000
MAX_CONFIG_BYTES = 10 << 20


def folder_problem(folder: Path) -> str | None:
    """Why transformers should not open `folder` (one line), or None: every entry a regular file or a folder, side
    files at most MAX_SIDE_FILE_BYTES, config.json's sizes inside the bounds table (key by key for a model family
    not built here)."""
    from quantcore.errors import QuantPlannerError, UnsupportedArchitectureError
    from quantcore.model.arch import inventory_from_config
    from quantcore.model.bounds import CONFIG_KEYS, config_int
    from quantcore.sources.safe_io import probe, read_json

    try:
        with os.scandir(folder) as it:
            entries = [e.name for _, e in zip(range(MAX_FOLDER_ENTRIES + 1), it)]
    except OSError as e:
        return f"cannot list {folder} ({e.strerror or e})"
    if len(entries) > MAX_FOLDER_ENTRIES:
        return f"{folder} holds more than {MAX_FOLDER_ENTRIES:,} entries"
    try:
        for name in entries:
            kind = probe(folder / name)
            if kind == "dir":
                continue
            if kind != "file":
                return f"{name} in {folder} is not a regular file"
            if not name.endswith(".safetensors") and os.stat(folder / name).st_size > MAX_SIDE_FILE_BYTES:
                return f"{name} in {folder} is larger than {MAX_SIDE_FILE_BYTES >> 20} MiB"
        config = read_json(folder / "config.json", MAX_CONFIG_BYTES, "config.json")
        try:
            inventory_from_config(config, str(folder))
        except UnsupportedArchitectureError:  # a family not built here: its sizes checked key by key
            for key in set(CONFIG_KEYS) & set(config):
                if config[key] is not None:
                    config_int(key, config[key])
    except (QuantPlannerError, OSError, TypeError, ValueError) as e:
        return str(e)[:200]
    return None
