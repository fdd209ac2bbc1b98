"""Generate golden parameter counts once from transformers' meta-device instantiation (dev tool, not a test).

Usage: .venv/bin/python tests/golden/generate_counts.py --out tests/golden/counts_X.json resources/models/A.json ...
Each bundled model file is {"id", "taken", "published_parameters", "published_source", "config": {...}}.
The output maps model id -> {"transformers_parameters": int, "transformers_class": str, "transformers_version": str}
and is merged into --out (existing entries for other ids are kept).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path


def count_with_transformers(config_dict: dict) -> tuple[int, str]:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    cfg = dict(config_dict)
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    auto = AutoModel if model_type in ("bert",) else AutoModelForCausalLM
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    return int(n), type(model).__name__


def main(argv: list[str]) -> int:
    import transformers

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    for f in args.files:
        bundle = json.loads(Path(f).read_text())
        n, cls = count_with_transformers(bundle["config"])
        data[bundle["id"]] = {
            "transformers_parameters": n,
            "transformers_class": cls,
            "transformers_version": transformers.__version__,
        }
        print(f"{bundle['id']}: {n:,} ({cls})", flush=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(sorted(data.items())), fh, indent=1)
        fh.write("\n")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
