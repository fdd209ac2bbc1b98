"""Reports in every format, checked with the tools a reader would use: poppler for the PDF, headless Chromium for the
HTML, csv / json / jsonschema for the data files; re-rendering a saved plan gives the same bytes."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from report_tools import chromium, console_lines, ink, pdf_pages_text, require, run

from quantcore.cli import main
from quantcore.planner.hardware import find_gpu, load_gpus
from quantcore.planner.plan import make_plan
from quantcore.planner.plan_json import plan_to_dict
from quantcore.planner.workload import Workload
from quantcore.report import fmt
from quantcore.report.content import build_document
from quantcore.report.data import report_dict
from quantcore.report.document import Document, Table
from quantcore.report.pdf import render_pdf
from quantcore.report.write import render_report, write_report
from quantcore.sources.source import load_model

ROOT = Path(__file__).resolve().parents[1]
WHEN = dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def plan70() -> dict[str, Any]:
    """Llama-3.1-70B (bundled config) on an RTX 4090 and an H100 SXM, as a report's plan dict."""
    inv = load_model("meta-llama/Llama-3.1-70B", use_hub=False)
    catalog = load_gpus()
    plan = make_plan(inv, Workload(), None, (find_gpu("rtx-4090", catalog), find_gpu("h100-sxm", catalog)))
    return report_dict(plan, command="quantplanner plan meta-llama/Llama-3.1-70B --gpu rtx-4090 --gpu h100-sxm",
                       generated=WHEN, catalog=catalog)


def _write(tmp_path: Path, data: dict[str, Any], name: str, **kw: Any) -> Path:
    return write_report(tmp_path / name, data, **kw)[0]


def _rec(data: dict[str, Any], i: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    rec = data["report"]["recommendations"][i]
    row = next(r for r in data["rows"] if r["precision"] == rec["precision"])
    return row, row["gpus"][i]


# -- PDF --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("paper, size", [("a4", (595, 842)), ("letter", (612, 792))])
def test_pdf_through_poppler(plan70: dict[str, Any], tmp_path: Path, paper: str, size: tuple[int, int]) -> None:
    pdf = _write(tmp_path, plan70, "plan.pdf", paper=paper)
    info = run([require("pdfinfo"), str(pdf)])
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    w, h = (round(float(v)) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info.stdout).groups())
    assert (w, h) == size and pages >= 5
    fonts = run([require("pdffonts"), str(pdf)]).stdout.splitlines()[2:]
    assert fonts and all(" yes yes " in f for f in fonts), fonts  # every font embedded (and subset)
    assert not run([require("pdfimages"), "-list", str(pdf)]).stdout.splitlines()[2:]  # charts are vectors, no images
    texts = pdf_pages_text(pdf)
    assert len(texts) == pages
    for n, text in enumerate(texts, 1):
        assert f"Page {n} of {pages}" in text
    whole = "\n".join(texts)
    row, opt = _rec(plan70)
    assert "meta-llama/Llama-3.1-70B" in texts[0]
    # the recommendation's figures as the plan holds them, and every precision of the plan
    assert f"run {row['precision']}" in " ".join(texts[0].split())
    assert fmt.size_u(row["memory"]["total"], "GiB") in " ".join(texts[0].split())
    assert fmt.money(opt["purchase_usd"]) in whole and fmt.rate(opt["decode_tokens_per_s"]) in whole
    for r in plan70["rows"]:
        assert re.search(rf"\b{re.escape(r['precision'])}\b\s+{r['bits_per_weight']:.2f}", whole), r["precision"]
    assert "context (tokens per sequence)" in whole  # a chart's axis title, drawn as text
    assert "vllm serve" in whole and "llama-server" in whole
    run([require("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / "page")], timeout=180)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == pages
    for png in pngs:
        share, colours = ink(png)
        assert share > 0.01 and colours > 8, (png.name, share, colours)  # no blank page


def test_pdf_tables_break_across_pages_with_their_header(tmp_path: Path) -> None:
    rows = tuple((f"row-{i:03d}", f"{i * 1.5:.2f}", "x" * (i % 7)) for i in range(180))
    doc = Document("t", "s", "model/tables", "2026-11-30T09:30:00Z", "0", (Table(("name", "value", "text"), rows),))
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(render_pdf(doc))
    texts = pdf_pages_text(pdf)
    assert len(texts) >= 3
    seen = []
    for text in texts:
        lines = [ln.split() for ln in text.splitlines() if ln.strip()]
        names = [ln[0] for ln in lines if ln[0].startswith("row-")]
        assert names, text
        header = next(i for i, ln in enumerate(lines) if ln[:3] == ["name", "value", "text"])
        first_row = next(i for i, ln in enumerate(lines) if ln[0].startswith("row-"))
        assert header < first_row  # the header repeats above the rows on every page
        seen += names
    assert seen == [r[0] for r in rows]  # nothing lost or doubled at the breaks


# -- HTML -------------------------------------------------------------------------------------------------------

def test_html_in_headless_chromium(plan70: dict[str, Any], tmp_path: Path) -> None:
    page = _write(tmp_path, plan70, "plan.html")
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert text.count("<svg") == 3 and "<style>" in text  # self-contained: inline CSS and SVG
    shot = tmp_path / "shot.png"
    out = chromium(["--window-size=1100,2600", f"--screenshot={shot}", page.as_uri()], tmp_path / "profile")
    assert shot.exists(), out.stderr[-2000:]
    assert console_lines(out.stderr) == []
    share, colours = ink(shot)
    assert share > 0.08 and colours > 50, (share, colours)
    # the console check sees errors when there are some (a page that logs one)
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom')</script>")
    out = chromium(["--window-size=400,300", f"--screenshot={tmp_path / 'bad.png'}", bad.as_uri()],
                   tmp_path / "profile2")
    assert any("boom" in ln for ln in console_lines(out.stderr)), out.stderr[-2000:]


def test_html_prints_with_page_numbers(plan70: dict[str, Any], tmp_path: Path) -> None:
    page = _write(tmp_path, plan70, "plan.html")
    printed = tmp_path / "printed.pdf"
    chromium(["--no-pdf-header-footer", f"--print-to-pdf={printed}", page.as_uri()], tmp_path / "profile")
    texts = pdf_pages_text(printed)
    assert len(texts) >= 4
    assert "Page 1 of" in texts[0] and "meta-llama/Llama-3.1-70B" in texts[0]
    assert all("Page" in t for t in texts)


HOSTILE = "<script>alert(1)</script>"


def test_strings_from_the_model_are_escaped_everywhere(plan70: dict[str, Any], tmp_path: Path) -> None:
    data = json.loads(json.dumps(plan70))
    data["model"]["id"] = HOSTILE
    data["model"]["architecture"] = "<img src=x onerror=alert(2)>"
    for r in data["rows"]:
        r["gpus"][0]["name"] = "Evil <b>GPU</b> & co"
    html_text = _write(tmp_path, data, "x.html").read_text()
    assert HOSTILE not in html_text and "<img src=x" not in html_text and "<b>GPU</b>" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    printed = tmp_path / "x-printed.pdf"
    chromium(["--no-pdf-header-footer", f"--print-to-pdf={printed}", (tmp_path / "x.html").as_uri()],
             tmp_path / "profile")
    assert HOSTILE in "".join(pdf_pages_text(printed)[0].split())  # shown as text, not run
    assert HOSTILE in "".join(pdf_pages_text(_write(tmp_path, data, "x.pdf"))[0].split())
    md = _write(tmp_path, data, "x.md").read_text()
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", md, flags=re.S))  # code shows as typed, never HTML
    assert HOSTILE not in prose and "&lt;script&gt;alert(1)&lt;/script&gt;" in prose
    for svg in tmp_path.glob("x.*.svg"):
        assert "<b>GPU</b>" not in svg.read_text()
        ET.fromstring(svg.read_text())  # still well-formed XML


# -- Markdown, CSV, JSON ----------------------------------------------------------------------------------------

def test_markdown_has_real_tables_and_svg_charts_beside_it(plan70: dict[str, Any], tmp_path: Path) -> None:
    md = _write(tmp_path, plan70, "plan.md")
    text = md.read_text()
    lines = text.splitlines()
    start = lines.index(next(ln for ln in lines if ln.startswith("| precision | bits/w |")))
    assert re.fullmatch(r"\|(:?-{3,}:?\|)+", lines[start + 1])
    body = lines[start + 2:start + 2 + len(plan70["rows"])]
    assert [ln.split("|")[1].strip().strip("*") for ln in body] == [r["precision"] for r in plan70["rows"]]
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", text)
    assert len(links) == 3
    for link in links:
        root = ET.parse(tmp_path / link).getroot()
        assert root.tag.endswith("svg") and root.get("viewBox")
    assert "```sh\nvllm serve" in text


def test_csv_parses_back_to_the_same_numbers(plan70: dict[str, Any], tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(_write(tmp_path, plan70, "plan.csv").read_text())))
    assert len(rows) == len(plan70["rows"]) * 2  # one per precision x GPU
    k = 0
    for r in plan70["rows"]:
        for g in r["gpus"]:
            got = rows[k]
            k += 1
            assert (got["precision"], got["gpu"]) == (r["precision"], g["gpu"])
            for c, v in r["memory"].items():
                assert int(got[f"{c}_bytes"]) == v
            assert float(got["bits_per_weight"]) == r["bits_per_weight"]
            assert (int(got["gpu_count"]) if got["gpu_count"] else None) == g["count"]
            assert int(got["per_gpu_total_bytes"]) == g["per_gpu"]["total"]
            assert int(got["spare_per_gpu_bytes"]) == g["usable_bytes"] - g["per_gpu"]["total"]
            assert float(got["decode_tokens_per_s"]) == g["decode_tokens_per_s"]
            assert float(got["cost_per_million_tokens"]) == g["cost_per_million_tokens"]
            assert int(got["max_context"]) == g["max_context"] and int(got["max_batch"]) == g["max_batch"]


@pytest.fixture(scope="module")
def validator() -> Any:
    import jsonschema

    schema = json.loads((ROOT / "docs" / "plan-schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_report_and_plan_json_validate_against_the_schema(plan70: dict[str, Any], tmp_path: Path,
                                                                validator: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_write(tmp_path, plan70, "plan.json").read_text())
    assert data == plan70
    assert list(validator.iter_errors(data)) == []
    assert main(["plan", "Qwen/Qwen2.5-7B", "--gpu", "l4", "--mode", "qlora", "--json"]) == 0
    bare = json.loads(capsys.readouterr().out)
    assert "report" not in bare and list(validator.iter_errors(bare)) == []
    broken = json.loads(json.dumps(plan70))
    broken["rows"][0]["memory"]["weights"] = 1.5  # bytes are integers
    broken["report"]["generated"] = "yesterday"
    assert len(list(validator.iter_errors(broken))) == 2


def test_plan_json_is_unchanged_by_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--json"]) == 0
    printed = capsys.readouterr().out
    inv = load_model("meta-llama/Llama-3.1-8B")  # as the CLI loads it (the Hub first; offline here)
    plan = make_plan(inv, Workload(), None, (find_gpu("rtx-4090", load_gpus()),))
    assert printed == json.dumps(plan_to_dict(plan), indent=1) + "\n"


# -- re-rendering ----------------------------------------------------------------------------------------------

def test_a_saved_plan_re_renders_identically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--context", "8192", "--report",
                 str(saved)]) == 0
    data = json.loads(saved.read_text())
    assert data["report"]["command"].startswith("quantplanner plan meta-llama/Llama-3.1-8B --gpu rtx-4090")
    assert data["workload"]["context"] == 8192
    for suffix in (".pdf", ".html", ".md", ".csv", ".json"):
        outs = []
        for k in range(2):
            (tmp_path / f"run{k}").mkdir(exist_ok=True)
            out = tmp_path / f"run{k}" / f"r{suffix}"
            assert main(["report", str(saved), "--out", str(out)]) == 0
            outs.append(out.read_bytes())
        assert outs[0] == outs[1], suffix
    assert (tmp_path / "run0" / "r.json").read_bytes() == saved.read_bytes()
    assert render_report(data, "html") == render_report(json.loads(saved.read_text()), "html")


def test_a_bare_plan_json_still_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --json` has no report extras: the report leaves out what needs them and says nothing false."""
    assert main(["plan", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--json"]) == 0
    bare = tmp_path / "bare.json"
    bare.write_text(capsys.readouterr().out)
    assert main(["report", str(bare), "--out", str(tmp_path / "bare.html")]) == 0
    text = (tmp_path / "bare.html").read_text()
    assert text.count("<svg") == 1 and "bf16" in text  # bars only: no curves or heatmap without the extras
    doc = build_document(json.loads(bare.read_text()))
    assert "run bf16" in doc.plain_text()


# -- other plans -----------------------------------------------------------------------------------------------

def test_training_and_no_gpu_plans_render(tmp_path: Path) -> None:
    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    catalog = load_gpus()
    qlora = report_dict(make_plan(inv, Workload(mode="qlora", recompute="full"), None,
                                  (find_gpu("rtx-4090", catalog),)), generated=WHEN, catalog=catalog)
    text = build_document(qlora).plain_text()
    assert "nf4" in text and "training plan" in text  # serving engines say why they do not apply
    assert "optimizer adamw" in text
    bare = report_dict(make_plan(inv, Workload(), ("bf16", "q4_k_m")), generated=WHEN, catalog=catalog)
    for suffix in (".pdf", ".html", ".md", ".csv", ".json"):
        assert _write(tmp_path, bare, f"nogpu{suffix}").stat().st_size > 200
    assert "No GPU was chosen" in build_document(bare).plain_text()


def test_fields_added_by_newer_plans_are_shown(plan70: dict[str, Any], tmp_path: Path, validator: Any) -> None:
    """placement badges, the engine per row, quality, warnings and training figures appear when a plan has them."""
    data = json.loads(json.dumps(plan70))
    data["warnings"] = ["context 200,000 is above the model's limit of 131,072"]
    for r in data["rows"]:
        r["engine"] = "llamacpp" if r["precision"].startswith("q") else "hf"
        r["quality"] = {"value": 0.0123, "metric": "ppl delta", "source": "llama.cpp perplexity table",
                        "kind": "published"}
        g = r["gpus"][0]
        g["placement"] = {"kind": "offload", "gpus": 1, "tensor_parallel": 1, "pipeline_parallel": 1,
                          "gpu_layers": 61, "total_layers": 80, "host_bytes": 9 * 2**30,
                          "badge": "partial offload 61/80 layers"}
        g["training"] = {"tokens_per_s": 1234.5, "hours": 7.25, "gpu_hours": 14.5, "cost_usd": 9.86}
    assert list(validator.iter_errors(data)) == []
    text = " ".join(build_document(data).plain_text().split())
    assert "partial offload 61/80 layers" in text and "llamacpp" in text and "+0.0123 (publ.)" in text
    assert "ppl delta. llama.cpp perplexity table" in text  # the quality section: metric and source
    assert "above the model's limit" in text and "partial offload keeps 61 of 80 layers" in text
    data["workload"]["mode"] = "lora"
    text = " ".join(build_document(data).plain_text().split())
    assert "train tok/s" in text and "about 1,234 tokens/s" in text and "14.5 GPU-hours" in text
    assert render_pdf(build_document(data))[:5] == b"%PDF-"


def test_a_partial_offload_is_never_the_recommendation(plan70: dict[str, Any]) -> None:
    """Nothing fits one card: the summary recommends the fewest GPUs that hold everything, with that layout's own
    figures (GPU count, price, speed), not the 1-GPU partial offload the table shows as the cheapest option."""
    from quantcore.report.sections import recommendations

    data = json.loads(json.dumps(plan70))
    for r in data["rows"]:  # a plan where every row on the first GPU is a partial offload of one card
        g = r["gpus"][0]
        g["placement"] = {"kind": "offload", "gpus": 1, "tensor_parallel": 1, "pipeline_parallel": 1,
                          "gpu_layers": 40, "total_layers": 80, "host_bytes": 30 * 2**30,
                          "badge": "partial offload 40/80 layers"}
        g["multi_gpu"] = {"kind": "pipeline", "gpus": 3, "tensor_parallel": 1, "pipeline_parallel": 3,
                          "gpu_layers": 80, "total_layers": 80, "host_bytes": 0, "badge": "3 GPUs, layer split",
                          "per_gpu_total": 20 * 2**30, "purchase_usd": 6000.0, "hourly_usd": 1.02,
                          "decode_tokens_per_s": 12.5, "prefill_tokens_per_s": 900.0,
                          "cost_per_million_tokens": 22.7, "speed_basis": "estimate (three-GPU layer split)"}
        g["count"] = 1
    data.pop("report", None)
    data["recommendations"] = [{"gpu": g["gpu"], "precision": None, "text": "", "caveats": []}
                               for g in data["rows"][0]["gpus"]]
    rec = recommendations(data)[0]
    assert rec["count"] == 3 and rec["layout"] == "multi_gpu"
    text = " ".join(build_document(data).plain_text().split())
    assert "on 3 x NVIDIA GeForce RTX 4090 (3 GPUs, layer split)" in text
    assert "about 12.5 tokens/s" in text and "three-GPU layer split" in text and "$6,000" in text
