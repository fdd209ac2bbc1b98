"""Engine error lines reworded for the window: what to click instead of which command to run."""
from __future__ import annotations

import re

BUNDLED = "the Bundled list in the Model panel"
LOGIN = "paste an access token in File > Hugging Face token..."
# (pattern, replacement) applied in order; the engine's messages are written for the command line
_RULES: tuple[tuple[str, str], ...] = (
    (r"list them with `quantplanner models`", f"they are in {BUNDLED}"),
    (r"\s*\((?:see |run )?`quantplanner models`\)", f" ({BUNDLED})"),
    (r"run `quantplanner gpus` to list them", "tick one in the GPUs list"),
    (r"`quantplanner gpus` lists them; add your own in [^)]*", "the GPUs list shows them; add your own with "
                                                                "Add custom GPU..."),
    (r"log in with `hf auth login` or set HF_TOKEN", LOGIN),
    (r"upgrade it with `pip install -U gguf`", "update QuantPlanner (its gguf package is too old)"),
    (r"\s*\(see --help\)", ""),
)


def gui_text(message: str, offline: str = "") -> str:
    """The engine's one-line message as the window shows it. offline: why the Hub is off ('' online,
    'env' for HF_HUB_OFFLINE in the environment, 'setting' for View > Work offline, 'auto' when unreachable)."""
    text = message
    for pattern, replacement in _RULES:
        text = re.sub(pattern, replacement, text)
    if offline == "env":
        text = text.replace("unset HF_HUB_OFFLINE to fetch it", "start QuantPlanner without HF_HUB_OFFLINE to fetch it")
        text = text.replace("unset it,", "start QuantPlanner without it,")
    else:
        text = text.replace("HF_HUB_OFFLINE is set", "QuantPlanner is working offline")
        text = text.replace("unset HF_HUB_OFFLINE to fetch it", "untick View > Work offline to fetch it")
        text = text.replace(": unset it,", ": untick View > Work offline,")
    text = text.replace("set HF_HUB_OFFLINE=1 to use cached and bundled models",
                        "tick View > Work offline to use cached and bundled models")
    text = re.sub(r"\s*\([^()]*`[^()]*\)", "", text)  # any other command in parentheses: drop the aside
    return text.replace("`", "")
