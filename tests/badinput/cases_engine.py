"""Corpus cases for the inputs the quantization engine, the reports and the placement options brought: `quantize`
and `inspect --histogram` on FIFOs, devices, NaN / Inf / overflowing weights and absurd safetensors and GGUF
headers (the GGUF ones walked by sources/gguf_scan), `quantize --out` targets and the files a GGUF conversion
opens, `report` on hostile plan JSON, and `fit --gpu SIZE`, `--ram`, `--host-bandwidth`, `--context`,
`--min-bits` with absurd values."""
from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from corpus import (TINY_CONFIG, Case, Make, _gstr, deep_json, fifo, gguf_bytes, gguf_nested, inputs, link,
                    raw_safetensors, tiny_tensors, unix_socket, write)

Fill = Callable[[tuple[int, ...]], np.ndarray]
_RNG_SEED = 8


# -- writers ------------------------------------------------------------------------------------------------------

def f32_model(fill: Fill, name: str = "m", config: dict[str, Any] | None = None) -> Callable[[Path], Path]:
    """A folder with config.json and a model.safetensors of F32 tensors whose values `fill` gives (the tiny llama
    shapes of corpus.tiny_tensors)."""
    def make(root: Path) -> Path:
        header: dict[str, Any] = {}
        blobs, off = [], 0
        for tname, shape, _ in tiny_tensors():
            a = np.ascontiguousarray(fill(shape), dtype=np.float32)
            header[tname] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + a.nbytes]}
            blobs.append(a.tobytes())
            off += a.nbytes
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        write(root, f"{name}/model.safetensors", struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
        write(root, f"{name}/config.json", config if config is not None else TINY_CONFIG)
        return inputs(root) / name
    return make


def _normal(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(_RNG_SEED).standard_normal(shape)


def _sprinkled(value: float) -> Fill:
    def fill(shape: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng(_RNG_SEED)
        return np.where(rng.random(shape) < 0.05, value, rng.standard_normal(shape))
    return fill


def _file(content: bytes, name: str) -> Callable[[Path], Path]:
    return lambda root: write(root, name, content)


def _in_folder(make_file: Callable[[Path], Path]) -> Callable[[Path], Path]:
    return lambda root: make_file(root).parent


def _leaves_nothing(root: Path, out: str, err: str) -> None:
    """No temporary or partial output left beside the inputs."""
    left = [p.name for p in inputs(root).rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".partial",
                                                                                               ".data")]
    assert not left, left


def _cmd(command: str, *extra: str) -> Callable[[Callable[[Path], Path | str]], Make]:
    """quantize PATH --precision int8 / inspect PATH --histogram, with extra arguments."""
    def bind(path: Callable[[Path], Path | str]) -> Make:
        def make(root: Path) -> list[str]:
            where = str(path(root))
            if command == "quantize":
                return ["quantize", where, "--precision", "int8", *extra]
            return ["inspect", where, "--histogram", *extra]
        return make
    return bind


COMMANDS = {"quantize": _cmd("quantize"), "histogram": _cmd("histogram")}


# -- quantize / inspect --histogram: files that are not files, and weights that are not numbers -------------------

def tensor_file_cases() -> list[Case]:
    nan_st = f32_model(lambda s: np.full(s, np.nan))
    sources: list[tuple[str, str, Callable[[Path], Path | str], str]] = [
        ("fifo-safetensors", "hang", lambda r: fifo(r, "m/model.safetensors"), "FIFO"),
        ("fifo-safetensors-in-folder", "hang", _in_folder(lambda r: fifo(r, "m/model.safetensors")), "FIFO"),
        ("fifo-shard-beside-a-good-one", "hang", lambda r: (f32_model(_normal)(r), fifo(r, "m/z.safetensors"))[0],
         "FIFO"),
        ("fifo-gguf", "hang", lambda r: fifo(r, "model.gguf"), "FIFO"),
        ("fifo-gguf-in-folder", "hang", _in_folder(lambda r: fifo(r, "g/model.gguf")), "FIFO"),
        ("dev-zero-safetensors", "bounded", lambda r: link(r, "m/model.safetensors", "/dev/zero"), "device"),
        ("dev-urandom-gguf", "bounded", lambda r: link(r, "model.gguf", "/dev/urandom"), "device"),
        ("dev-zero-in-folder", "bounded", _in_folder(lambda r: link(r, "m/model.safetensors", "/dev/zero")),
         "device"),
        ("socket-safetensors", "hang", lambda r: unix_socket(r, "model.safetensors"), "socket"),
        ("folder-named-safetensors", "traceback", lambda r: _dir(r, "m/model.safetensors"), "folder"),
        ("empty-safetensors", "traceback", _file(b"", "model.safetensors"), "safetensors"),
        ("header-length-2e63", "bounded", _file(struct.pack("<Q", 2**63) + b"{}", "model.safetensors"), "refusing"),
        ("header-deep", "traceback", _file(raw_safetensors(deep_json(100_000)), "model.safetensors"), "deep"),
        ("header-infinity-shape", "accepted", _file(raw_safetensors(
            '{"w": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}', 4), "model.safetensors"),
         "shape"),
        ("header-float-shape", "accepted", _file(raw_safetensors(
            {"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, 4), "model.safetensors"), "shape"),
        ("header-huge-shape", "bounded", _file(raw_safetensors(
            {"w": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, 4), "model.safetensors"),
         ""),
        ("header-unknown-dtype", "accepted", _file(raw_safetensors(
            {"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, 16), "model.safetensors"), "dtype"),
        ("header-overlap", "accepted", _file(raw_safetensors(
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), "model.safetensors"), "overlaps"),
        ("header-past-end", "bounded", _file(raw_safetensors(
            {"w": {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [0, 4 << 20]}}, 16),
            "model.safetensors"), "end"),
        ("nan-weights", "accepted", nan_st, "NaN"),
        ("nan-sprinkled", "accepted", f32_model(_sprinkled(np.nan)), "NaN"),
        ("inf-sprinkled", "accepted", f32_model(_sprinkled(np.inf)), "NaN/Inf"),
        ("neg-inf-weights", "accepted", f32_model(lambda s: np.full(s, -np.inf)), "NaN/Inf"),
    ]
    out = []
    for command, bind in COMMANDS.items():
        for name, cls, path, needle in sources:
            out.append(Case(f"{command}-{name}", cls, bind(path), needle=needle, seconds=20))
    # 3e38 is a finite float32 but overflows the 16-bit copies int8 keeps embeddings in: refused, naming the tensor
    out.append(Case("quantize-overflow-3e38", "traceback", COMMANDS["quantize"](f32_model(lambda s: np.full(s, 3e38))),
                    needle="overflow", seconds=20))
    out.append(Case("histogram-3e38-valid", "holds", COMMANDS["histogram"](f32_model(lambda s: np.full(s, 3e38))),
                    ok=True, seconds=20))
    out.append(Case("quantize-valid", "holds", COMMANDS["quantize"](f32_model(_normal)), ok=True, seconds=30))
    out.append(Case("histogram-valid", "holds", COMMANDS["histogram"](f32_model(_normal)), ok=True, seconds=20))
    out.append(Case("quantize-valid-json", "holds", _cmd("quantize", "--json")(f32_model(_normal)), ok=True,
                    seconds=30))
    good = f32_model(_normal)
    for name, extra, needle in (("bins-0", ("--bins", "0"), "bins"), ("bins-neg", ("--bins", "-3"), "bins"),
                                ("bins-1e9", ("--bins", "1000000000"), "bins"),
                                ("bins-2e63", ("--bins", str(2**63)), "bins"),
                                ("bins-text", ("--bins", "many"), "bins"),
                                ("tensor-none", ("--tensor", "nope.weight"), "no tensor"),
                                ("tensor-ansi", ("--tensor", "\x1b[2J\nx"), "no tensor"),
                                ("precision-ansi", ("--precision", "\x1b[31mq4\n"), "precision")):
        out.append(Case(f"histogram-{name}", "accepted" if "bins" in name else "hygiene",
                        _cmd("histogram", *extra)(good), needle=needle, seconds=20))
    for name, extra, needle in (("precision-unknown", ("--precision", "int99"), "precision"),
                                ("tensor-none", ("--tensor", "nope.weight"), "no tensor"),
                                ("tensor-ansi", ("--tensor", "\x1b]0;pwned\x07\nx"), "no tensor")):
        out.append(Case(f"quantize-{name}", "hygiene", _cmd("quantize", *extra)(good), needle=needle, seconds=20))
    return out


def _dir(root: Path, name: str) -> Path:
    p = inputs(root) / name
    p.mkdir(parents=True)
    return p


# -- quantize / inspect --histogram on GGUF headers walked by gguf_scan -------------------------------------------

def gguf_scan_cases() -> list[Case]:
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    headers: list[tuple[str, str, bytes, str]] = [
        ("tensor-count-2e40", "bounded", gguf_bytes(tensor_count=2**40), "implausible"),
        ("kv-count-2e40", "bounded", gguf_bytes(kv_count=2**40), "implausible"),
        ("tensor-count-lies", "traceback", gguf_bytes(tensor_count=5), ""),
        ("key-length-2e63", "bounded", header + struct.pack("<Q", 2**63) + b"abc", "larger than"),
        ("tokenizer-array-2e60", "bounded", gguf_bytes(extra=[_gstr("tokenizer.ggml.tokens")
                                                              + struct.pack("<IIQ", 9, 8, 2**60)]), "larger than"),
        ("u32-array-2e60", "bounded", gguf_bytes(extra=[_gstr("llama.x") + struct.pack("<IIQ", 9, 4, 2**60)]),
         "larger than"),
        ("n-dims-2e31", "bounded", b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _gstr("t") + struct.pack("<I", 2**31),
         "dimensions"),
        ("dims-2e62", "bounded", gguf_bytes(tensors=[("token_embd.weight", (2**62, 2**62))]), "out of range"),
        ("dims-eight-2e40", "bounded", gguf_bytes(tensors=[("token_embd.weight", (2**40,) * 8)]), "out of range"),
        ("nested-arrays-3000", "traceback", gguf_bytes(extra=[gguf_nested("x.deep", 3000)]), "nests"),
        ("alignment-zero", "accepted", gguf_bytes(extra=[_gstr("general.alignment") + struct.pack("<II", 4, 0)]),
         "alignment"),
        ("version-1", "traceback", b"GGUF" + struct.pack("<I", 1) + gguf_bytes()[8:], "version"),
        ("magic-wrong", "traceback", b"GGML" + gguf_bytes()[4:], "magic"),
        ("truncated-half", "traceback", gguf_bytes()[: len(gguf_bytes()) // 3], ""),
        ("empty", "traceback", b"", "empty"),
    ]
    out = []
    for command, bind in COMMANDS.items():
        for name, cls, content, needle in headers:
            out.append(Case(f"{command}-gguf-{name}", cls, bind(_file(content, "model.gguf")), needle=needle,
                            seconds=20))
    out.append(Case("quantize-gguf-nested-arrays-100-valid", "holds", COMMANDS["quantize"](_file(gguf_bytes(
        extra=[gguf_nested("x.deep", 100)]), "model.gguf")), ok=True, seconds=20))
    out.append(Case("histogram-gguf-valid", "holds", COMMANDS["histogram"](_file(gguf_bytes(), "model.gguf")),
                    ok=True, seconds=20))
    return out


# -- quantize --out: targets, and the files a GGUF conversion opens by name ---------------------------------------

def with_file(name: str, content: Callable[[Path], Any]) -> Callable[[Path], Path]:
    """The valid tiny model, plus m/<name>: what content(root) makes there (a FIFO, a link) or returns."""
    def make(root: Path) -> Path:
        folder = f32_model(_normal)(root)
        made = content(root)
        if not isinstance(made, Path):
            write(root, f"m/{name}", made)
        return folder
    return make


def quantize_out_cases() -> list[Case]:
    def out_to(target: Callable[[Path], str], model: Callable[[Path], Path] = f32_model(_normal),
               precision: str = "int8") -> Make:
        return lambda root: ["quantize", str(model(root)), "--precision", precision, "--out", target(root)]

    cases: list[tuple[str, str, Make, bool, str]] = [
        ("proc", "traceback", out_to(lambda r: "/proc/q.safetensors"), False, "cannot write"),
        ("sys", "traceback", out_to(lambda r: "/sys/q.safetensors"), False, "cannot write"),
        ("name-300", "traceback", out_to(lambda r: str(inputs(r) / ("q" * 300 + ".safetensors"))), False,
         "cannot write"),
        ("missing-folder", "traceback", out_to(lambda r: str(inputs(r) / "nope" / "q.safetensors")), False,
         "no such folder"),
        ("gguf-proc", "traceback", out_to(lambda r: "/proc/q.gguf", precision="q8_0"), False, "cannot write"),
        ("gguf-name-300", "traceback", out_to(lambda r: str(inputs(r) / ("q" * 300 + ".gguf")), precision="q8_0"),
         False, "cannot write"),
        ("bad-suffix", "accepted", out_to(lambda r: str(inputs(r) / "q.bin")), False, "safetensors"),
        ("fifo-tokenizer-json", "hang", out_to(lambda r: str(inputs(r) / "q.gguf"), with_file(
            "tokenizer.json", lambda r: fifo(r, "m/tokenizer.json")), "q8_0"), False, "FIFO"),
        ("dev-zero-tokenizer-model", "bounded", out_to(lambda r: str(inputs(r) / "q.gguf"), with_file(
            "tokenizer.model", lambda r: link(r, "m/tokenizer.model", "/dev/zero")), "q8_0"), False, "device"),
        ("deep-tokenizer-config", "traceback", out_to(lambda r: str(inputs(r) / "q.gguf"), with_file(
            "tokenizer_config.json", lambda r: deep_json(50_000)), "q8_0"), False, "deep"),
        ("config-layers-1e30", "accepted", out_to(lambda r: str(inputs(r) / "q.gguf"), f32_model(
            _normal, config={**TINY_CONFIG, "num_hidden_layers": 10**30}), "q8_0"), False, "num_hidden_layers"),
        ("config-rope-theta-text", "traceback", out_to(lambda r: str(inputs(r) / "q.gguf"), f32_model(
            _normal, config={**TINY_CONFIG, "rope_theta": "fast"}), "q8_0"), False, "convert"),
        ("valid-safetensors", "holds", out_to(lambda r: str(inputs(r) / "q.safetensors")), True, ""),
        ("valid-gguf", "holds", out_to(lambda r: str(inputs(r) / "q.gguf"), precision="q8_0"), True, ""),
    ]
    return [Case(f"quantize-out-{name}", cls, make, ok=ok, needle=needle, check=_leaves_nothing, seconds=30)
            for name, cls, make, ok, needle in cases]


# -- report: hostile plan JSON -----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _plan_text() -> str:
    """A real quantplanner.plan/1 report JSON (bundled Llama-3.1-8B on an RTX 4090), made once."""
    from quantcore.planner.hardware import find_gpu, load_gpus
    from quantcore.planner.plan import make_plan
    from quantcore.planner.workload import Workload
    from quantcore.report.data import report_dict
    from quantcore.sources.source import load_model

    inv = load_model("meta-llama/Llama-3.1-8B", use_hub=False)
    plan = make_plan(inv, Workload(), ("bf16", "q4_k_m"), (find_gpu("rtx-4090", load_gpus()),))
    return json.dumps(report_dict(plan))


def _replaced(old: str, new: str) -> Callable[[], str]:
    def text() -> str:
        base = _plan_text()
        assert old in base, old
        return base.replace(old, new, 1)
    return text


def _plan_with(path: tuple[Any, ...], value: Any) -> Callable[[], str]:
    def text() -> str:
        data = json.loads(_plan_text())
        x = data
        for k in path[:-1]:
            x = x[k]
        x[path[-1]] = value
        return json.dumps(data)
    return text


def report_json_cases() -> list[Case]:
    def report(plan: Callable[[Path], Path], fmt: str, *extra: str) -> Make:
        return lambda root: ["report", str(plan(root)), "--out", str(inputs(root) / f"out.{fmt}"), *extra]

    def plan_file(text: Callable[[], str] | str) -> Callable[[Path], Path]:
        return lambda root: write(root, "plan.json", text() if callable(text) else text)

    base = _plan_text
    plans: list[tuple[str, str, Callable[[Path], Path], str]] = [
        ("deep-5000", "traceback", plan_file(lambda: '{"schema": "quantplanner.plan/1", "model": '
                                              + deep_json(5000) + "}"), "deep"),
        ("deep-65", "traceback", plan_file(lambda: base()[:-1] + ', "x": ' + deep_json(64) + "}"), "deep"),
        ("nan", "accepted", plan_file(_replaced('"batch": 1', '"batch": NaN')), "NaN"),
        ("infinity", "accepted", plan_file(_replaced('"batch": 1', '"batch": -Infinity')),
         "Infinity"),
        ("1e400", "accepted", plan_file(_replaced('"batch": 1', '"batch": 1e400')), "large"),
        ("bytes-10e400", "traceback", plan_file(_plan_with(("rows", 0, "memory", "weights"), 10**400)),
         "well-formed"),
        ("memory-text", "traceback", plan_file(_plan_with(("rows", 0, "memory", "weights"), "lots")),
         "well-formed"),
        ("rows-text", "traceback", plan_file(_plan_with(("rows",), ["x", "y"])), "rows"),
        ("gpus-text", "traceback", plan_file(_plan_with(("rows", 0, "gpus"), ["x"])), "well-formed"),
        ("model-id-int", "traceback", plan_file(_plan_with(("model", "id"), 5)), "id"),
        ("parameters-text", "traceback", plan_file(_plan_with(("model", "parameters"), "7B")), "well-formed"),
        ("workload-list", "traceback", plan_file(_plan_with(("workload",), [])), "workload"),
        ("report-list", "traceback", plan_file(_plan_with(("report",), [1, 2])), "well-formed"),
        ("warnings-int", "traceback", plan_file(_plan_with(("warnings",), 5)), "well-formed"),
        ("bits-text", "traceback", plan_file(_plan_with(("rows", 0, "bits_per_weight"), "x")), "well-formed"),
        ("not-an-object", "traceback", plan_file("[1, 2, 3]"), "plan"),
        ("not-json", "traceback", plan_file("{plan"), "JSON"),
        ("number-5000-digits", "traceback", plan_file(_replaced('"batch": 1', '"batch": ' + "9" * 5000)), ""),
        ("fifo", "hang", lambda r: fifo(r, "plan.json"), "FIFO"),
        ("dev-zero", "bounded", lambda r: link(r, "plan.json", "/dev/zero"), "device"),
        ("missing", "traceback", lambda r: inputs(r) / "nope.json", "no such"),
    ]
    out = []
    for name, cls, plan, needle in plans:
        for fmt in ("pdf", "md", "html"):
            out.append(Case(f"report-json-{name}-{fmt}", cls, report(plan, fmt), needle=needle, seconds=20,
                            check=_leaves_nothing))
    # what a plan says is text, never markup or terminal control, in every format
    html_id = _plan_with(("model", "id"), '<img src=x onerror=alert(1)>\n\x1b[31m[x](javascript:alert(1))')
    for fmt in ("md", "html", "pdf", "csv", "json"):
        out.append(Case(f"report-json-html-id-{fmt}", "hygiene", report(plan_file(html_id), fmt), ok=True,
                        seconds=30, check=_report_is_text(fmt)))
    out.append(Case("report-json-lab-deep", "traceback", lambda root: [
        "report", str(plan_file(base)(root)), "--out", str(inputs(root) / "out.md"), "--lab",
        str(write(root, "lab.json", deep_json(10_000)))], needle="deep", seconds=20))
    out.append(Case("report-json-lab-nan", "accepted", lambda root: [
        "report", str(plan_file(base)(root)), "--out", str(inputs(root) / "out.md"), "--lab",
        str(write(root, "lab.json", '{"quantize": [{"metrics": {"rel_error": NaN}}]}'))], needle="NaN", seconds=20))
    out.append(Case("report-json-lab-fifo", "hang", lambda root: [
        "report", str(plan_file(base)(root)), "--out", str(inputs(root) / "out.md"), "--lab",
        str(fifo(root, "lab.json"))], needle="FIFO", seconds=20))
    return out


def _report_is_text(fmt: str) -> Callable[[Path, str, str], None]:
    def check(root: Path, out: str, err: str) -> None:
        raw = (inputs(root) / f"out.{fmt}").read_bytes()
        assert b"\x1b" not in raw or fmt == "pdf", "a raw terminal escape in the report"
        if fmt == "html":
            assert b"<img" not in raw and b"&lt;img" in raw, raw[:300]
        if fmt == "md":  # markup escaped in the text; code blocks (deploy commands) show it literally anyway
            title = raw.splitlines()[0]
            assert b"<img" not in title and b"&lt;img" in title, title
        _leaves_nothing(root, out, err)
    return check


# -- fit --gpu SIZE, --ram, --host-bandwidth, --context, --min-bits ----------------------------------------------

def placement_arg_cases() -> list[Case]:
    def fit(*argv: str) -> Make:
        return lambda root: ["fit", *argv, "--model", "meta-llama/Llama-3.2-1B"]

    def plan(*argv: str) -> Make:
        return lambda root: ["plan", "7B", "--precision", "bf16", "--gpu", "rtx-4090", *argv]

    cases: list[tuple[str, str, Make, str, bool]] = []
    for label, v, needle in (("1e400", "1e400GB", "GPU"), ("9x400", "9" * 400 + "GB", "GPU"),
                             ("1e26", "1" + "0" * 26 + "GB", "PiB"), ("0", "0GB", "1 MiB"),
                             ("1e-7", "0.0000001GB", "1 MiB"), ("40000tb", "40000TB", "PiB"),
                             ("32pib-plus", "33554433GiB", "PiB"), ("nan", "nanGB", "GPU"), ("inf", "infGB", "GPU"),
                             ("neg", "-24GB", "")):
        cases.append((f"fit-gpu-{label}", "accepted", fit("--gpu", v), needle, False))
    cases.append(("fit-gpu-24GB", "holds", fit("--gpu", "24GB"), "", True))
    for label, v, needle in (("1e400", "1e400", "size"), ("9x400", "9" * 400, "size"),
                             ("1e20-gib", "99999999999999999999", "PiB"), ("neg", "-5", "size"),
                             ("nan", "nan", "size"), ("inf", "inf", "size"), ("1e3", "1e3", "size"),
                             ("40000tib", "40000TiB", "PiB"), ("1e30gib", "1e30GiB", "size"),
                             ("9x40-tib", "9" * 40 + "TiB", "size")):
        cases.append((f"ram-{label}", "accepted", plan("--ram", v), needle, False))
        cases.append((f"fit-ram-{label}", "accepted", fit("--gpu", "rtx-4090", "--ram", v), needle, False))
    cases += [("ram-0", "holds", plan("--ram", "0"), "", True), ("ram-half", "holds", plan("--ram", "0.5"), "", True)]
    for v in ("nan", "inf", "-1", "0", "1e400", "1e7"):
        cases.append((f"host-bandwidth-{v}", "accepted", plan("--host-bandwidth", v), "host-bandwidth", False))
    for label, v, needle in (("1e400k", "1e400k", "token"), ("9x400k", "9" * 400 + "k", "token"),
                             ("9x40", "9" * 40, "token"), ("1e9", "1e9", "token"), ("nan", "nan", "token"),
                             ("inf", "inf", "token"), ("0k", "0k", "token"), ("0.1", "0.1", "token"),
                             ("1e11k", "99999999999k", "context"), ("1e12-commas", "1,000,000,000,000", "context"),
                             ("neg", "-8k", "")):
        cases.append((f"context-{label}", "accepted", plan("--context", v), needle, False))
        cases.append((f"fit-context-{label}", "accepted", fit("--gpu", "rtx-4090", "--context", v), needle, False))
    cases.append(("context-1.5k", "holds", plan("--context", "1.5k"), "", True))
    for v in ("nan", "inf", "-1", "33"):
        cases.append((f"fit-min-bits-{v}", "accepted", fit("--gpu", "rtx-4090", "--min-bits", v), "min-bits", False))
    for v in ("0", str(10**30)):
        cases.append((f"fit-count-{v[:10]}", "accepted", fit("--gpu", "rtx-4090", "--count", v), "count", False))
    cases.append(("fit-rank-top-0", "accepted", fit("--gpu", "rtx-4090", "--rank", "quality", "--top", "0"), "top",
                  False))
    return [Case(name, cls, make, needle=needle, ok=ok, seconds=20) for name, cls, make, needle, ok in cases]


def engine_cases() -> list[Case]:
    """Every case of this module."""
    from cases_lab import lab_cases

    return tensor_file_cases() + gguf_scan_cases() + quantize_out_cases() + report_json_cases() + \
        placement_arg_cases() + lab_cases()
