"""The lab's Hub tensor reads (sources/hub_tensor.py) against a hostile stand-in Hub: a shard download that sends
more than the repo's file list announced, a drip the caller cancels, a silent range read, a header that lies about
a tensor; each ends in one line, on time, with nothing left in the cache."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from corpus import safetensors_bytes

from quantcore.errors import HubCancelledError, HubTimeoutError, ModelFileError, QuantPlannerError
from quantcore.sources import hub_cache, hub_http, safe_http
from quantcore.sources.hub_tensor import download_shard, fetch, locate

pytest_plugins = ("hub_server",)
NAME = "model.layers.0.self_attn.q_proj.weight"


@pytest.fixture
def repo(hub: Any, tmp_path: Path) -> tuple[str, int]:
    shard = tmp_path / "model.safetensors"
    shard.write_bytes(safetensors_bytes([("model.embed_tokens.weight", (128, 64), "BF16"), (NAME, (64, 64), "F32")]))
    hub.add_repo("hostile/tensors", {"model.safetensors": shard})
    return "hostile/tensors", shard.stat().st_size


def _left_in_cache() -> list[str]:
    root = hub_cache.cache_root()
    return [p.name for p in root.rglob("*") if p.is_file() and ("files" in p.parts or p.name.startswith(".tmp"))] \
        if root.exists() else []


def test_a_shard_longer_than_announced_is_refused_and_nothing_is_kept(hub: Any, repo: tuple[str, int]) -> None:
    name, size = repo
    rt = locate(name, NAME)
    assert rt.shard_size == size
    hub.answer("/resolve/", bytes(size + 4096))  # the file list said `size` bytes; the download sends more
    with pytest.raises(ModelFileError, match="refusing") as err:
        download_shard(rt)
    assert "\n" not in str(err.value)
    assert _left_in_cache() == []


def test_a_short_shard_is_refused(hub: Any, repo: tuple[str, int]) -> None:
    name, size = repo
    rt = locate(name, NAME)
    hub.answer("/resolve/", bytes(size - 100))
    with pytest.raises(ModelFileError, match=f"of {size:,} bytes"):
        download_shard(rt)
    assert _left_in_cache() == []


def test_a_dripping_download_stops_when_the_caller_cancels(hub: Any, repo: tuple[str, int]) -> None:
    name, _ = repo
    rt = locate(name, NAME)
    hub.drip("/resolve/", 0.5, body=bytes(10_000))
    cancel = threading.Event()
    threading.Timer(0.8, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(HubCancelledError):
        download_shard(rt, cancel=cancel)
    assert time.monotonic() - start < 5
    assert _left_in_cache() == []


def test_a_silent_range_read_ends_within_its_deadline(hub: Any, repo: tuple[str, int],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    name, _ = repo
    rt = locate(name, NAME)
    monkeypatch.setattr(safe_http, "DEADLINE_S", 1.5)
    monkeypatch.setattr(hub_http, "TIMEOUT_S", 1.0)
    hub.silence("/resolve/")
    start = time.monotonic()
    with pytest.raises(HubTimeoutError):
        fetch(rt)
    assert time.monotonic() - start < 8  # 1.5 s + the tensor's bytes at 1 MiB/s, plus start-up


def test_a_hostile_header_is_refused_before_any_tensor_is_read(hub: Any, tmp_path: Path) -> None:
    import json
    import struct

    header = json.dumps({NAME: {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}).encode()
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    hub.add_repo("hostile/header", {"model.safetensors": bad})
    with pytest.raises(QuantPlannerError) as err:
        locate("hostile/header", NAME)
    assert "out of range" in str(err.value) or "bytes" in str(err.value)
    assert all(r.range is None or r.range.startswith("bytes=0-") for r in hub.requests)  # the header only
