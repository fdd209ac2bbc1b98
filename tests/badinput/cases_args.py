"""Corpus cases on the command line and the user's own files: numbers and text in arguments, report paths, the GPUs
file, pickles that must never be loaded, and the token that must never be printed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cases_files import file_cases, plan
from corpus import FAKE_TOKEN, TINY_CONFIG, Case, Make, deep_json, fifo, inputs, link, marker_pickle, write


# -- 4, 5, 6: command-line numbers and text -----------------------------------------------------------------------

def argument_cases() -> list[Case]:
    def args(*a: str, model: str = "7B") -> Make:
        return lambda root: ["plan", model, *a]

    out = [
        Case("overhead-9x400-tib", "traceback", args("--overhead", "9" * 400 + "TiB"), needle="size"),
        Case("overhead-1e30-tib", "accepted", args("--overhead", "1" + "0" * 29 + "TiB"), needle="size"),
        Case("overhead-40-pib", "accepted", args("--overhead", "40000TiB"), needle="PiB"),
        Case("overhead-exp", "traceback", args("--overhead", "1e30GiB"), needle="size"),
        Case("overhead-neg", "traceback", args("--overhead=-1GiB"), needle="size"),
        Case("overhead-nan", "traceback", args("--overhead", "nan"), needle="size"),
        Case("overhead-ok", "holds", args("--overhead", "1.5GiB", "--precision", "bf16"), ok=True),
        Case("count-1e400", "traceback", args(model="1e400"), needle="absurd"),
        Case("count-1e9999b", "traceback", args(model="1e9999B"), needle="absurd"),
        Case("count-5000-digits", "traceback", args(model="9" * 5000), needle=""),
        Case("count-1e30t", "accepted", args(model="1e30T"), needle="absurd"),
        Case("count-200t", "accepted", args(model="200T"), needle="absurd"),
        Case("count-0", "accepted", args(model="0"), needle="small"),
        Case("count-ok-70b", "holds", args("--precision", "bf16", model="70B"), ok=True),
    ]
    for flag, values in (("--context", ("9223372036854775808", "-1", "0", "nan", "1e9", "99999999999999999999999")),
                         ("--batch", ("9223372036854775807", "-5", "1.5")),
                         ("--lora-rank", (str(10**30), "-1")), ("--zero", ("-1", "4")),
                         ("--data-parallel", (str(2**63), "0"))):
        for v in values:
            out.append(Case(f"arg{flag}-{v[:12]}", "accepted", args(flag, v, "--mode", "lora" if "lora" in flag
                                                                  else "inference")))
    for name, text in (("newline", "bad\nname"), ("ansi", "\x1b[2J\x1b[31mred"), ("bidi", "abc\u202edcba"),
                       ("cr", "x\rquantplanner: all good"), ("nul", "a\0b"), ("long", "q" * 5000)):
        out.append(Case(f"hygiene-model-{name}", "hygiene", args(model=text)))
        out.append(Case(f"hygiene-gpu-{name}", "hygiene", args("--gpu", text)))
        out.append(Case(f"hygiene-precision-{name}", "hygiene", args("--precision", text)))
        out.append(Case(f"hygiene-path-{name}", "hygiene", args(model=f"./{text}/config.json")))
    def ansi_folder(r: Path) -> Path:
        (inputs(r) / "\x1b[31mevil\nname").mkdir(parents=True)
        return inputs(r) / "\x1b[31mevil\nname"

    out.append(Case("hygiene-folder-ansi-name", "hygiene", plan(ansi_folder), needle="evil"))
    out += [
        Case("path-300-chars", "traceback", args(model="./" + "a" * 300 + "/config.json")),
        Case("path-300-component", "traceback", args(model="/" + "b" * 300)),
        Case("path-4097", "traceback", args(model="/" + "/".join(["c" * 200] * 21))),
        Case("path-tilde-nouser", "traceback", args(model="~nosuchuser_qp/config.json")),
        Case("repo-traversal", "holds", args(model="../../etc/passwd")),
        Case("repo-traversal-2", "holds", args(model="org/../../../etc/passwd")),
        Case("repo-dotdot", "holds", args(model="org/..")),
        Case("revision-on-count", "holds", args("--revision", "../../x")),
        Case("fit-count-huge", "accepted", lambda r: ["fit", "--gpu", "rtx-4090", "--count", str(10**30)]),
        Case("search-limit-huge", "accepted", lambda r: ["search", "llama", "--limit", str(10**30)]),
        Case("search-offline", "holds", lambda r: ["search", "llama"], needle="HF_HUB_OFFLINE"),
        Case("unknown-command", "holds", lambda r: ["frobnicate\x1b[31m"]),
        Case("debug-flag-error", "holds", lambda r: ["--debug", "plan", "1e400"], needle="absurd"),
    ]
    return out


# -- 4: report paths ------------------------------------------------------------------------------------------------

def report_cases() -> list[Case]:
    def report(target: Callable[[Path], str]) -> Make:
        return lambda root: ["plan", "7B", "--precision", "bf16", "--report", target(root)]

    def leaves_nothing(root: Path, out: str, err: str) -> None:
        left = [p for p in inputs(root).rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
        assert not left, left

    def file_parent(r: Path) -> str:
        write(r, "afile", "x")
        return str(inputs(r) / "afile" / "plan.json")

    def dir_target(r: Path) -> str:
        (inputs(r) / "plan.json").mkdir(parents=True)
        return str(inputs(r) / "plan.json")

    cases: list[tuple[str, Callable[[Path], str], bool]] = [
        ("proc", lambda r: "/proc/plan.json", False), ("proc-self", lambda r: "/proc/self/plan.md", False),
        ("sys", lambda r: "/sys/plan.csv", False), ("sys-kernel", lambda r: "/sys/kernel/plan.json", False),
        ("name-300", lambda r: str(inputs(r) / ("p" * 300 + ".json")), False),
        ("name-255", lambda r: str(inputs(r) / ("p" * 250 + ".json")), True),
        ("parent-is-file", file_parent, False), ("target-is-dir", dir_target, False),
        ("missing-folder", lambda r: str(inputs(r) / "nope" / "plan.json"), False),
        ("parent-name-300", lambda r: str(inputs(r) / ("d" * 300) / "plan.json"), False),
        ("fifo-target", lambda r: str(fifo(r, "plan.json")), True),
        ("dev-null-name", lambda r: str(inputs(r) / "null.md"), True),
    ]
    return [Case(f"report-{name}", "traceback", report(t), ok=ok, check=leaves_nothing, seconds=8)
            for name, t, ok in cases]


# -- 4, 5: the GPUs file ------------------------------------------------------------------------------------------

GPU = ('[[gpu]]\nid = "my-gpu"\nname = "My GPU"\nmemory_gib = 24\nbandwidth_gbps = 1000\nfp32_tflops = 80\n'
       'fp16_tflops = 160\n')


def gpu_file_cases() -> list[Case]:
    def gpus(content: Callable[[Path], Path] | str | bytes, *argv: str) -> Make:
        def make(root: Path) -> tuple[list[str], dict[str, str]]:
            p = content(root) if callable(content) else write(root, "gpus.toml", content)
            return (list(argv) or ["plan", "7B", "--precision", "bf16", "--gpu", "my-gpu"]), \
                {"QUANTPLANNER_GPUS": str(p)}
        return make

    cases: list[tuple[str, str, Any, bool, str]] = [
        ("deep-array", "traceback", GPU + "extra = " + deep_json(100_000) + "\n", False, "deep"),
        ("deep-inline-table", "traceback", GPU + "extra = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", False, "deep"),
        ("fifo", "hang", lambda r: fifo(r, "gpus.toml"), False, "FIFO"),
        ("dev-zero", "bounded", lambda r: link(r, "gpus.toml", "/dev/zero"), False, ""),
        ("dev-urandom", "bounded", lambda r: link(r, "gpus.toml", "/dev/urandom"), False, ""),
        ("5mb", "bounded", GPU + "# " + "x" * (5 << 20) + "\n", False, "larger than"),
        ("memory-1e308", "accepted", GPU.replace("memory_gib = 24", "memory_gib = 1e308"), False, "memory_gib"),
        ("bandwidth-inf", "accepted", GPU.replace("bandwidth_gbps = 1000", "bandwidth_gbps = inf"), False,
         "bandwidth"),
        ("tflops-nan", "accepted", GPU.replace("fp16_tflops = 160", "fp16_tflops = nan"), False, "fp16"),
        ("memory-5000-digits", "traceback", GPU.replace("memory_gib = 24", "memory_gib = " + "9" * 5000), False, ""),
        ("bad-utf8", "traceback", GPU.encode() + b'vendor = "\xff"\n', False, "UTF-8"),
        ("id-list", "traceback", GPU.replace('id = "my-gpu"', 'id = ["my-gpu"]'), False, "id"),
        ("not-toml", "traceback", "[[gpu]\n", False, "TOML"),
        ("name-ansi", "hygiene", GPU.replace('"My GPU"', '"My\\u001b[31m GPU\\n2"'), True, ""),
    ]
    out = [Case(f"gpus-file-{name}", cls, gpus(content), ok=ok, needle=needle, seconds=8)
           for name, cls, content, ok, needle in cases]
    out.append(Case("gpus-file-list-ansi", "hygiene", gpus(GPU.replace('"My GPU"', '"My\\u001b[31m GPU"'), "gpus"),
                    ok=True))
    out.append(Case("gpus-file-list-deep", "traceback", gpus(GPU + "x = " + deep_json(3000) + "\n", "gpus"),
                    needle="deep"))
    return out


# -- holds: pickles are never loaded -----------------------------------------------------------------------------

def pickle_cases() -> list[Case]:
    def folder(root: Path) -> Path:
        write(root, "m/config.json", TINY_CONFIG)
        write(root, "m/pytorch_model.bin", marker_pickle(root / "outside" / "UNPICKLED"))
        return inputs(root) / "m"

    def bin_direct(root: Path) -> Path:
        return write(root, "pytorch_model.bin", marker_pickle(root / "outside" / "UNPICKLED"))

    return [Case("pickle-folder-plans-from-config", "holds", plan(folder), ok=True),
            Case("pickle-direct-refused", "holds", plan(bin_direct)),
            Case("pickle-inspect", "holds", plan(folder, "--json", command="inspect"), ok=True)]


def token_cases() -> list[Case]:
    return [Case("token-not-in-error", "holds", lambda r: ["plan", "no-such-thing-" + "x"]),
            Case("token-in-model-arg", "holds", lambda r: ["plan", FAKE_TOKEN[:10] + "zz"])]


def local_cases() -> list[Case]:
    """Every case that needs no Hub."""
    from cases_engine import engine_cases

    return (file_cases() + argument_cases() + report_cases() + gpu_file_cases() + pickle_cases() + token_cases()
            + engine_cases())
