"""The desktop app's Hub side against the stand-in Hub: search with completion, fetch with progress, recent
models, the offline indicator, and a gated repo that keeps the old plan."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QSettings  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from quantcore.model.arch import inventory_from_config  # noqa: E402

if TYPE_CHECKING:
    from hub_server import StandInHub

pytest_plugins = ("hub_server",)

TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 8,
        "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 2048, "torch_dtype": "bfloat16",
        "num_hidden_layers": 2}


@pytest.fixture(scope="module")
def gui_repos(hub_server: StandInHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    from hub_server import tensors_of, write_sharded

    root = tmp_path_factory.mktemp("gui-repos")
    counts = {}
    for repo_id, gated, shards in (("guitest/tiny-llama", False, 3), ("guitest/locked-llama", True, 1)):
        inv = inventory_from_config(TINY)
        files = write_sharded(root / repo_id.split("/")[1], tensors_of(inv), shards, TINY)
        hub_server.add_repo(repo_id, files, gated=gated, downloads=123 if not gated else 7)
        counts[repo_id] = inv.parameters
    return counts


@pytest.fixture
def window(qtbot, hub: StandInHub, gui_repos: dict[str, int], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv("QUANTPLANNER_GPUS", str(tmp_path / "gpus.toml"))
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    return w


def test_default_model_loads_without_the_hub(window: MainWindow, hub: StandInHub) -> None:
    assert window.controller.inventory.source == "config"
    assert not [r for r in hub.requests if "Llama-3.1-8B" in r.path]  # bundled: no network at start-up


def test_search_shows_results_and_completion_then_loads_with_progress(qtbot, window: MainWindow,
                                                                       gui_repos: dict[str, int]) -> None:
    panel = window.model_panel
    panel.hub_search.setText("guitest")
    with qtbot.waitSignal(window.controller.search_results, timeout=10000):
        panel.hub_search.textEdited.emit("guitest")  # what typing does: the debounce timer then searches
    ids = [panel.hub_results.item(i).data(0x0100) for i in range(panel.hub_results.count())]
    assert "guitest/tiny-llama" in ids and "guitest/locked-llama" in ids
    assert any(s.startswith("guitest/tiny-llama  (") for s in panel.completions.stringList())
    assert "123 downloads" in panel.hub_results.item(ids.index("guitest/tiny-llama")).text()
    steps: list[float] = []
    window.controller.progress.connect(lambda _text, frac: steps.append(frac))
    item = panel.hub_results.item(ids.index("guitest/tiny-llama"))
    with qtbot.waitSignal(window.controller.inventory_ready, timeout=20000):
        panel.hub_results.itemClicked.emit(item)
    inv = window.controller.inventory
    assert inv.source == "safetensors" and inv.parameters == gui_repos["guitest/tiny-llama"]
    assert steps, "the fetch reported progress"
    qtbot.waitUntil(lambda: window.controller.plan.inventory is inv, timeout=5000)
    assert panel.recent.itemText(0) == "guitest/tiny-llama" and panel.recent.itemData(0) is True


def test_gated_repo_shows_error_and_keeps_plan(qtbot, window: MainWindow) -> None:
    before = window.controller.plan
    with qtbot.waitSignal(window.controller.error, timeout=20000):
        window.state.set_model("guitest/locked-llama", use_hub=True)
    assert "guitest/locked-llama" in window.banner.text() and "license" in window.banner.text().lower()
    assert window.controller.plan is before
    assert window.state.request.model == "meta-llama/Llama-3.1-8B"


def test_starts_online_and_says_so(qtbot, window: MainWindow, hub: StandInHub) -> None:
    qtbot.waitUntil(lambda: window.hub_mode.state == "online", timeout=10000)  # the start-up probe answered
    text = window.model_panel.hub_status.toolTip()
    assert text.startswith("Hub: online") and hub.url.removeprefix("http://") in text
    assert window.offline_action.isEnabled() and not window.offline_action.isChecked()


def test_work_offline_is_one_setting_away_and_persists(qtbot, window: MainWindow, hub: StandInHub,
                                                       tmp_path: Path) -> None:
    from huggingface_hub import constants

    qtbot.waitUntil(lambda: window.hub_mode.state == "online", timeout=10000)
    window.offline_action.setChecked(True)
    assert constants.HF_HUB_OFFLINE is True
    assert "View > Work offline" in window.model_panel.hub_status.toolTip()
    hub.reset()
    window.model_panel.search_requested.emit("guitest")  # offline: nothing is asked, the indicator says why
    qtbot.wait(200)
    assert hub.request_count == 0 and "Searching needs the Hub" in window.model_panel.hub_status.toolTip()
    window.close()
    assert constants.HF_HUB_OFFLINE is False  # the window gives huggingface_hub its switch back
    again = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.offline_action.isChecked() and again.hub_mode.reason == "setting"
    assert constants.HF_HUB_OFFLINE is True
    again.offline_action.setChecked(False)
    qtbot.waitUntil(lambda: again.hub_mode.state == "online", timeout=10000)
    assert constants.HF_HUB_OFFLINE is False


def test_unreachable_hub_falls_back_by_itself(qtbot, monkeypatch: pytest.MonkeyPatch, hub: StandInHub,
                                             tmp_path: Path) -> None:
    import socket

    from huggingface_hub import constants

    with socket.socket() as s:  # a port nobody listens on: the Hub "cannot be reached"
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.hub_mode.reason == "auto", timeout=10000)
    assert constants.HF_HUB_OFFLINE is True  # loads go to the cache and bundled configs at once
    assert w.model_panel.hub_status.toolTip().startswith("Hub: cannot reach 127.0.0.1")
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)  # the bundled default still plans
    assert not w.offline_action.isChecked()  # the setting is untouched: next start tries the Hub again
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # the network is back: a search asks again, and works
    with qtbot.waitSignal(w.controller.search_results, timeout=10000):
        w.model_panel.search_requested.emit("guitest")
    assert w.hub_mode.state == "online" and constants.HF_HUB_OFFLINE is False


def test_hf_hub_offline_is_honoured(qtbot, monkeypatch: pytest.MonkeyPatch, hub: StandInHub, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    assert w.hub_mode.reason == "env" and "HF_HUB_OFFLINE is set" in w.model_panel.hub_status.toolTip()
    assert w.offline_action.isChecked() and not w.offline_action.isEnabled()
    assert hub.request_count == 0


def test_cancel_a_slow_fetch_keeps_the_old_model(qtbot, window: MainWindow, hub: StandInHub) -> None:
    hub.slow("safetensors", 0.6)  # every shard read takes 0.6 s: time to press Cancel
    before = window.controller.plan
    window.state.set_model("guitest/tiny-llama", use_hub=True)
    qtbot.waitUntil(lambda: not window.cancel_button.isHidden(), timeout=5000)
    window.cancel_button.click()
    qtbot.wait(2500)  # the worker notices the cancel flag between reads and stops
    assert window.controller.inventory.id == "meta-llama/Llama-3.1-8B"
    assert window.controller.plan is before
    assert window.state.request.model == "meta-llama/Llama-3.1-8B"
    assert window.cancel_button.isHidden() and window.busy_label.text() == ""
