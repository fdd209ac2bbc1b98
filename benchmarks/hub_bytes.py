"""Bytes and requests one plan costs on the Hub: sharded repos served by the stand-in Hub (tests/hub_server.py).

Run: .venv/bin/python benchmarks/hub_bytes.py [bundled-model-id:shards ...]
Each repo is written as transformers lays it out (config.json, model-0000i-of-0000n.safetensors with real headers
and the data region a hole, the index), from the bundled config, with the shard count of the real repo. The plan
goes through quantcore.sources.hub exactly as in use (model_info, config.json by one bounded GET, one range read per
shard header); the server counts every request and every byte it sends (status line, headers, body). Rows: a cold plan
(empty HF_HOME), the same plan again online (headers and config cached), and offline (HF_HUB_OFFLINE).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hub_server import StandInHub, point_huggingface_hub_at, tensors_of, write_sharded  # noqa: E402

from quantcore.model.arch import inventory_from_config  # noqa: E402
from quantcore.sources import hub as qhub  # noqa: E402
from quantcore.sources.bundled import find_bundled  # noqa: E402

# shard counts of the real repos (model-0000i-of-000nn.safetensors on the Hub)
DEFAULT = ("meta-llama/Llama-3.1-70B:30", "Qwen/Qwen2.5-72B:37", "meta-llama/Llama-3.1-405B:191")


def main(argv: list[str]) -> int:
    specs = argv or list(DEFAULT)
    server = StandInHub()
    patch = pytest.MonkeyPatch()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bytes-") as tmp:
            root = Path(tmp)
            for spec in specs:
                rid, _, n = spec.partition(":")
                bundled = find_bundled(rid)
                if bundled is None:
                    raise SystemExit(f"{rid}: not a bundled model")
                files = write_sharded(root / rid.replace("/", "--"),
                                      tensors_of(inventory_from_config(bundled.config(), rid)), int(n or 1),
                                      bundled.config())
                server.add_repo(rid, files)
                point_huggingface_hub_at(patch, server.url, root / "home" / rid.replace("/", "--"))
                for label, offline in (("cold", False), ("cached", False), ("offline", True)):
                    patch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", offline)
                    server.reset()
                    t0 = time.perf_counter()
                    inv = qhub.resolve_model(rid)
                    dt = time.perf_counter() - t0
                    rows.append((rid if label == "cold" else "", int(n or 1), label, server.request_count,
                                 server.bytes_sent, inv.stored_bytes, inv.parameters, dt))
    finally:
        patch.undo()
        server.close()
    print(f"{'model':28s} {'shards':>6s} {'plan':>7s} {'requests':>8s} {'bytes sent':>12s} {'model bytes':>17s} "
          f"{'ratio':>9s} {'parameters':>17s} {'time':>7s}")
    for rid, shards, label, reqs, sent, size, params, dt in rows:
        print(f"{rid:28s} {shards:6d} {label:>7s} {reqs:8d} {sent:12,d} {size:17,d} {sent / size:9.5%} "
              f"{params:17,d} {dt * 1000:6.0f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
