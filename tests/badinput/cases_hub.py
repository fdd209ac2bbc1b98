"""Corpus cases against the stand-in Hub: hostile model info (commit hashes, file names, sizes, types, depth),
oversized and endless answers, silence and slow drips, damaged cache entries, search answers."""
from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Callable

from corpus import LLAMA, TINY_CONFIG, Case, deep_json, safetensors_bytes, tiny_tensors

OK_SHA = "0123456789abcdef0123456789abcdef01234567"
Setup = Callable[[Any, Path], None]


def _repo_files(folder: Path, config: dict[str, Any] | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(safetensors_bytes(tiny_tensors()))
    (folder / "config.json").write_text(json.dumps(config or TINY_CONFIG))
    return {"model.safetensors": folder / "model.safetensors", "config.json": folder / "config.json"}


def repo(repo_id: str, config: dict[str, Any] | None = None, **extra_files: bytes) -> Setup:
    """A small valid repo on the stand-in Hub (safetensors + config.json, plus any extra files)."""
    def setup(hub: Any, root: Path) -> None:
        files = _repo_files(root / "repo-files" / repo_id.replace("/", "--"), config)
        for name, data in extra_files.items():
            p = root / "repo-files" / repo_id.replace("/", "--") / name.replace("__", "/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            files[name.replace("__", "/")] = p
        hub.add_repo(repo_id, files)
    return setup


def info(repo_id: str, body: Any, **kw: Any) -> Setup:
    """Model info for repo_id answered with `body` (a JSON value, or raw bytes)."""
    def setup(hub: Any, root: Path) -> None:
        repo(repo_id)(hub, root)
        hub.answer(f"/api/models/{repo_id}", body, **kw)
    return setup


def model_info(sha: Any = OK_SHA, siblings: Any = None, **more: Any) -> dict[str, Any]:
    sib = [{"rfilename": "config.json", "size": 300}, {"rfilename": "model.safetensors", "size": 1000}] \
        if siblings is None else siblings
    return {"id": "x", "sha": sha, "siblings": sib, "gated": False, **more}


def then(*setups: Setup) -> Setup:
    def setup(hub: Any, root: Path) -> None:
        for s in setups:
            s(hub, root)
    return setup


def plan(repo_id: str, *extra: str) -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        return ["plan", repo_id, "--precision", "bf16", *extra]
    make.model_only = not extra  # type: ignore[attr-defined]  # what the app's model box takes
    return make


# -- 1: writes outside the cache ----------------------------------------------------------------------------------

def cache_cases() -> list[Case]:
    def outside_empty(root: Path, out: str, err: str) -> None:
        assert not any((root / "outside").iterdir()), list((root / "outside").iterdir())

    shas: list[tuple[str, Any]] = [
        ("traversal", "../../../../outside/pwned"), ("traversal-deep", "../" * 30 + "tmp/quantplanner-pwned"),
        ("absolute", "/tmp/quantplanner-pwned-abs"), ("short", "0" * 39), ("long", "0" * 41),
        ("uppercase", "ABCDEF0123456789ABCDEF0123456789ABCDEF01"), ("not-hex", "g" * 40),
        ("nul", "0" * 20 + "\0" + "0" * 19), ("newline", "0" * 39 + "\n"), ("int", 12345), ("list", [OK_SHA]),
        ("dict", {"a": 1}), ("dot", "."), ("dotdot", ".."), ("slash-in", "00000000000000000000/0000000000000000000"),
    ]
    out = []
    for name, sha in shas:
        rid = f"cache/sha-{name}"
        out.append(Case(f"hub-sha-{name}", "cache", plan(rid), hub=info(rid, model_info(sha=sha)),
                        check=outside_empty))
    names = [("traversal", "../../../../outside/x.safetensors"), ("absolute", "/etc/passwd"),
             ("backslash", "..\\..\\x.safetensors"), ("nul", "a\0.safetensors"), ("dot", "./model.safetensors"),
             ("newline", "model\n.safetensors"), ("int", 5), ("empty", "")]
    for name, fname in names:
        rid = f"cache/sibling-{name}"
        sib = [{"rfilename": "config.json", "size": 300}, {"rfilename": fname, "size": 1000}]
        out.append(Case(f"hub-sibling-name-{name}", "cache", plan(rid), hub=info(rid, model_info(siblings=sib)),
                        check=outside_empty))
    for name, rev in (("traversal", "../../../../outside/x"), ("dotdot", ".."), ("abs", "/etc/passwd"),
                      ("newline", "main\nx"), ("lock", "main.lock"), ("dev-zero", "../../../../../../dev/zero")):
        out.append(Case(f"hub-revision-{name}", "cache", plan("cache/rev-repo", "--revision", rev),
                        hub=repo("cache/rev-repo"), check=outside_empty, needle="revision"))
    out.append(Case("hub-gguf-name-traversal", "cache", plan("cache/gg/../../outside/x.gguf"), hub=repo("cache/gg"),
                    check=outside_empty))
    return out


# -- 2: unbounded answers -----------------------------------------------------------------------------------------

def bounded_cases() -> list[Case]:
    bomb = gzip.compress(b"[" + b"0," * (20 << 20) + b"0]")  # 40 MB of JSON in ~40 kB
    cases: list[tuple[str, str, Setup]] = [
        ("info-10gib-announced", "bounded/info-huge", info("bounded/info-huge", b"{", length=10 << 30)),
        ("info-20mb-streamed", "bounded/info-stream", info("bounded/info-stream", b"[", stream=20 << 20)),
        ("info-gzip-bomb", "bounded/info-bomb", info("bounded/info-bomb", bomb, **{"Content-Encoding": "gzip"})),
        ("info-brotli", "bounded/info-br", info("bounded/info-br", b"xx", **{"Content-Encoding": "br"})),
        ("config-10gib-announced", "bounded/config-huge",
         then(repo("bounded/config-huge"), lambda h, r: h.answer("/bounded/config-huge/resolve/", b"{",
                                                                  length=10 << 30))),
        ("config-12mb-streamed", "bounded/config-stream",
         then(repo("bounded/config-stream"), lambda h, r: h.answer("config.json", b"{", stream=12 << 20))),
        ("config-size-in-info-11mb", "bounded/config-size",
         info("bounded/config-size", model_info(siblings=[{"rfilename": "config.json", "size": 11_000_000}]))),
        ("header-claims-1tb", "bounded/header-bomb", repo("bounded/header-bomb", **{
            "model.safetensors": struct.pack("<Q", 1 << 40) + b"{" * 4000})),
        ("range-ignored-whole-file", "bounded/range-ignored",
         then(repo("bounded/range-ignored"), lambda h, r: h.answer("model.safetensors", b"x" * 16, stream=50 << 20))),
        ("redirect-loop", "bounded/redirect",
         info("bounded/redirect", b"", status=302, Location="/api/models/bounded/redirect")),
        ("error-body-10gib", "bounded/error-huge", info("bounded/error-huge", b"{", status=500, length=10 << 30)),
    ]
    return [Case(f"hub-{name}", "bounded", plan(rid), hub=setup, seconds=12) for name, rid, setup in cases]


# -- 3: hangs (the deadline is shortened for these in-process runs; the benchmark measures the real one) ----------

def hang_cases() -> list[Case]:
    def fault(kind: str, pattern: str, **kw: Any) -> Setup:
        return lambda h, r: getattr(h, kind)(pattern, **kw)

    return [
        Case("hang-silent-info", "hang", plan("hang/silent"), hub=then(repo("hang/silent"),
                                                                       fault("silence", "/api/models/hang/silent")),
             needle="answer", seconds=8, tags=("short-deadline",)),
        Case("hang-drip-info", "hang", plan("hang/drip"), hub=then(repo("hang/drip"),
                                                                   fault("drip", "/api/models/hang/drip",
                                                                         seconds_per_byte=0.2)),
             needle="answer", seconds=8, tags=("short-deadline",)),
        Case("hang-drip-config", "hang", plan("hang/drip-config"), hub=then(
            repo("hang/drip-config"), fault("drip", "config.json", seconds_per_byte=0.2,
                                            body=json.dumps(TINY_CONFIG).encode())),
             needle="answer", seconds=8, tags=("short-deadline",)),
        Case("hang-silent-shard", "hang", plan("hang/silent-shard"), hub=then(
            repo("hang/silent-shard"), fault("silence", "model.safetensors")),
             needle="answer", seconds=8, tags=("short-deadline",)),
        Case("hang-500-forever", "hang", plan("hang/error"), hub=then(
            repo("hang/error"), lambda h, r: h.fail("/api/models/hang/error", 500)), needle="HTTP 500", seconds=8,
             tags=("short-deadline",)),
        Case("hang-slow-info-bundled-fallback", "hang", plan("meta-llama/Llama-3.1-8B"), ok=True, hub=fault(
            "silence", "/api/models/meta-llama/Llama-3.1-8B"), seconds=8, tags=("short-deadline",)),
        Case("hang-search-silent", "hang", lambda r: ["search", "hangsearch"], hub=fault("silence", "/api/models"),
             needle="answer", seconds=8, tags=("short-deadline",)),
        Case("hang-search-drip", "hang", lambda r: ["search", "hangsearch"], hub=fault(
            "drip", "/api/models", seconds_per_byte=0.2, body=b"[]"), seconds=8, ok=True, tags=("short-deadline",)),
        Case("hang-search-500", "hang", lambda r: ["search", "hangsearch"], hub=lambda h, r: h.fail("/api/models", 500),
             needle="HTTP 500", seconds=8, tags=("short-deadline",)),
    ]


# -- 4, 5: wrong types, deep answers, damaged cache ---------------------------------------------------------------

def type_cases() -> list[Case]:
    cases: list[tuple[str, str, Any, str]] = [
        ("info-list", "traceback", [1, 2], "unusable"), ("info-string", "traceback", "hello", "JSON"),
        ("info-json-string", "traceback", '"hello"', "unusable"),
        ("info-deep", "traceback", deep_json(100_000), "deep"),
        ("info-deep-siblings", "traceback", '{"sha": "' + OK_SHA + '", "siblings": ' + deep_json(5000) + "}",
         "deep"),
        ("info-not-json", "traceback", b"<html>hello</html>", "JSON"),
        ("info-5000-digits", "traceback", b'{"sha": ' + b"9" * 5000 + b"}", ""),
        ("siblings-dict", "traceback", model_info(siblings={"a": 1}), "siblings"),
        ("siblings-strings", "traceback", model_info(siblings=["config.json"]), ""),
        ("size-string", "traceback", model_info(siblings=[{"rfilename": "model.safetensors", "size": "1000"}]),
         "size"),
        ("size-neg", "accepted", model_info(siblings=[{"rfilename": "model.safetensors", "size": -5}]), "size"),
        ("size-1e30", "accepted", model_info(siblings=[{"rfilename": "model.safetensors", "size": 10**30}]), "size"),
        ("size-float", "traceback", model_info(siblings=[{"rfilename": "model.safetensors", "size": 1.5e3}]), "size"),
        ("lfs-size-list", "traceback", model_info(siblings=[{"rfilename": "model.safetensors",
                                                             "lfs": {"size": [1]}}]), "size"),
        ("no-sha", "traceback", model_info(sha=None), "commit"),
        ("flag-as-list", "holds", model_info(gated=["x"]), ""),
    ]
    out = []
    for name, cls, body, needle in cases:
        rid = f"types/{name}"
        out.append(Case(f"hub-{name}", cls, plan(rid), hub=info(rid, body), needle=needle))
    # files the repo serves
    files: list[tuple[str, str, dict[str, bytes], str]] = [
        ("config-deep", "traceback", {"config.json": deep_json(50_000).encode()}, "deep"),

        ("config-layers-1e30", "accepted", {"config.json": json.dumps({**LLAMA, "num_hidden_layers": 10**30})
                                            .encode()}, ""),
        ("config-not-object", "traceback", {"config.json": b"[1]"}, "object"),
        ("header-deep", "traceback", {"model.safetensors": struct.pack("<Q", 40_000) + deep_json(20_000).encode()},
         "deep"),
        ("header-overlap", "accepted", {"model.safetensors": _overlap()}, "overlap"),
        ("index-values-int", "traceback", {"model-00001-of-00002.safetensors": safetensors_bytes(tiny_tensors(1)),
                                           "x.safetensors": safetensors_bytes(tiny_tensors(1)),
                                           "model.safetensors.index.json": b'{"weight_map": {"a": 1}}'}, "shard"),
        ("index-traversal", "cache", {"model-00001-of-00002.safetensors": safetensors_bytes(tiny_tensors(1)),
                                      "x.safetensors": safetensors_bytes(tiny_tensors(1)),
                                      "model.safetensors.index.json":
                                          b'{"weight_map": {"a": "../../../../outside/x"}}'}, "shard"),
    ]
    for name, cls, extra, needle in files:
        rid = f"files/{name}"

        def setup(hub: Any, root: Path, rid: str = rid, extra: dict[str, bytes] = extra) -> None:
            folder = root / "repo-files" / rid.replace("/", "--")
            fs = _repo_files(folder)
            if "model.safetensors.index.json" in extra:
                fs.pop("model.safetensors")
            for n, data in extra.items():
                (folder / n).write_bytes(data)
                fs[n] = folder / n
            hub.add_repo(rid, fs)
        out.append(Case(f"hub-{name}", cls, plan(rid), hub=setup, needle=needle))
    # a config.json the family cannot read beside exact headers: the architecture is guessed from the tensors
    out.append(Case("hub-config-model-type-list", "traceback", plan("files/type-list"), ok=True, hub=repo(
        "files/type-list", **{"config.json": json.dumps({**TINY_CONFIG, "model_type": [1]}).encode()})))
    return out


def _overlap() -> bytes:
    t = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    raw = json.dumps({"a": t, "b": {**t, "data_offsets": [8, 24]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(32)


def damaged_cache_cases() -> list[Case]:
    """Entries under HF_HOME/quantplanner/hub, damaged; offline they read as absent (one line), online they are
    fetched again (exit 0)."""
    rid = "cache/damaged"
    commit = hashlib.sha1("\0".join((rid, "main")).encode()).hexdigest()  # the stand-in Hub's commit for main

    def seed(content: bytes, ref: bytes | None = None) -> Setup:
        def setup(hub: Any, root: Path) -> None:
            repo(rid)(hub, root)
            d = root / "hf-home" / "quantplanner" / "hub" / ("models--" + rid.replace("/", "--"))
            (d / "refs").mkdir(parents=True, exist_ok=True)
            (d / "refs" / "main").write_bytes(commit.encode() if ref is None else ref)
            (d / f"{commit}.default.json").write_bytes(content)
        return setup

    def entry(**kw: Any) -> bytes:
        return json.dumps({"schema": "quantplanner.hub-cache/1", "repo": rid, "commit": commit, "selection": "",
                           **kw}).encode()

    seeds: list[tuple[str, bytes, bytes | None]] = [
        ("not-json", b"{{{", None), ("deep", deep_json(100_000).encode(), None), ("list", b"[1]", None),
        ("files-str", entry(kind="safetensors", files="x"), None),
        ("files-items-int", entry(kind="safetensors", files=[1, 2]), None),
        ("header-int", entry(kind="safetensors", files=[{"name": "m", "header": 5}]), None),
        ("gguf-tensors-bad", entry(kind="gguf", file="x.gguf", meta={}, tensors=[["a", "b", "c", "d"]]), None),
        ("gguf-meta-list", entry(kind="gguf", file="x.gguf", meta=[1], tensors=[]), None),
        ("kind-unknown", entry(kind="pickle"), None), ("config-int", entry(kind="config", has_config=True, config=5),
                                                       None),
        ("config-deep", entry(kind="config", has_config=True, config=deep_json(10_000)), None),
        ("ref-binary", b"", b"\xff\xfe" * 100), ("ref-traversal", b"", b"../../../../outside/x"),
        ("ref-huge", b"", b"0" * (1 << 20)),
        ("header-overlap", entry(kind="safetensors", files=[{"name": "model.safetensors", "size": None,
                                                             "header": _overlap()[8:].decode()}]), None),
    ]
    out = []
    for name, content, ref in seeds:
        out.append(Case(f"cache-damaged-{name}-online", "traceback", plan(rid), hub=seed(content, ref), ok=True))
        out.append(Case(f"cache-damaged-{name}-offline", "traceback", plan(rid), hub=seed(content, ref),
                        tags=("offline",), needle="HF_HUB_OFFLINE"))
    return out


# -- 4, 6: search answers -----------------------------------------------------------------------------------------

def search_cases() -> list[Case]:
    def answer(body: Any, **kw: Any) -> Setup:
        return lambda h, r: h.answer("/api/models", body, **kw)

    good = {"id": "org/model", "downloads": 5, "likes": 1}
    cases: list[tuple[str, str, Any, bool]] = [
        ("dict", "traceback", {"a": 1}, False), ("deep", "traceback", deep_json(100_000), False),
        ("items-wrong-types", "traceback", [{"id": 5}, {"id": "org/m", "downloads": "many", "likes": [1],
                                                         "library_name": {"x": 1}, "lastModified": 5,
                                                         "safetensors": {"total": "7B"}}, good], True),
        ("items-ansi-id", "hygiene", [{"id": "org/\x1b[31mred"}, {**good, "pipeline_tag": "\x1b[2J\nx"}], True),
        ("items-html", "hygiene", [{**good, "library_name": "<b>bold</b>", "pipeline_tag": "<img src=x>"}], True),
        ("items-huge-numbers", "accepted", [{**good, "downloads": 10**30, "safetensors": {"total": -5}}], True),
        ("date-garbage", "traceback", [{**good, "lastModified": "not a date" * 10}], True),
        ("20mb", "bounded", b"[", False),
    ]
    out = []
    for name, cls, body, ok in cases:
        kw = {"stream": 20 << 20} if name == "20mb" else {}
        out.append(Case(f"search-{name}", cls, lambda r: ["search", "anything"], hub=answer(body, **kw), ok=ok))
        out.append(Case(f"search-{name}-json", cls, lambda r: ["search", "anything", "--json"], hub=answer(body, **kw),
                        ok=ok))
    return out


def hub_cases() -> list[Case]:
    return cache_cases() + bounded_cases() + hang_cases() + type_cases() + damaged_cache_cases() + search_cases()

