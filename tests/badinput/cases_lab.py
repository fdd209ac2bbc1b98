"""Corpus cases for the lab's commands (`testrun`, `sensitivity`): files that are not files, NaN weights, absurd
sizes, and the model folder transformers would open for real activations (a FIFO tokenizer, /dev/zero as a vocabulary,
2**40-wide layers in config.json): refused in one line with --calibration real, synthetic inputs with auto."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from cases_engine import _normal, f32_model, with_file
from corpus import TINY_CONFIG, Case, Make, fifo, inputs, link


# -- testrun / sensitivity: the lab's commands, and the folder transformers would open ---------------------------

def lab_cases() -> list[Case]:
    def lab(command: str, model: Callable[[Path], Path | str], *extra: str) -> Make:
        def make(root: Path) -> list[str]:
            return [command, str(model(root)), "--precision", "int8", *extra]
        return make

    fifo_tok = with_file("tokenizer.json", lambda r: fifo(r, "m/tokenizer.json"))
    zero_vocab = with_file("vocab.txt", lambda r: link(r, "m/vocab.txt", "/dev/zero"))
    wide = f32_model(_normal, config={**TINY_CONFIG, "intermediate_size": 2**40})
    cases: list[tuple[str, str, Make, str, bool]] = []
    for command in ("testrun", "sensitivity"):
        cases += [
            (f"{command}-fifo-model", "hang", lab(command, lambda r: fifo(r, "m/model.safetensors")), "FIFO", False),
            (f"{command}-dev-zero-model", "bounded", lab(command, lambda r: link(r, "m/model.safetensors",
                                                                               "/dev/zero")), "device", False),
            (f"{command}-nan-weights", "accepted", lab(command, f32_model(lambda s: np.full(s, np.nan)),
                                                       "--calibration", "synthetic"), "NaN", False),
            (f"{command}-missing", "traceback", lab(command, lambda r: inputs(r) / "nope"), "local", False),
            (f"{command}-tilde-nouser", "traceback", lab(command, lambda r: "~nosuchuser_qp/m"), "local", False),
            (f"{command}-name-300", "traceback", lab(command, lambda r: "/" + "n" * 300), "local", False),
            # transformers would block on the FIFO, read /dev/zero forever, or build 2**40-wide layers
            (f"{command}-fifo-tokenizer-real", "hang", lab(command, fifo_tok, "--calibration", "real"),
             "not a regular file", False),
            (f"{command}-fifo-tokenizer-auto", "hang", lab(command, fifo_tok), "", True),
            (f"{command}-dev-zero-vocab-real", "bounded", lab(command, zero_vocab, "--calibration", "real"),
             "not a regular file", False),
            (f"{command}-wide-config-real", "bounded", lab(command, wide, "--calibration", "real"),
             "intermediate_size", False),
            (f"{command}-wide-config-auto", "bounded", lab(command, wide), "", True),
        ]
    good = f32_model(_normal)
    for label, extra, needle in (("tokens-1e9", ("--tokens", "1000000000"), "tokens"),
                                 ("tokens-0", ("--tokens", "0"), "tokens"),
                                 ("tokens-neg", ("--tokens", "-5"), "tokens")):
        cases.append((f"sensitivity-{label}", "accepted", lab("sensitivity", good, *extra), needle, False))
        cases.append((f"testrun-{label}", "accepted", lab("testrun", good, *extra), needle, False))
    for label, extra, needle in (("batch-1e9", ("--batch", "1000000000"), "batch"),
                                 ("batch-0", ("--batch", "0"), "batch"),
                                 ("layer-ansi", ("--layer", "\x1b[2J\nq_proj\u202e"), ""),
                                 ("device-bogus", ("--device", "quantum:7"), "device")):
        cases.append((f"testrun-{label}", "accepted" if label.startswith("batch") else "hygiene",
                      lab("testrun", good, *extra), needle, False))
    for v in ("nan", "inf", "-1", "2000"):
        cases.append((f"sensitivity-budget-{v}", "accepted", lab("sensitivity", good, "--budget", v), "budget",
                      False))
    cases.append(("testrun-valid-json", "holds", lab("testrun", good, "--calibration", "synthetic", "--json"), "",
                  True))
    return [Case(name, cls, make, needle=needle, ok=ok, seconds=60) for name, cls, make, needle, ok in cases]


