"""Lab results in a report: measured on the real all-MiniLM-L6-v2 weights (int8 / int4 absmax per row, computed
here with numpy), rendered into every format; the report shows the numbers it was given."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantcore.cli import main
from quantcore.formats.catalog import get_precision, tensor_bytes
from quantcore.model.inventory import TensorInfo
from quantcore.report.lab_report import _num


def _absmax(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric per-row quantization: (codes, scales, dequantized)."""
    top = 2 ** (bits - 1) - 1
    scale = np.abs(w).max(axis=1, keepdims=True) / top
    q = np.clip(np.round(w / scale), -top, top).astype(np.int8)
    return q, scale.astype(np.float32), q.astype(np.float32) * scale


def _metrics(w: np.ndarray, d: np.ndarray) -> dict[str, float]:
    e = (w - d).astype(np.float64)
    w64 = w.astype(np.float64)
    return {"mse": float((e ** 2).mean()), "sqnr_db": float(10 * np.log10((w64 ** 2).sum() / (e ** 2).sum())),
            "rel_error": float(np.linalg.norm(e) / np.linalg.norm(w64)), "max_abs_error": float(np.abs(e).max()),
            "cosine": float((w64 * d).sum() / (np.linalg.norm(w64) * np.linalg.norm(d)))}


@pytest.fixture(scope="module")
def lab(minilm_dir: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    weights = load_file(str(minilm_dir / "model.safetensors"))
    names = [f"encoder.layer.{i}.attention.self.query.weight" for i in range(6)]
    errors, sens, runs = [], [], []
    for name in names:
        w = weights[name].astype(np.float32)
        row = []
        for bits, pid in ((8, "int8"), (4, "int4")):
            q, s, d = _absmax(w, bits)
            m = _metrics(w, d)
            row.append(m["rel_error"])
            if name == names[0]:
                errors.append({"tensor": name, "precision": pid, **m})
            if bits == 8:  # LLM.int8() weights: int8 codes + one fp32 scale per row, as the catalog sizes them
                t = TensorInfo(name, tuple(w.shape), "F32", "attention", "attn_q", 0)
                runs.append({"precision": "int8", "layer": name, "device": "cpu",
                             "predicted_bytes": tensor_bytes(t, get_precision("int8")),
                             "measured_bytes": int(q.nbytes + s.nbytes), "kernel": "dequantize + matmul"})
        sens.append(row)
    w0 = weights[names[0]]
    counts, edges = np.histogram(w0, bins=60)
    scale = float(np.median(np.abs(w0).max(axis=1))) / 7
    return {"device": "cpu", "calibration": "none (weight error only)", "errors": errors,
            "histograms": [{"tensor": names[0], "precision": "int4", "edges": edges.tolist(),
                            "counts": counts.tolist(), "levels": [k * scale for k in range(-7, 8)]}],
            "sensitivity": {"metric": "relative weight error", "layers": names, "precisions": ["int8", "int4"],
                            "values": sens},
            "runs": runs}


def test_lab_results_render_in_every_format(lab: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--report", str(saved)]) == 0
    labfile = tmp_path / "lab.json"
    labfile.write_text(json.dumps({"lab": lab}))
    assert all(r["predicted_bytes"] == r["measured_bytes"] for r in lab["runs"])  # the catalog's int8 bytes
    for suffix in (".html", ".pdf", ".md", ".json"):
        out = tmp_path / f"with-lab{suffix}"
        assert main(["report", str(saved), "--lab", str(labfile), "--out", str(out)]) == 0
    html = (tmp_path / "with-lab.html").read_text()
    assert "Quantization lab" in html and html.count("<svg") == 5  # 3 plan charts + histogram + sensitivity
    for e in lab["errors"]:
        assert _num(e["sqnr_db"], 3) in html and _num(e["cosine"], 6) in html
    assert f"{lab['runs'][0]['predicted_bytes']:,}" in html and ">equal<" in html
    from report_tools import pdf_pages_text

    text = " ".join(" ".join(pdf_pages_text(tmp_path / "with-lab.pdf")).split())
    assert "Quantization lab" in text and _num(lab["errors"][1]["sqnr_db"], 3) in text
    assert json.loads((tmp_path / "with-lab.json").read_text())["lab"] == lab
    assert "with-lab.lab-histogram-1.svg" in (tmp_path / "with-lab.md").read_text()
