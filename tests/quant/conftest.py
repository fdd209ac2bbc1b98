"""Fixtures of the quantization tests: real MiniLM weights and random matrices with outlier channels."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

MINILM_MATRICES = ("encoder.layer.3.intermediate.dense.weight", "encoder.layer.0.attention.self.query.weight",
                   "encoder.layer.5.output.dense.weight")


@pytest.fixture(scope="session")
def minilm_weights(minilm_dir: Path) -> dict[str, torch.Tensor]:
    """A few real all-MiniLM-L6-v2 weight matrices (float32, as stored)."""
    from safetensors import safe_open

    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        return {name: f.get_tensor(name) for name in MINILM_MATRICES}


def outlier_matrix(rows: int, cols: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Gaussian weights with a few large outlier columns and single spikes, like LLM projections."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.02
    cols_out = torch.randint(0, cols, (max(1, cols // 100),), generator=g)
    w[:, cols_out] *= 40
    spikes = torch.randint(0, rows * cols, (max(1, rows * cols // 5000),), generator=g)
    w.view(-1)[spikes] = torch.randn(spikes.numel(), generator=g) * 3
    return w.to(dtype)
