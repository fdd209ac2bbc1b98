"""Corpus cases on local model files: config.json values and shapes, safetensors and GGUF headers, indexes, FIFOs,
devices and sockets."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from corpus import (LLAMA, TINY_CONFIG, Case, Make, config_with, deep_json, fifo, gguf_bytes, gguf_nested, gguf_with,
                    inputs, link, raw_safetensors, safetensors_bytes, tiny_tensors, unix_socket, write)

from quantcore.sources.bundled import find_bundled

BF16 = ("--precision", "bf16")


def plan(path: Callable[[Path], Path | str], *extra: str, command: str = "plan") -> Make:
    def make(root: Path) -> list[str]:
        return [command, str(path(root)), *(extra or BF16)]
    make.model_only = command == "plan" and not extra  # type: ignore[attr-defined]  # what the app's box takes
    return make


def cfg_folder(text: str | dict[str, Any] | list[Any] | bytes, name: str = "m") -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        write(root, f"{name}/config.json", text)
        return inputs(root) / name
    return make


def st_file(content: bytes, name: str = "model.safetensors", config: dict[str, Any] | None = None
            ) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        p = write(root, f"st/{name}", content)
        if config is not None:
            write(root, "st/config.json", config)
        return p
    return make


def gguf_file(content: bytes, name: str = "model.gguf") -> Callable[[Path], Path]:
    return lambda root: write(root, name, content)


# -- 4, 5: config.json numbers: out of range, wrong type, absurd --------------------------------------------------

BAD_VALUES = {"1e30": "1" + "0" * 30, "neg": "-4", "zero": "0", "str": '"12"', "float": "2.5", "bool": "true",
              "list": "[32]", "nan": "NaN", "inf": "Infinity", "5000digits": "9" * 5000}


def _bundled(repo: str) -> dict[str, Any]:
    b = find_bundled(repo)
    assert b is not None, repo
    return b.config()


FAMILY_KEYS = {
    "llama": (LLAMA, ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                      "num_key_value_heads", "vocab_size", "max_position_embeddings", "head_dim")),
    "gpt2": (_bundled("openai-community/gpt2"), ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size")),
    "deepseek_v2": (_bundled("deepseek-ai/DeepSeek-V2-Lite"), ("kv_lora_rank", "qk_rope_head_dim", "n_routed_experts",
                                                               "num_experts_per_tok", "moe_intermediate_size")),
    "mixtral": (_bundled("mistralai/Mixtral-8x7B-v0.1"), ("num_local_experts", "num_experts_per_tok")),
    "qwen3_moe": (_bundled("Qwen/Qwen3-30B-A3B"), ("num_experts", "moe_intermediate_size", "num_hidden_layers")),
}


def config_number_cases() -> list[Case]:
    out = []
    for family, (base, keys) in FAMILY_KEYS.items():
        for key in keys:
            values = BAD_VALUES if family in ("llama", "gpt2") else {k: BAD_VALUES[k] for k in ("1e30", "neg", "str", "nan")}
            for vname, raw in values.items():
                cls = "accepted" if vname in ("1e30", "neg", "zero") else "traceback"
                out.append(Case(f"config-{family}-{key}-{vname}", cls, plan(cfg_folder(config_with(base, key, raw))),
                                needle=key if vname not in ("nan", "inf", "5000digits") else ""))
    return out


def config_shape_cases() -> list[Case]:
    d = deep_json
    big_pad = json.dumps(LLAMA)[:-1] + ', "pad": "' + "x" * 11_000_000 + '"}'
    q = lambda **kw: {**LLAMA, "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128, **kw}}  # noqa: E731
    cases: list[tuple[str, str, Any, str]] = [
        ("model-type-list", "traceback", {**LLAMA, "model_type": ["llama"]}, "model_type"),
        ("model-type-dict", "traceback", {**LLAMA, "model_type": {"a": 1}}, "model_type"),
        ("model-type-int", "traceback", {**LLAMA, "model_type": 7}, "model_type"),
        ("model-type-empty", "traceback", {**LLAMA, "model_type": ""}, "model_type"),
        ("model-type-huge", "traceback", {**LLAMA, "model_type": "x" * 1_000_000}, "not supported"),
        ("config-list", "traceback", [LLAMA], ""), ("config-string", "traceback", '"llama"', ""),
        ("config-null", "traceback", "null", ""), ("config-number", "traceback", "12", ""),
        ("config-deep-100", "traceback", json.dumps(LLAMA)[:-1] + ', "x": ' + d(100) + "}", "deep"),
        ("config-deep-10000", "traceback", json.dumps(LLAMA)[:-1] + ', "x": ' + d(10_000) + "}", "deep"),
        ("config-deep-1m", "traceback", d(1_000_000), "deep"),
        ("config-deep-objects", "traceback", '{"a":' * 50_000 + "1" + "}" * 50_000, "deep"),
        ("config-empty", "traceback", b"", "json"), ("config-nul", "traceback", b"\0" * 100, "json"),
        ("config-bad-utf8", "traceback", b'{"model_type": "\xff\xfe"}', ""),

        ("config-11mb", "bounded", big_pad, "larger than"),
        ("config-layer-types-int", "traceback", {**_bundled("Qwen/Qwen3-8B"), "layer_types": 5,
                                                 "use_sliding_window": True, "sliding_window": 4096}, "layer_types"),
        ("config-dtype-list", "traceback", {**LLAMA, "torch_dtype": ["bf16"]}, "dtype"),
        ("config-tie-string", "traceback", {**LLAMA, "tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    ]
    out = [Case(f"{name}", cls, plan(cfg_folder(v)), needle=needle) for name, cls, v, needle in cases]
    # valid, or fields a family never reads: planned (exit 0), nothing made of them
    for name, v in (("config-utf16", json.dumps(LLAMA).encode("utf-16")),
                    ("config-rope-scaling-list", {**LLAMA, "rope_scaling": [1, 2]}),
                    ("config-unread-experts-neg", {**LLAMA, "num_local_experts": -1}),
                    ("config-unicode-everything", {**LLAMA, "_name_or_path": "\u202e\x1b[31m<b>x</b>\n"})):
        out.append(Case(name, "holds", plan(cfg_folder(v)), ok=True))
    # a checkpoint's quantization_config is read beside its weights
    for name, cls, v, needle in (
            ("quant-bits-neg", "accepted", q(bits=-4), "bits"), ("quant-bits-zero", "accepted", q(bits=0), "bits"),
            ("quant-bits-99", "accepted", q(bits=99), "bits"), ("quant-bits-str", "traceback", q(bits="4"), "bits"),
            ("quant-bits-bool", "traceback", q(bits=True), "bits"),
            ("quant-group-neg", "accepted", q(group_size=-5), "group_size"),
            ("quant-group-huge", "accepted", q(group_size=10**30), "group_size")):
        cfg = {**v, **{k: TINY_CONFIG[k] for k in ("hidden_size", "intermediate_size", "vocab_size")}}
        out.append(Case(name, cls, plan(st_file(safetensors_bytes(tiny_tensors()), config=cfg)), needle=needle))
    out.append(Case("quant-method-list", "traceback", plan(st_file(safetensors_bytes(tiny_tensors()), config={
        **TINY_CONFIG, "quantization_config": {"quant_method": ["gptq"]}})), ok=True))
    return out


# -- 2, 3: FIFOs, devices, sockets --------------------------------------------------------------------------------

def special_file_cases() -> list[Case]:
    def beside(name: str, maker: Callable[[Path, str], Path], with_config: bool = True) -> Callable[[Path], Path]:
        def make(root: Path) -> Path:
            if with_config and name != "config.json":
                write(root, "m/config.json", TINY_CONFIG)
            maker(root, f"m/{name}")
            return inputs(root) / "m"
        return make

    def shard_fifo(root: Path) -> Path:
        write(root, "m/config.json", TINY_CONFIG)
        write(root, "m/model.safetensors.index.json",
              {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
        write(root, "m/model-00001-of-00002.safetensors", safetensors_bytes(tiny_tensors(1)))
        fifo(root, "m/model-00002-of-00002.safetensors")
        return inputs(root) / "m"

    out = []
    for name in ("config.json", "model.safetensors", "model.gguf", "model.safetensors.index.json"):
        out.append(Case(f"fifo-folder-{name}", "hang", plan(beside(name, fifo)), needle="FIFO", seconds=5))
        out.append(Case(f"fifo-direct-{name}", "hang", plan(lambda r, n=name: fifo(r, n)), needle="FIFO", seconds=5))
    out.append(Case("fifo-shard", "hang", plan(shard_fifo), needle="FIFO", seconds=5))
    out.append(Case("fifo-inspect", "hang", plan(lambda r: fifo(r, "x.safetensors"), "--json", command="inspect"),
                    needle="FIFO", seconds=5))
    for dev in ("/dev/zero", "/dev/urandom", "/dev/null"):
        tag = dev.rsplit("/", 1)[1]
        for name in ("config.json", "model.safetensors", "model.gguf", "model.safetensors.index.json"):
            out.append(Case(f"dev-{tag}-as-{name}", "bounded",
                            plan(beside(name, lambda r, n, d=dev: link(r, n, d))), seconds=5))
        out.append(Case(f"dev-{tag}-direct", "bounded", plan(lambda r, d=dev: d), seconds=5))
    out.append(Case("socket-config", "bounded", plan(beside("config.json", unix_socket)), needle="socket"))
    out.append(Case("folder-named-config", "traceback",
                    plan(lambda r: (inputs(r) / "m" / "config.json").mkdir(parents=True) or inputs(r) / "m"),
                    needle="folder"))
    out.append(Case("dangling-link-config", "traceback",
                    plan(beside("config.json", lambda r, n: link(r, n, "/nonexistent/x")))))
    out.append(Case("link-loop-config", "traceback",
                    plan(beside("config.json", lambda r, n: link(r, n, n.rsplit("/", 1)[1])))))
    out.append(Case("proc-status", "bounded", plan(lambda r: "/proc/self/status")))
    out.append(Case("proc-folder", "bounded", plan(lambda r: "/proc/self/fd"), seconds=5))
    return out


# -- 4, 5: safetensors headers -------------------------------------------------------------------------------------

def safetensors_cases() -> list[Case]:
    t = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    u = {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 32]}

    def st(header: Any, data: int = 32, **kw: Any) -> bytes:
        return raw_safetensors(header, data, **kw)

    bad: list[tuple[str, str, bytes, str]] = [
        ("overlap", "accepted", st({"a": t, "b": {**u, "data_offsets": [8, 24]}}), "overlap"),
        ("gap", "accepted", st({"a": t, "b": {**u, "data_offsets": [24, 40]}}, 40), "gap"),
        ("trailing", "accepted", st({"a": t, "b": u}, 64), "after the last tensor"),
        ("not-from-zero", "accepted", st({"a": {**t, "data_offsets": [16, 32]}}, 32), "gap"),
        ("float-shape", "accepted", st({"a": {**t, "shape": [2.5, 2]}}), "shape"),
        ("float-shape-whole", "accepted", st({"a": {**t, "shape": [2.0, 2.0]}}), "shape"),
        ("inf-shape", "traceback", st(b'{"a": {"dtype": "F32", "shape": [Infinity, 2], "data_offsets": [0, 16]}}'),
         "shape"),
        ("nan-shape", "traceback", st(b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 16]}}'), "shape"),
        ("bool-shape", "accepted", st({"a": {**t, "shape": [True, 4]}}), "shape"),
        ("str-shape", "traceback", st({"a": {**t, "shape": "2x2"}}), ""),
        ("dict-shape", "traceback", st({"a": {**t, "shape": {"x": 2}}}), ""),
        ("huge-dims", "accepted", st({"a": {**t, "shape": [2**62, 2**62]}}), "shape"),
        ("f4-2e124", "accepted", st({"a": {"dtype": "F4", "shape": [2**31] * 4, "data_offsets": [0, 2**123]}}), ""),
        ("u8-2e60", "accepted", st({"a": {"dtype": "U8", "shape": [2**30, 2**30], "data_offsets": [0, 2**60]}}), ""),
        ("unknown-dtype", "accepted", st({"a": {**t, "dtype": "F128"}}), "dtype"),
        ("dtype-int", "traceback", st({"a": {**t, "dtype": 4}}), ""),
        ("dtype-ansi", "hygiene", st({"a": {**t, "dtype": "\x1b[31mRED"}}), "dtype"),
        ("offsets-str", "traceback", st({"a": {**t, "data_offsets": "0-16"}}), ""),
        ("offsets-three", "traceback", st({"a": {**t, "data_offsets": [0, 8, 16]}}), ""),
        ("offsets-float", "traceback", st({"a": {**t, "data_offsets": [0.0, 16.0]}}), ""),
        ("offsets-huge", "accepted", st({"a": {**t, "data_offsets": [0, 10**30]}}), ""),
        ("offsets-neg", "accepted", st({"a": {**t, "data_offsets": [-16, 0]}}), ""),
        ("entry-list", "traceback", st({"a": [1, 2]}), ""), ("entry-null", "traceback", st({"a": None}), ""),
        ("deep-header", "traceback", st(deep_json(50_000).encode()), "deep"),
        ("deep-metadata", "traceback", st(('{"__metadata__": ' + deep_json(5000) + ', "a": ' + json.dumps(t)
                                           + "}").encode()), "deep"),
        ("5000-digit-dim", "traceback", st(b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000
                                           + b'], "data_offsets": [0, 16]}}'), ""),
        ("header-length-0", "holds", st(b"", length=0), ""), ("header-length-1", "holds", st(b"{", length=1), ""),
        ("header-claims-10gb", "holds", st(b"{}", length=10 * 10**9), "refusing"),
        ("header-claims-2e64", "holds", st(b"{}", length=2**64 - 1), "refusing"),
        ("many-empty-tensors", "holds", st(b"{" + b",".join(b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
                                                          % i for i in range(20_000)) + b"}", 0), "hidden size"),
    ]
    out = [Case(f"st-{name}", cls, plan(st_file(content)), needle=needle) for name, cls, content, needle in bad]
    out.append(Case("st-with-config-1e30-layers", "accepted", plan(st_file(
        safetensors_bytes(tiny_tensors()), config={"hidden_size": 64, "num_hidden_layers": 10**30})),
        needle="num_hidden_layers"))
    out.append(Case("st-with-config-str-hidden", "traceback", plan(st_file(
        safetensors_bytes(tiny_tensors()), config={"hidden_size": "64"})), needle="hidden_size"))
    out.append(Case("st-with-config-list", "traceback", plan(st_file(safetensors_bytes(tiny_tensors()),
                                                                     config=[1])), needle="object"))
    out.append(Case("st-tensor-layer-1e12", "accepted", plan(st_file(safetensors_bytes(
        [*tiny_tensors(), ("model.layers.999999999999.mlp.up_proj.weight", (4, 4), "F32")]))), needle="layers"))
    out.append(Case("st-valid", "holds", plan(st_file(safetensors_bytes(tiny_tensors()), config=TINY_CONFIG)),
                    ok=True))
    ansi = "model.layers.0.\x1b[2J\x1b[31mattn\nq_proj.weight\u202e"
    out.append(Case("st-ansi-tensor-name-inspect", "hygiene", plan(st_file(safetensors_bytes(
        [*tiny_tensors(), (ansi, (4, 4), "F32")]), config=TINY_CONFIG), "--tensor", "attn", command="inspect"),
        ok=True))
    out.append(Case("st-ansi-tensor-name-json", "hygiene", plan(st_file(safetensors_bytes(
        [*tiny_tensors(), (ansi, (4, 4), "F32")]), config=TINY_CONFIG), "--json", command="inspect"), ok=True))
    return out


# -- 4, 5: GGUF ---------------------------------------------------------------------------------------------------

def gguf_cases() -> list[Case]:
    cases: list[tuple[str, str, bytes, str]] = [
        ("block-count-bool", "accepted", gguf_with(block_count=("bool", True)), "block_count"),
        ("block-count-str", "accepted", gguf_with(block_count=("str", "32")), "block_count"),
        ("block-count-neg", "accepted", gguf_with(block_count=("i32", -1)), "block_count"),
        ("block-count-2e40", "accepted", gguf_with(block_count=("u64", 2**40)), "block_count"),
        ("block-count-float", "accepted", gguf_with(block_count=("f32", 2.0)), "block_count"),
        ("context-nan", "accepted", gguf_with(context_length=("f32", float("nan"))), "context_length"),
        ("context-inf", "accepted", gguf_with(context_length=("f64", float("inf"))), "context_length"),
        ("context-2e63", "accepted", gguf_with(context_length=("u64", 2**63)), "context_length"),
        ("context-neg", "accepted", gguf_with(context_length=("i64", -5)), "context_length"),
        ("heads-zero", "accepted", gguf_with(attention_head_count=("u32", 0)), "head_count"),
        ("hidden-2e40", "accepted", gguf_with(embedding_length=("u64", 2**40)), "embedding_length"),
        ("no-architecture", "traceback", gguf_with(architecture=None), "architecture"),
        ("architecture-int", "traceback", gguf_with(architecture=("u32", 5)), "architecture"),

        ("truncated", "traceback", gguf_bytes()[:200], ""),
        ("tensor-count-2e60", "bounded", gguf_bytes(tensor_count=2**60), ""),
        ("kv-count-2e60", "bounded", gguf_bytes(kv_count=2**60), ""),
        ("string-length-2e62", "bounded", gguf_bytes(extra=[b"\x05\0\0\0\0\0\0\0xname\x08\0\0\0"
                                                            + (2**62).to_bytes(8, "little")]), ""),
        ("nested-array-3000", "traceback", gguf_bytes(extra=[gguf_nested("x.deep", 3000)]), ""),

        ("tensor-dims-huge", "accepted", gguf_bytes(tensors=[("token_embd.weight", (2**40, 2**40))]), ""),
        ("no-tensors", "traceback", gguf_bytes(tensors=[]), "no tensors"),
        ("experts-neg", "accepted", gguf_bytes(LLAMA_KV_PLUS("llama.expert_count", "i32", -8)), "expert_count"),
        ("experts-used-more", "accepted", gguf_bytes(LLAMA_KV_PLUS("llama.expert_count", "u32", 2)
                                                     + [("llama.expert_used_count", "u32", 8)]), "experts"),
        ("mla-rank-neg", "accepted", gguf_bytes(LLAMA_KV_PLUS("llama.attention.kv_lora_rank", "i32", -512)),
         "kv_lora_rank"),
        ("rope-dim-neg", "accepted", gguf_bytes(LLAMA_KV_PLUS("llama.attention.kv_lora_rank", "u32", 512)
                                                + [("llama.rope.dimension_count", "i32", -64)]), "dimension_count"),
        ("layer-array-bools", "accepted", gguf_with(block_count=("arr", ("bool", [True, True]))), "block_count"),
    ]
    out = [Case(f"gguf-{name}", cls, plan(gguf_file(content)), needle=needle, seconds=8)
           for name, cls, content, needle in cases]
    html_name = gguf_bytes([(k, t, '<a href="http://x">click</a><script>alert(1)</script>\n\x1b[31m'
                             if k == "general.name" else v) for k, t, v in LLAMA_KV()])
    out.append(Case("gguf-html-name-plan", "hygiene", plan(gguf_file(html_name)), ok=True))
    out.append(Case("gguf-html-name-json", "hygiene", plan(gguf_file(html_name), "--json"), ok=True))
    out.append(Case("gguf-html-name-md-report", "hygiene",
                    lambda r: ["plan", str(gguf_file(html_name)(r)), "--precision", "bf16", "--report",
                               str(inputs(r) / "plan.md")], ok=True, check=_md_escaped))
    out.append(Case("gguf-valid", "holds", plan(gguf_file(gguf_bytes())), ok=True))
    out.append(Case("gguf-file-type-bool-ignored", "accepted", plan(gguf_file(gguf_with(file_type=("bool", True)))),
                    ok=True))
    out.append(Case("gguf-nested-array-100-skipped", "traceback", plan(gguf_file(gguf_bytes(
        extra=[gguf_nested("llama.deep", 100)]))), ok=True))
    return out


def LLAMA_KV() -> list[tuple[str, str, Any]]:  # noqa: N802
    from corpus import LLAMA_GGUF_KV

    return list(LLAMA_GGUF_KV)


def LLAMA_KV_PLUS(key: str, kind: str, value: Any) -> list[tuple[str, str, Any]]:  # noqa: N802
    return LLAMA_KV() + [(key, kind, value)]


def _md_escaped(root: Path, out: str, err: str) -> None:
    text = (inputs(root) / "plan.md").read_text()
    title = text.splitlines()[0]
    assert "<a" not in title and "<script" not in title and "\x1b" not in text and "&lt;a" in title, title


# -- 4, 5: indexes ------------------------------------------------------------------------------------------------

def index_cases() -> list[Case]:
    def idx(weight_map: Any, raw: str | None = None) -> Callable[[Path], Path]:
        def make(root: Path) -> Path:
            write(root, "m/config.json", TINY_CONFIG)
            write(root, "m/model.safetensors.index.json", raw if raw is not None else {"weight_map": weight_map})
            write(root, "outside-model.safetensors", safetensors_bytes(tiny_tensors()))
            return inputs(root) / "m"
        return make

    cases: list[tuple[str, str, Any, str | None, str]] = [
        ("values-int", "traceback", {"a": 1, "b": "x.safetensors"}, None, "shard"),
        ("values-list", "traceback", {"a": ["x"]}, None, "shard"),
        ("values-null", "traceback", {"a": None}, None, "shard"),
        ("values-dict", "traceback", {"a": {"x": 1}}, None, "shard"),
        ("traversal", "cache", {"a": "../outside-model.safetensors"}, None, "shard"),
        ("absolute", "cache", {"a": "/etc/passwd"}, None, "shard"),
        ("empty", "traceback", {}, None, ""),
        ("map-list", "traceback", [1, 2], None, "weight_map"),
        ("deep", "traceback", None, '{"weight_map": ' + deep_json(20_000) + "}", "deep"),
        ("nul-name", "traceback", {"a": "x\0.safetensors"}, None, "shard"),
    ]
    return [Case(f"index-{name}", cls, plan(idx(wm, raw)), needle=needle) for name, cls, wm, raw, needle in cases]


def file_cases() -> list[Case]:
    return (config_number_cases() + config_shape_cases() + special_file_cases() + safetensors_cases()
            + gguf_cases() + index_cases())
