"""The plan as data files: CSV (one row per precision x GPU, numbers in bytes) and JSON (the plan object + lab)."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from quantcore.errors import BadInputError

COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "adapters", "overhead", "total")
# The first columns are those of earlier exports, in the same order; later columns were added after them.
GPU_COLUMNS = ("gpu", "gpu_count", "fits_on_one", "purchase_usd", "hourly_usd", "decode_tokens_per_s",
               "cost_per_million_tokens", "max_context")
EXTRA_COLUMNS = ("gpu_name", "gpu_memory_bytes", "usable_bytes", "per_gpu_total_bytes", "spare_per_gpu_bytes",
                 "prefill_tokens_per_s", "max_batch", "placement", "engine", "recommended", "placement_badge",
                 "gpu_layers", "host_bytes", "speed_basis", "train_tokens_per_s", "train_hours", "train_cost_usd")


def csv_header() -> list[str]:
    return (["precision", "bits_per_weight"] + [f"{c}_bytes" for c in COMPONENTS] + list(GPU_COLUMNS)
            + list(EXTRA_COLUMNS))


def _v(x: Any) -> Any:
    return "" if x is None else x


def render_csv(data: dict[str, Any]) -> str:
    """One row per precision x chosen GPU (one row per precision when no GPU was chosen)."""
    recs = {(r.get("gpu"), r.get("precision")) for r in (data.get("report") or {}).get("recommendations") or []}
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(csv_header())
    for r in data["rows"]:
        base = [r["precision"], r["bits_per_weight"]] + [r["memory"].get(c, 0) for c in COMPONENTS]
        for g in r["gpus"] or [None]:
            if g is None:
                wr.writerow(base + [""] * (len(GPU_COLUMNS) + len(EXTRA_COLUMNS)))
                continue
            per = (g.get("per_gpu") or {}).get("total")
            placement = g.get("placement") if isinstance(g.get("placement"), dict) else {}
            train = g.get("training") if isinstance(g.get("training"), dict) else {}
            wr.writerow(base + [g["gpu"], _v(g["count"]), g["fits"], _v(g.get("purchase_usd")),
                                _v(g.get("hourly_usd")), _v(g.get("decode_tokens_per_s")),
                                _v(g.get("cost_per_million_tokens")), _v(g.get("max_context")),
                                _v(g.get("name")), _v(g.get("gpu_memory_bytes")), _v(g.get("usable_bytes")), _v(per),
                                "" if per is None else g["usable_bytes"] - per, _v(g.get("prefill_tokens_per_s")),
                                _v(g.get("max_batch")), _v(placement.get("kind")), _v(r.get("engine")),
                                (g["gpu"], r["precision"]) in recs, _v(placement.get("badge")),
                                _v(placement.get("gpu_layers")), _v(placement.get("host_bytes")),
                                _v(g.get("speed_basis")), _v(train.get("tokens_per_s")), _v(train.get("hours")),
                                _v(train.get("cost_usd"))])
    return buf.getvalue()


def render_json(data: dict[str, Any]) -> str:
    """The plan object (with report extras and lab results when present), indented, strict JSON."""
    try:
        return json.dumps(data, indent=1, allow_nan=False) + "\n"
    except ValueError:
        raise BadInputError("the plan holds a NaN or infinite number; it cannot be written as JSON") from None
