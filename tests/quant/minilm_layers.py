"""Shared by the GPTQ / AWQ tests: the real all-MiniLM-L6-v2 linear weights and their real calibration inputs."""
from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=2)
def weights_and_inputs(folder: str, every_other: int = 0) -> tuple[dict, dict, str]:
    """(weight name -> fp32 [out, in], weight name -> real inputs [tokens, in], description) for the 36 encoder
    linears; every_other = 1 or 2 uses the even / odd built-in sentences only (0: all)."""
    from safetensors.torch import load_file

    from quantcore.lab import calibration as cal

    sentences = cal.SENTENCES if not every_other else cal.SENTENCES[every_other - 1::2]
    c = cal.capture(Path(folder), sentences=sentences, modules=lambda n: n.startswith("encoder."))
    sd = load_file(str(Path(folder) / "model.safetensors"))
    weights = {f"{n}.weight": sd[f"{n}.weight"].float() for n in c.inputs}
    inputs = {f"{n}.weight": x for n, x in c.inputs.items()}
    return weights, inputs, c.description


def output_error(x, w, q) -> float:
    """||X W^T - X Q^T|| / ||X W^T|| (Frobenius)."""
    ref = x @ w.t()
    return float((ref - x @ q.t()).norm() / ref.norm())
