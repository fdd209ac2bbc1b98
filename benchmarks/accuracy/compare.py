"""Predicted vs measured, per component, for the accuracy suite's golden measurements.

    .venv/bin/python benchmarks/accuracy/compare.py [--before-root DIR] [--write BENCHMARKS.md]

"after" is this checkout's planner; "before" (optional) is another checkout's quantcore (e.g. `git archive` of
the commit before the fixes), run in a subprocess. --write replaces the section between the accuracy markers.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(ROOT, "tests", "golden", "accuracy")
MiB = 2**20
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"


def predictions() -> dict[str, dict[str, int]]:
    """{case: {quantity: bytes}} from the quantcore on sys.path."""
    sys.path.insert(0, HERE)
    import predict

    out: dict[str, dict[str, int]] = {}
    for c in json.load(open(os.path.join(GOLDEN, "llamacpp.json")))["cases"]:
        out[_llama_key(c)] = predict.llamacpp_prediction(c)
    for c in json.load(open(os.path.join(GOLDEN, "transformers.json")))["cases"]:
        try:
            out[c["case"]] = predict.hf_prediction(c)
        except Exception as exc:  # an older planner may refuse a case (e.g. no recipe); show it as missing
            out[c["case"]] = {"error": str(exc)}  # type: ignore[dict-item]
    return out


def _llama_key(c: dict) -> str:
    return f"{c['shape']['name']} ctx {c['n_ctx']} ub {c['n_ubatch']} fa {c['flash_attn']}"


def _err(pred: int | None, meas: float) -> str:
    if pred is None or not meas:
        return "-"
    return f"{100 * (pred - meas) / meas:+.1f}%"


def _mib(x: float | None) -> str:
    return "-" if x is None else f"{x / MiB:,.2f}"


def tables(after: dict, before: dict | None) -> str:
    lines = []
    cols = "| case | component | measured MiB | " + ("before MiB | before err | " if before else "") + \
        "after MiB | after err |"
    sep = "|" + "---|" * (cols.count("|") - 1)
    lines += ["### llama.cpp (llama-cpp-python, CPU): compute buffer (and KV cache)", "",
              "| case | compute measured MiB | " + ("before MiB | before err | " if before else "")
              + "after MiB | after err | KV measured MiB | KV after err |",
              "|" + "---|" * (8 if before else 6)]
    for c in json.load(open(os.path.join(GOLDEN, "llamacpp.json")))["cases"]:
        key = _llama_key(c)
        a, b = after.get(key, {}), (before or {}).get(key, {})
        cm, kv = c["compute_mib"] * MiB, c["kv_mib"] * MiB
        cells = [key, _mib(cm)] + ([_mib(b.get("compute")), _err(b.get("compute"), cm)] if before else [])
        cells += [_mib(a.get("compute")), _err(a.get("compute"), cm), _mib(kv), _err(a.get("kv"), kv)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "### transformers + peft (CPU): exact tensor bytes and step peaks", "", cols, sep]
    quantities = (("param_bytes", "weights (+adapters)"), ("adapter_bytes", "adapters"), ("kv_bytes", "KV cache"),
                  ("grad_bytes", "gradients"), ("optimizer_bytes", "optimizer"),
                  ("peak_above_weights", "prefill peak (tensors)"), ("process_peak_above_weights", "prefill (process)"),
                  ("peak", "step peak (tensors)"), ("process_peak", "step peak (process)"))
    for c in json.load(open(os.path.join(GOLDEN, "transformers.json")))["cases"]:
        for q, label in quantities:
            if q not in c:
                continue
            meas = c[q] - (c.get("optimizer_step_bytes", 0) if q == "optimizer_bytes" else 0)
            a = after.get(c["case"], {}).get(q)
            b = None if before is None else before.get(c["case"], {}).get(q)
            lines.append(_row(c["case"], label, meas, a, b, before is not None))
    return "\n".join(lines)


def _row(case: str, comp: str, meas: float, after: int | None, before: int | None, with_before: bool) -> str:
    cells = [case, comp, _mib(meas)]
    if with_before:
        cells += [_mib(before), _err(before, meas)]
    cells += [_mib(after), _err(after, meas)]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before-root", help="a directory holding an older quantcore/ (and resources/)")
    ap.add_argument("--write", help="Markdown file whose accuracy section to replace")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        print(json.dumps(predictions()))
        return
    sys.path.insert(0, ROOT)
    after = predictions()
    before = None
    if args.before_root:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(args.before_root)}
        p = subprocess.run([sys.executable, __file__, "--json"], capture_output=True, text=True, env=env,
                           cwd=args.before_root, check=True)
        before = json.loads(p.stdout.strip().splitlines()[-1])
    text = tables(after, before)
    if args.write:
        doc = open(args.write).read()
        if BEGIN in doc:
            head, rest = doc.split(BEGIN, 1)
            doc = head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1]
        else:
            doc += f"\n{BEGIN}\n{text}\n{END}\n"
        tmp = args.write + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc)
        os.replace(tmp, args.write)
    else:
        print(text)


if __name__ == "__main__":
    main()
