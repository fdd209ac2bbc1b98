"""Fixtures of the lab tests: a few real MiniLM weight matrices."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def minilm_weights(minilm_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    names = ("encoder.layer.3.intermediate.dense.weight", "encoder.layer.0.attention.self.query.weight")
    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        return {name: f.get_tensor(name) for name in names}
