"""One tensor of a Hub repo on request (stand-in Hub on 127.0.0.1 serving the real MiniLM files): located from the
shard's header, fetched by one range read of exactly its bytes, or its shard downloaded whole."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from quantcore.errors import BadInputError
from quantcore.sources.hub_tensor import download_shard, fetch, locate, memory_ref

if TYPE_CHECKING:
    from hub_server import StandInHub

pytest_plugins = ("hub_server",)
NAME = "encoder.layer.1.attention.self.value.weight"


@pytest.fixture
def repo(hub: StandInHub, minilm_dir: Path) -> str:
    hub.add_repo("labtest/minilm", {"model.safetensors": minilm_dir / "model.safetensors",
                                    "config.json": minilm_dir / "config.json"})
    return "labtest/minilm"


@pytest.fixture
def small_repo(hub: StandInHub, minilm_dir: Path, tmp_path: Path) -> tuple[str, Path]:
    """Two shards of real MiniLM layer-1 tensors (the stand-in Hub sends whole files only up to 16 MiB)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        names = [n for n in f.keys() if n.startswith("encoder.layer.1.")]
        tensors = {n: f.get_tensor(n) for n in names}
    half = len(names) // 2
    files = {}
    weight_map = {}
    for k, part in enumerate((names[:half], names[half:]), start=1):
        name = f"model-0000{k}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, str(tmp_path / name), {"format": "pt"})
        files[name] = tmp_path / name
        weight_map.update({n: name for n in part})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    files["model.safetensors.index.json"] = tmp_path / "model.safetensors.index.json"
    files["config.json"] = tmp_path / "config.json"
    hub.add_repo("labtest/minilm-layer1", files)
    return "labtest/minilm-layer1", files[weight_map[NAME]]


def test_fetch_one_tensor_by_range(hub: StandInHub, repo: str, minilm_dir: Path) -> None:
    from safetensors import safe_open

    rt = locate(repo, NAME)
    assert rt.filename == "model.safetensors" and rt.shape == (384, 384) and rt.dtype == "F32"
    assert rt.nbytes == 384 * 384 * 4 and rt.shard_size == (minilm_dir / "model.safetensors").stat().st_size
    hub.reset()
    t = fetch(rt)
    with safe_open(str(minilm_dir / "model.safetensors"), framework="pt") as f:
        assert t.equal(f.get_tensor(NAME))
    reads = [r for r in hub.requests if r.range]
    assert [r.range for r in reads] == [f"bytes={rt.start}-{rt.end - 1}"]  # exactly the tensor's bytes
    assert rt.nbytes <= reads[0].bytes_sent < rt.nbytes + 1024  # (bytes_sent counts the response headers too)
    ref = memory_ref(rt, t)
    assert ref.load_rows(2, 5).equal(t[2:5]) and ref.numel == 384 * 384


def test_download_its_shard(small_repo: tuple[str, Path]) -> None:
    repo, shard = small_repo
    rt = locate(repo, NAME)
    assert rt.filename == shard.name and rt.shard_size == shard.stat().st_size
    path = download_shard(rt)
    assert path.read_bytes() == shard.read_bytes()


def test_unknown_tensor(repo: str) -> None:
    with pytest.raises(BadInputError, match="is in none of the 1 safetensors"):
        locate(repo, "no.such.weight")
