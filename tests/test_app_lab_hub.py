"""The Weights tab on a Hub repo (the stand-in Hub serving real MiniLM tensors): the tree from the headers, nothing
fetched until asked, the buttons say how many bytes, one range read fetches exactly the tensor, a shard downloads
whole; then the histogram is drawn."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QSettings

from app.main_window import MainWindow

if TYPE_CHECKING:
    from hub_server import StandInHub

pytest_plugins = ("hub_server",)
NAME = "encoder.layer.1.attention.self.value.weight"


@pytest.fixture
def repo(hub: StandInHub, minilm_dir: Path, tmp_path: Path) -> tuple[str, dict[str, Path], dict[str, str]]:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        names = [n for n in f.keys() if n.startswith(("encoder.layer.1.", "embeddings."))]
        tensors = {n: f.get_tensor(n) for n in names}
    parts = ([n for n in names if n.startswith("embeddings.")], [n for n in names if n.startswith("encoder.")])
    files, weight_map = {}, {}
    for k, part in enumerate(parts, start=1):
        name = f"model-0000{k}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, str(tmp_path / name), {"format": "pt"})
        files[name] = tmp_path / name
        weight_map.update({n: name for n in part})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    config = json.loads((minilm_dir / "config.json").read_text())
    config["num_hidden_layers"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    for f in ("model.safetensors.index.json", "config.json"):
        files[f] = tmp_path / f
    hub.add_repo("labtest/minilm-parts", files)
    return "labtest/minilm-parts", files, weight_map


def test_hub_tensor_fetched_on_request(qtbot, hub: StandInHub, repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo_id, files, weight_map = repo
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.controller.plan is not None, timeout=20000)
    w.state.set_model(repo_id, use_hub=True)
    tab = w.weights_tab
    qtbot.waitUntil(lambda: tab.hub_repo == repo_id, timeout=20000)
    w.tabs.setCurrentWidget(tab)
    hub.reset()
    tab.select_tensor(NAME)
    nbytes = 384 * 384 * 4
    assert tab.fetch_tensor.isVisibleTo(tab) and tab.fetch_tensor.text() == f"Fetch this tensor ({nbytes:,} bytes)"
    shard = weight_map[NAME]
    size = files[shard].stat().st_size
    qtbot.waitUntil(lambda: tab.fetch_shard.isEnabled(), timeout=20000)
    assert tab.fetch_shard.text() == f"Download {shard} ({size:,} bytes)"
    assert not [r for r in hub.requests if r.range and not r.range.startswith("bytes=0-")]  # headers only so far
    assert tab.last_histogram is None
    tab.fetch_tensor.click()
    qtbot.waitUntil(lambda: tab.last_histogram is not None and not tab.running, timeout=20000)
    data_reads = [r for r in hub.requests if r.range and not r.range.startswith("bytes=0-")]
    assert len(data_reads) == 1
    start, end = (int(v) for v in data_reads[0].range.split("=")[1].split("-"))
    assert end - start + 1 == nbytes  # one range read of exactly the tensor's bytes
    assert tab.last_histogram["selection"].histogram.total == 384 * 384
    assert not tab.fetch_tensor.isVisibleTo(tab)  # fetched: nothing left to ask
    # another tensor of the same shard: download the shard, then every tensor in it is local
    other = "encoder.layer.1.intermediate.dense.weight"
    tab.select_tensor(other)
    qtbot.waitUntil(lambda: tab.fetch_shard.isEnabled(), timeout=20000)
    tab.fetch_shard.click()
    qtbot.waitUntil(lambda: other in tab.fetched and not tab.running, timeout=20000)
    assert {n for n, s in weight_map.items() if s == shard} <= set(tab.fetched)
    qtbot.waitUntil(lambda: tab.last_histogram["selection"].histogram.tensors == (other,), timeout=20000)
