"""`quantplanner --self-test`: the window (plan, every tab), a quantize + test-run of a synthetic layer on the CPU and
a PDF + HTML report, in a temporary scope; each problem is one line, so a bundle missing a module or a file fails it.

The scope is a temporary folder: settings, the user's GPU file and the compiled-kernel cache (XDG_CACHE_HOME while
the lab part runs) live there, so the user's own are never read or written. The test-run below is a stand-in for
quantcore.lab.testrun (being built): `test_run` returns dicts with the keys of testrun.RunResult.as_dict(), so switching
means replacing its body with `[r.as_dict() for r in testrun(folder, list(PRECISIONS), layer=LAYER,
device="cpu").results]`.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QTableView

from app import theme as themes
from app.main_window import MainWindow, wait_for_plan

if TYPE_CHECKING:
    import torch

PRECISIONS = ("nf4", "int8", "q4_k_m")  # bitsandbytes 4-bit, LLM.int8() and a GGUF k-quant mixture (Q4_K + Q6_K)
LAYER = "model.layers.0.mlp.down_proj"  # the test-run layer: 256 x 512 (out x in), four outlier input channels
# A one-layer llama-shaped model around it (hidden 256, MLP 512), so the catalog sees real roles and GGUF mixtures
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
          "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1024,
          "max_position_embeddings": 2048, "torch_dtype": "float32"}
# ||y_q - y|| / ||y||: here 0.04 (nf4), 0.004 (int8, q4_k_m's Q6_K for this down_proj); a broken codec or matmul
# lands near 1 or beyond. int8 must also beat nf4.
MAX_OUTPUT_ERROR = 0.5
SEED = 16


def run(app: QApplication, screenshot: Path | None, size: str, theme: str | None) -> int:
    """The whole self-test in a temporary scope; 0 when all is well, 1 with one stderr line of problems."""
    with tempfile.TemporaryDirectory(prefix="quantplanner-self-test-") as name:
        scope = Path(name)
        os.environ["QUANTPLANNER_GPUS"] = str(scope / "gpus.toml")  # the catalog only
        qsettings = QSettings(str(scope / "settings.ini"), QSettings.Format.IniFormat)
        qsettings.setValue("theme", theme or "system")
        qsettings.setValue("offline", True)  # the bundled default model; never waits on the network
        themes.apply(app, theme or "system")
        window = MainWindow(qsettings)
        try:
            problems = check_window(window, screenshot, size)
            if app.windowIcon().isNull():
                problems.append("no window icon (resources/icons/quantplanner-*.png missing)")
            if not problems:
                problems += check_codecs()
                with _cache_in(scope / "cache"):
                    lab, found = check_lab(scope / "lab")
                problems += found + check_report(window, scope / "report", lab)
        except Exception as exc:  # an import or a file the bundle lacks shows up here: one line, not a traceback
            problems = [f"{type(exc).__name__}: {exc}"]
        finally:
            window.close()
            qsettings.sync()
    if problems:
        print("self-test failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"self-test passed: {window.controller.inventory.id}, {len(window.controller.plan.rows)} precisions")
    return 0


def check_window(window: MainWindow, screenshot: Path | None, size: str) -> list[str]:
    """Load the default model, compute the plan, visit every tab (saving screenshots when asked)."""
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        return [f"--size {size!r} must look like 1280x800"]
    window.resize(width, height)
    window.show()
    problems: list[str] = []
    if not wait_for_plan(window):
        return ["no plan within 20 s" + (f": {window.banner.text()}" if window.banner.text() else "")]
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        QApplication.processEvents()
        page = window.tabs.widget(i)
        name = window.tabs.tabText(i).lower()
        if not getattr(page, "empty_until_run", False):  # tabs that fill only on a user's run have nothing yet
            for view in page.findChildren(QTableView):
                if view.model().rowCount() == 0:
                    problems.append(f"tab {name}: an empty table")
        if screenshot is not None:
            out = screenshot.with_name(f"{screenshot.stem}-{name}{screenshot.suffix or '.png'}")
            if not window.grab().save(str(out)):
                problems.append(f"could not save {out}")
    if window.memory_tab.bars.bars[0].opts.get("width") is None:
        problems.append("memory bars have no data")
    if screenshot is not None and not window.grab().save(str(screenshot)):
        problems.append(f"could not save {screenshot}")
    return problems


def check_codecs() -> list[str]:
    """Every codec module of this build imports: a bundle lists its own in bundle.json (written by the spec), so a
    codec left out of it fails here, not when a user picks that format; a checkout imports those it has."""
    from quantcore.formats.quantize import CODEC_MODULES

    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        names = json.loads((Path(frozen) / "bundle.json").read_text(encoding="utf-8"))["codec_modules"]
    else:
        names = [m for m in CODEC_MODULES if importlib.util.find_spec(m) is not None]
    problems = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - whatever stops a codec from loading is the finding
            problems.append(f"codec module {name} does not import ({type(exc).__name__}: {exc})")
    if not names:
        problems.append("no codec modules listed")
    return problems


@contextmanager
def _cache_in(folder: Path) -> Iterator[None]:
    """XDG_CACHE_HOME in the scope while the lab runs: the C kernels compile there, not in the user's cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = before


def synthetic_layer() -> tuple[torch.Tensor, torch.Tensor]:
    """(down_proj 256x512, q_proj 256x256), seeded: weights ~N(0, 0.02) with four input channels x12 (the outlier
    columns LLM.int8() finds); the test-run feeds it the lab's synthetic inputs with outlier channels."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    down = torch.randn(256, 512, generator=gen) * 0.02
    cols = torch.randperm(512, generator=gen)[:4]
    down[:, cols] *= 12.0
    q_proj = torch.randn(256, 256, generator=gen) * 0.02
    return down, q_proj


def write_model(folder: Path) -> tuple[Path, torch.Tensor]:
    """config.json + model.safetensors of the synthetic layer in folder; returns (folder, down_proj)."""
    from quantcore.lab.writer import StreamingSafetensorsWriter

    folder.mkdir(parents=True, exist_ok=True)
    down, q_proj = synthetic_layer()
    (folder / "config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    with StreamingSafetensorsWriter(folder / "model.safetensors", {"format": "pt"}) as writer:
        writer.add("model.layers.0.self_attn.q_proj.weight", q_proj)
        writer.add(f"{LAYER}.weight", down)
        writer.close()
    return folder, down


def check_lab(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """Quantize the synthetic model in each precision (bytes written == catalog bytes, an output file that reads
    back) and test-run its down_proj (finite output error); returns the report's lab object and the problems."""
    from quantcore.formats import native
    from quantcore.lab.histogram import histogram_of_tensor
    from quantcore.lab.levels import quantization_levels
    from quantcore.lab.model_quantize import quantize_model

    model, down = write_model(folder / "model")
    problems: list[str] = []
    errors: list[dict[str, Any]] = []
    for pid in PRECISIONS:
        out = folder / f"{pid}.safetensors"
        results = quantize_model(model, pid, out=out)
        for r in results:
            if r.written_bytes != r.predicted_bytes:
                problems.append(f"{pid} {r.name}: {r.written_bytes:,} bytes written, the catalog says "
                                f"{r.predicted_bytes:,}")
            m = r.metrics
            errors.append({"tensor": r.name, "precision": r.precision, "mse": m.get("mse"),
                           "sqnr_db": m.get("sqnr_db"), "rel_error": m.get("rel_frobenius"),
                           "max_abs_error": m.get("max_abs_error"), "cosine": m.get("cosine")})
        on_disk = _safetensors_payload(out)
        if on_disk != sum(r.file_bytes for r in results):
            problems.append(f"{out.name}: {on_disk:,} tensor bytes in the file, {sum(r.file_bytes for r in results):,} "
                            "written")
    runs = test_run(model)
    for r in runs:
        if r["measured_bytes"] != r["predicted_bytes"]:
            problems.append(f"test-run {r['precision']}: {r['measured_bytes']:,} bytes held, the catalog says "
                            f"{r['predicted_bytes']:,}")
        if not (math.isfinite(r["output_error"]) and 0 < r["output_error"] < MAX_OUTPUT_ERROR):
            problems.append(f"test-run {r['precision']}: output error {r['output_error']} (expected finite, "
                            f"in (0, {MAX_OUTPUT_ERROR}))")
    errs = {r["precision"]: r["output_error"] for r in runs}
    if len(errs) == len(PRECISIONS) and not errs["int8"] < errs["nf4"]:
        problems.append(f"test-run: int8's output error {errs['int8']:.4g} is not below nf4's {errs['nf4']:.4g}")
    if native.library() is not None:
        kernels = "compiled C kernels"
    elif os.environ.get(native.DISABLE_ENV, "") not in ("", "0"):
        kernels = f"pure torch: {native.DISABLE_ENV} is set"
    else:
        kernels = "pure torch: no C compiler"
    for r in runs:
        same = "=" if r["bytes_equal"] else "!="
        print(f"lab: {r['precision']:<7} {r['measured_bytes']:>8,} B {same} catalog, output error "
              f"{r['output_error']:.6g}, {r['latency_ms']:.2f} ms ({kernels})")
    levels, _note = quantization_levels("nf4", down)
    hist = histogram_of_tensor(down, 40, f"{LAYER}.weight").as_dict()
    lab = {"device": "cpu", "calibration": "synthetic inputs with outlier channels (self-test)", "errors": errors,
           "histograms": [{"tensor": f"{LAYER}.weight", "precision": "nf4", "edges": hist["edges"],
                           "counts": hist["counts"], "levels": list(levels)}], "runs": runs}
    return lab, problems


def test_run(model: Path) -> list[dict[str, Any]]:
    """Each precision of the layer against the float32 layer on the CPU through the lab's own test-run
    (quantcore.lab.testrun: the kernels, the memory tracker, the timings), on synthetic inputs with outlier
    channels: bytes held, median latency, peak memory, output error."""
    from quantcore.lab.testrun import testrun

    run = testrun(model, list(PRECISIONS), layer=LAYER, device="cpu", calibration="synthetic", tokens=64)
    if run.skipped:
        raise RuntimeError("; ".join(f"{p}: {why}" for p, why in run.skipped))
    return [{**r.as_dict(), "layer": LAYER, "device": "cpu"} for r in run.results]


def _safetensors_payload(path: Path) -> int:
    """Tensor bytes of a .safetensors file, from its own header; the file must be exactly header + those bytes."""
    with path.open("rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    payload = max(ends, default=0)
    if path.stat().st_size != 8 + n + payload:
        raise ValueError(f"{path.name}: {path.stat().st_size:,} bytes, not 8 + {n:,} header + {payload:,} data")
    return payload


def check_report(window: MainWindow, folder: Path, lab: dict[str, Any]) -> list[str]:
    """The window's plan with the lab's results as a PDF and an HTML report: fonts embedded, charts drawn."""
    from app.export import export_data
    from quantcore.report.write import write_report

    folder.mkdir(parents=True, exist_ok=True)
    request = window.state.request
    gpus = tuple(window.controller.gpus[i] for i in window.controller.selected)
    problems: list[str] = []
    for suffix in (".pdf", ".html"):
        path = folder / f"self-test{suffix}"
        data, _command = export_data(window.controller.inventory, request.workload, gpus, request.unit,
                                     request.hidden_precisions, window.controller.gpus, str(path))
        data["lab"] = lab
        written = write_report(path, data, request.unit)
        raw = written[0].read_bytes()
        if suffix == ".pdf" and not (raw.startswith(b"%PDF-") and b"/FontFile2" in raw and len(raw) > 20_000):
            problems.append(f"{path.name}: not a PDF with embedded fonts ({len(raw):,} bytes)")
        if suffix == ".html":
            text = raw.decode("utf-8")
            missing = [s for s in ("<svg", "Quantization lab", "Measured against predicted", *PRECISIONS)
                       if s not in text]
            if missing:
                problems.append(f"{path.name}: lacks {', '.join(missing)}")
        print(f"report: {path.name} {len(raw):,} bytes")
    return problems
