"""Quantization speed side by side, one run, CPU: ours vs bitsandbytes / the gguf package / a plain copy, the streaming
histogram vs reading the file once, and a whole-model streaming quantize with its peak RSS.

    .venv/bin/python benchmarks/quant_speed.py [--quick] [--model-gb 3] [--hist-gb 2]

Rows for the gguf branch (q8_0, q4_0, tq1_0 vs the gguf package) and the GPTQ branch fill in when their codecs are
registered; until then they print 'not in this build'."""
from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantcore.formats.quantize import available, quantize  # noqa: E402


def best(f, n: int = 3) -> float:
    t = 1e9
    for _ in range(n):
        gc.collect()
        s = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - s)
    return t


def speed_rows(shapes, repeats: int) -> list[list[str]]:
    import bitsandbytes.functional as F

    rows = []
    for shape in shapes:
        for dtype in (torch.float32, torch.bfloat16):
            w = (torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
            tag = f"{shape[0]}x{shape[1]} {str(dtype)[6:]}"
            copy = best(lambda: w.clone(), repeats)
            rows.append([tag, "copy (bandwidth floor)", f"{copy * 1e3:.1f}", "-", "-"])
            for qt in ("nf4", "fp4"):
                ref = best(lambda: F.quantize_4bit(w, blocksize=64, quant_type=qt, compress_statistics=True), repeats)
                ours = best(lambda: quantize(w, qt), repeats)
                rows.append([tag, f"{qt} vs bitsandbytes", f"{ours * 1e3:.1f}", f"{ref * 1e3:.1f}",
                             f"{ref / ours:.1f}x faster"])
            ref = best(lambda: F.int8_vectorwise_quant(w.clone()), repeats)
            ours = best(lambda: quantize(w, "int8"), repeats)
            rows.append([tag, "int8 vs bitsandbytes", f"{ours * 1e3:.1f}", f"{ref * 1e3:.1f}",
                         f"{ref / ours:.1f}x faster; {ours / copy:.1f}x copy"])
            for pid in ("fp8", "int4-g128"):
                ours = best(lambda: quantize(w, pid), repeats)
                rows.append([tag, f"{pid} vs copy", f"{ours * 1e3:.1f}", f"{copy * 1e3:.1f}",
                             f"{ours / copy:.1f}x copy"])
            rows += gguf_rows(w, tag, repeats)
    return rows


def gguf_rows(w: torch.Tensor, tag: str, repeats: int) -> list[list[str]]:
    """q8_0 / q4_0 / tq1_0 (gguf branch) and mxfp4 (ours) against the gguf package's numpy quantizers."""
    import gguf

    rows = []
    x = w.float().numpy()
    for pid, qtype in (("mxfp4", "MXFP4"), ("q8_0", "Q8_0"), ("q4_0", "Q4_0"), ("ternary", "TQ1_0")):
        if pid in ("q8_0", "q4_0") and not available(pid):
            rows.append([tag, f"{pid} vs gguf package", "not in this build", "-", "-"])
            continue
        ref = best(lambda: gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype]), 1)
        ours = best(lambda: quantize(w, pid), max(1, repeats - 1))
        rows.append([tag, f"{pid} vs gguf package", f"{ours * 1e3:.1f}", f"{ref * 1e3:.1f}",
                     f"{ref / ours:.1f}x faster"])
    rows.append([tag, "gptq-4bit-g128 vs reference gptq.py",
                 "see GPTQ rows" if available("gptq-4bit-g128") else "not in this build", "-", "-"])
    return rows


def write_synthetic_model(folder: Path, gb: float, dtype: torch.dtype = torch.bfloat16) -> Path:
    """A llama-shaped safetensors model of about `gb` GB (4096 hidden, 14336 MLP), written tensor by tensor."""
    from quantcore.lab.writer import StreamingSafetensorsWriter

    hidden, inter = 4096, 14336
    per_layer = (4 * hidden * hidden + 3 * hidden * inter) * dtype.itemsize
    layers = max(1, round(gb * 1e9 / per_layer))
    path = folder / "model.safetensors"
    import json

    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": 32,
        "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096}))
    g = torch.Generator().manual_seed(0)
    with StreamingSafetensorsWriter(path) as wr:
        for i in range(layers):
            for name, shape in (("self_attn.q_proj", (hidden, hidden)), ("self_attn.k_proj", (hidden, hidden)),
                                ("self_attn.v_proj", (hidden, hidden)), ("self_attn.o_proj", (hidden, hidden)),
                                ("mlp.gate_proj", (inter, hidden)), ("mlp.up_proj", (inter, hidden)),
                                ("mlp.down_proj", (hidden, inter))):
                wr.add(f"model.layers.{i}.{name}.weight", (torch.randn(shape, generator=g) * 0.02).to(dtype))
            wr.add(f"model.layers.{i}.input_layernorm.weight", torch.ones(hidden, dtype=dtype))
        wr.close()
    return path


def _child(code: str) -> tuple[float, int]:
    """Run code in a fresh interpreter; (seconds, peak RSS bytes) of that process."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    secs, rss = out.stdout.strip().splitlines()[-1].split()
    return float(secs), int(rss)


# peak RSS from VmHWM (ru_maxrss would carry the forking parent's high-water mark across exec)
_TIMED = ("import time, sys\nfrom pathlib import Path\n{setup}\ns = time.perf_counter()\n{body}\n"
          "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
          "print(time.perf_counter() - s, int(hwm) * 1024)")


def file_rows(folder: Path, hist_gb: float, model_gb: float) -> list[list[str]]:
    rows = []
    path = write_synthetic_model(folder, max(hist_gb, model_gb))
    size = path.stat().st_size
    read = _child(_TIMED.format(setup="", body=f"f = open({str(path)!r}, 'rb')\nwhile f.read(1 << 24): pass"))
    # torch imported and the C loops loaded before the clock starts: what is timed is the pass over the file
    hist = _child(_TIMED.format(setup="import torch\nfrom quantcore.formats import native\nnative.library()\n"
                                      "from quantcore.lab.histogram import histogram_of_model",
                                body=f"histogram_of_model(Path({str(path)!r}), None, 64)"))
    rows.append([f"{size / 1e9:.2f} GB bf16 file", "histogram (streaming) vs reading it once",
                 f"{hist[0]:.1f} s", f"{read[0]:.1f} s", f"{hist[0] / read[0]:.1f}x read"])
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        largest = max(f.get_slice(k).get_shape()[0] * f.get_slice(k).get_shape()[-1] for k in f.keys()) * 2
    for pid in ("nf4", "int8"):
        out = folder / f"q-{pid}.safetensors"
        secs, rss = _child(_TIMED.format(setup="from quantcore.lab.model_quantize import quantize_model",
                                         body=f"quantize_model(Path({str(folder)!r}), {pid!r}, out=Path("
                                              f"{str(out)!r}), metrics=False)"))
        base = _child(_TIMED.format(setup="import torch, quantcore.formats.quantize as q\nq.load_codecs()",
                                    body="pass"))[1]
        rows.append([f"{size / 1e9:.2f} GB bf16 model", f"whole-model {pid} -> .safetensors",
                     f"{secs:.1f} s", f"peak RSS {rss / 2**30:.2f} GiB",
                     f"{(rss - base) / largest:.1f}x largest tensor ({largest / 2**20:.0f} MiB bf16) above "
                     f"the {base / 2**30:.2f} GiB interpreter"])
        out.unlink(missing_ok=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4096x4096 only, no file rows")
    ap.add_argument("--hist-gb", type=float, default=2.0)
    ap.add_argument("--model-gb", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from quantcore.formats import native
    from quantcore.report.render import table

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fused C loops: "
          f"{'yes' if native.library() is not None else 'no (torch fallback)'}")
    shapes = [(4096, 4096)] if a.quick else [(4096, 4096), (4096, 14336)]
    rows = speed_rows(shapes, a.repeats)
    if not a.quick:
        with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
            rows += file_rows(Path(tmp), a.hist_gb, a.model_gb)
    print(table(["input", "what", "ours (ms)", "reference (ms)", "ratio"], rows))
    _ = resource


if __name__ == "__main__":
    main()
