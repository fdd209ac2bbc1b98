"""The bad-input corpus through the desktop app: each hostile model ends in the banner (one plain-text line) with
the previous plan kept, no exception ever reaches sys.excepthook, and model-controlled text is shown as text."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("PySide6")
from cases_hub import hub_cases  # noqa: E402
from cases_args import local_cases  # noqa: E402
from corpus import FAKE_TOKEN, Case, fifo, inputs, write  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QTextDocument  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402

pytest_plugins = ("hub_server",)


def _model_only(case: Case) -> bool:
    """Cases that are one model spec given to `plan` (what the app's model box takes)."""
    return getattr(case.make, "model_only", False) and case.check is None and not case.tags


def _spec(case: Case, tmp: Path) -> str:
    made = case.make(tmp)
    assert isinstance(made, list) and made[0] == "plan"
    return made[1]


APP_LOCAL = [c for c in local_cases() if _model_only(c)]
APP_HUB = [c for c in hub_cases() if _model_only(c) and c.cls in ("cache", "bounded", "traceback")][:40]


@pytest.fixture(scope="module")
def window(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainWindow]:
    folder = tmp_path_factory.mktemp("app-corpus")
    w = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    deadline = time.monotonic() + 20
    while w.controller.plan is None and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    assert w.controller.plan is not None
    yield w
    w.close()


def _wait(qapp: QApplication, until: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.002)
    return bool(until())


def _load(window: MainWindow, qapp: QApplication, spec: str, seconds: float, monkeypatch: pytest.MonkeyPatch,
          ok: bool) -> list[str]:
    """Set the model as the model box does; wait for the banner (or the new model); return the errors seen."""
    hooks: list[Any] = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: hooks.append(a))
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    before_plan, before_inv = window.controller.plan, window.controller.inventory
    try:
        if window.state.request.model == spec:  # the same spec again: the model box would not change
            window.controller.load(spec, use_hub=True)
        else:
            window.state.set_model(spec, use_hub=True)
        done = _wait(qapp, lambda: errors or window.controller.inventory is not before_inv, seconds)
        assert done, f"no banner and no model within {seconds} s"
        _wait(qapp, lambda: window.controller._worker is None, 2)
    finally:
        window.controller.error.disconnect(errors.append)
    assert not hooks, hooks  # nothing reached sys.excepthook
    if ok:
        assert not errors, errors
        assert window.controller.inventory is not before_inv and window.controller.plan is not before_plan
    else:
        assert errors and not window.banner.isHidden()
        text = window.banner.text()
        assert window.banner.textFormat() == Qt.TextFormat.PlainText
        assert "\n" not in text and "\x1b" not in text and FAKE_TOKEN not in text and "Traceback" not in text
        assert not text.startswith(("internal error", "RecursionError", "OverflowError")), text
        assert window.controller.plan is before_plan and window.controller.inventory is before_inv
        assert window.state.request.model == before_inv.id or window.state.request.model != spec
    return errors


@pytest.mark.parametrize("case", APP_LOCAL, ids=[c.id for c in APP_LOCAL])
def test_app_local(case: Case, window: MainWindow, qapp: QApplication, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hub_server import point_huggingface_hub_at

    point_huggingface_hub_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf-home", offline=True)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    _load(window, qapp, _spec(case, tmp_path), max(case.seconds, 10), monkeypatch, case.ok)
    _facts_are_text(window)


@pytest.mark.parametrize("case", APP_HUB, ids=[c.id for c in APP_HUB])
def test_app_hub(case: Case, window: MainWindow, qapp: QApplication, hub: Any, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    assert case.hub is not None
    case.hub(hub, tmp_path)
    _load(window, qapp, _spec(case, tmp_path), max(case.seconds, 10), monkeypatch, case.ok)


def _facts_are_text(window: MainWindow) -> None:
    """Whatever the model calls itself shows literally in the facts label: no tag of its own is rendered."""
    label = window.model_panel.facts
    doc = QTextDocument()
    doc.setHtml(label.text())
    shown = doc.toPlainText().replace("\u200b", "")  # breakable()'s wrap points
    inv = window.controller.inventory
    assert inv.id.replace("\n", "\\n")[:60] in shown.replace("\u2028", "\n") or "\\" in inv.id


def test_html_names_show_as_text(window: MainWindow, qapp: QApplication, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A GGUF named with markup and a folder named like an <img> tag: shown as the characters they are."""
    from corpus import LLAMA_GGUF_KV, TINY_CONFIG, gguf_bytes

    name = '<a href="http://evil">click</a><img src=x onerror=alert(1)>'
    kv = [(k, t, name if k == "general.name" else v) for k, t, v in LLAMA_GGUF_KV]
    path = write(tmp_path, "named.gguf", gguf_bytes(kv))
    _load(window, qapp, str(path), 10, monkeypatch, ok=True)
    doc = QTextDocument()
    doc.setHtml(window.model_panel.facts.text())
    # the literal text, not a link and an image (the zero-width spaces app.panels.common.breakable adds to let a long
    # id wrap are not part of it)
    assert name in doc.toPlainText().replace("\u200b", "")
    folder = inputs(tmp_path) / "<b>bold<i>italic<img src=x onerror=alert(1)>"  # no '/' in a folder name
    folder.mkdir(parents=True)
    errors = _load(window, qapp, str(folder), 10, monkeypatch, ok=False)
    assert "<b>bold<i>" in window.banner.text() and "<b>bold<i>" in errors[0]
    write(tmp_path, "ok/config.json", TINY_CONFIG)
    _load(window, qapp, str(inputs(tmp_path) / "ok"), 10, monkeypatch, ok=True)


def test_five_fifos_then_a_model(window: MainWindow, qapp: QApplication, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from corpus import TINY_CONFIG

    for i, name in enumerate(("config.json", "model.safetensors", "x.gguf", "model.safetensors.index.json",
                              "gpus.safetensors")):
        p = fifo(tmp_path, f"f{i}/{name}")
        start = time.monotonic()
        errors = _load(window, qapp, str(p), 5, monkeypatch, ok=False)
        assert "FIFO" in errors[0] and time.monotonic() - start < 5
    write(tmp_path, "good/config.json", {**TINY_CONFIG, "num_hidden_layers": 3})
    _load(window, qapp, str(inputs(tmp_path) / "good"), 10, monkeypatch, ok=True)
    assert window.controller.inventory.arch.num_layers == 3
