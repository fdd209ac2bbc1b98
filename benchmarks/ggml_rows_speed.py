"""Q8_0 / Q4_0 row quantizers alone (no tensor checks, no packaging) vs the gguf package, one run, CPU:

    .venv/bin/python benchmarks/ggml_rows_speed.py

`quantize(w, "q8_0")` (quant_speed.py) adds the catalog's finiteness pass over the tensor (torch.aminmax) to this;
the rows here are float32 numpy, N(0, 0.02), and every row's bytes are compared with gguf.quants'."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quantcore.formats import ggml_quants as gq  # noqa: E402
from quantcore.formats import native  # noqa: E402
from quant_speed import best  # noqa: E402  (benchmarks/ is this script's folder: min wall time, seconds)


def main() -> None:
    import gguf

    print(f"fused C loops: {'yes' if native.library() is not None else 'no (torch path)'}")
    print(f"{'shape':>12} {'type':>5} {'ours ms':>8} {'gguf ms':>8} {'copy ms':>8} {'gguf/ours':>10} {'ours/copy':>10}")
    for shape in ((4096, 4096), (4096, 14336)):
        x = (np.random.default_rng(0).standard_normal(shape) * 0.02).astype(np.float32)
        copy = best(lambda: x.copy(), 5) * 1e3
        for t in ("Q8_0", "Q4_0"):
            ours = best(lambda: gq.quantize_rows(t, x), 5) * 1e3
            ref = best(lambda: gguf.quants.quantize(x, gguf.GGMLQuantizationType[t]), 3) * 1e3
            same = np.array_equal(gq.quantize_rows(t, x), gguf.quants.quantize(x, gguf.GGMLQuantizationType[t]))
            print(f"{shape[0]:>5}x{shape[1]:<6} {t:>5} {ours:8.1f} {ref:8.1f} {copy:8.1f} {ref / ours:9.1f}x "
                  f"{ours / copy:9.2f}x{'' if same else '  BYTES DIFFER'}")


if __name__ == "__main__":
    main()
