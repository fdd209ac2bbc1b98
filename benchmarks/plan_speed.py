"""Time a full plan (every precision x every GPU) against transformers' meta-device instantiation of the same config.

Run: .venv/bin/python benchmarks/plan_speed.py [bundled-model-id ...]
Prints one row per model: our config->inventory time, our full-plan time (placements are lazy: worked out when a GPU
is looked at), the same with every GPU's placement forced, transformers' time, and the ratio to the plan.
"""
from __future__ import annotations

import sys
import time
import warnings
from statistics import median

from quantcore.formats.catalog import precision_ids
from quantcore.model.arch import inventory_from_config
from quantcore.planner.hardware import load_gpus
from quantcore.planner.plan import make_plan
from quantcore.planner.workload import Workload
from quantcore.sources.bundled import find_bundled

DEFAULT_MODELS = ("meta-llama/Llama-3.1-8B", "Qwen/Qwen2.5-72B", "mistralai/Mixtral-8x7B-v0.1", "google/gemma-2-9b")


def best_of(fn, repeat: int) -> float:
    """Median wall time of `repeat` calls, in seconds (this VM's timings wander; the median is the fair figure)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def transformers_meta(config: dict) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = dict(config)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(cfg.pop("model_type"), **cfg))
    return sum(p.numel() for p in model.parameters())


def main(models: list[str]) -> None:
    gpus = load_gpus()
    n_prec = len(precision_ids())
    print(f"full plan = {n_prec} precisions x {len(gpus)} GPUs; times are medians")
    print(f"{'model':34} {'params':>15} {'inventory':>10} {'full plan':>10} {'+placements':>12} {'transformers':>13} "
          f"{'ratio':>8}")
    for mid in models:
        bundled = find_bundled(mid)
        if bundled is None:
            print(f"{mid}: not bundled")
            continue
        config = bundled.config()
        inv = inventory_from_config(config, mid)
        w = Workload()
        t_inv = best_of(lambda: inventory_from_config(config, mid), 20)
        make_plan(inv, w, None, gpus)  # the first plan fills the per-model weight caches
        t_plan = best_of(lambda: make_plan(inv, w, None, gpus), 300)
        # placements are worked out when a GPU is first looked at; the Fit tab's heatmap looks at all of them
        t_placed = best_of(lambda: [r.placements for r in make_plan(inv, w, None, gpus).rows], 100)
        n_tf = transformers_meta(config)
        t_tf = best_of(lambda: transformers_meta(config), 7)
        assert n_tf == inv.parameters, (mid, n_tf, inv.parameters)
        print(f"{mid:34} {inv.parameters:>15,} {t_inv * 1e3:>8.2f}ms {t_plan * 1e3:>8.2f}ms {t_placed * 1e3:>10.2f}ms "
              f"{t_tf * 1e3:>11.1f}ms {t_tf / t_plan:>7.0f}x")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DEFAULT_MODELS))
