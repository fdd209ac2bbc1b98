"""`precisions --explain ID`: element bits and range, mapping and block layout, checked against the catalog and
against the reference libraries' own constants (torch.finfo, gguf.GGML_QUANT_SIZES)."""
from __future__ import annotations

import re

import pytest

from quantcore.cli import main
from quantcore.formats import catalog, describe
from quantcore.formats.microscaling import E2M1, E2M1_MAX

IDS = ("fp32", "fp16", "bf16", "fp8", "int8", "nf4", "fp4", "gptq-4bit-g128", "gptq-4bit-nogroup", "gptq-3bit-g32",
       "awq-4bit-g128", "awq-4bit-g64", "int4-g128", "int4-g32", "int3-g128", "int2-g64", "mxfp4", "nvfp4", "ternary",
       "binary")


@pytest.mark.parametrize("pid", IDS)
def test_block_layout_adds_up_to_the_catalogs_storage_bits(pid: str) -> None:
    text = describe.block_layout(pid)
    got = float(re.findall(r"([\d.]+) bits per weight", text)[-1])
    assert got == pytest.approx(catalog.get_precision(pid).storage_bits, abs=5e-5), text


@pytest.mark.parametrize("ggml_type", sorted(describe.GGML_PARTS))
def test_ggml_block_parts_add_up_to_the_gguf_package_sizes(ggml_type: str) -> None:
    gguf = pytest.importorskip("gguf")
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[ggml_type]]
    assert sum(b for _, b in describe.GGML_PARTS[ggml_type]) == size
    assert str(block) in " ".join(name for name, _ in describe.GGML_PARTS[ggml_type]) or block == 256


@pytest.mark.parametrize("pid", ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"])
def test_gguf_ids_show_their_base_types_block(pid: str) -> None:
    gguf = pytest.importorskip("gguf")
    base = catalog.layout(pid).ggml_type
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[base]]
    text = describe.block_layout(pid)
    assert f"{base} block: {block} weights in {size} B" in text
    assert f"{8 * size / block:.4g} bits per weight" in text


@pytest.mark.parametrize("float_type, torch_dtype", [(describe.FP32, "float32"), (describe.FP16, "float16"),
                                                     (describe.BF16, "bfloat16"), (describe.E4M3, "float8_e4m3fn")])
def test_float_ranges_equal_torch_finfo(float_type: describe.FloatType, torch_dtype: str) -> None:
    torch = pytest.importorskip("torch")
    info = torch.finfo(getattr(torch, torch_dtype))
    assert float_type.max == info.max
    assert float_type.min_normal == info.tiny
    assert float_type.min_subnormal == info.smallest_normal * 2.0 ** -float_type.mantissa
    assert 1 + float_type.exponent + float_type.mantissa == info.bits


def test_e2m1_range_equals_the_microscaling_grid() -> None:
    assert describe.E2M1_TYPE.max == E2M1_MAX == max(E2M1)
    assert describe.E2M1_TYPE.min_subnormal == min(v for v in E2M1 if v > 0)
    assert describe.E2M1_TYPE.min_normal == 1.0


def test_mappings_show_symmetric_and_asymmetric_formulas() -> None:
    assert "s = max|x| / (2^(b-1) - 1) = max|x| / 127" in describe.mapping("int8")
    asym = describe.mapping("int4-g128")
    assert "z = round(-min / s)" in asym and "per group of 128" in asym and "q = round(x / s)" in asym
    assert "per output channel" in describe.mapping("gptq-4bit-nogroup")
    assert "E8M0" in describe.mapping("mxfp4") and "E4M3" in describe.mapping("nvfp4")
    assert "q in [0, 15]" in describe.mapping("q4_k_m") and "per block of 64" in describe.mapping("nf4")


def test_elements_name_their_bits() -> None:
    assert "1 sign + 4 exponent (bias 7) + 3 mantissa bits; largest 448" in describe.element("fp8")
    assert "1 sign + 8 exponent (bias 127) + 7 mantissa bits" in describe.element("bf16")
    assert "q in [0, 7], with a zero-point" in describe.element("int3-g128")
    nf4 = describe.element("nf4")
    assert "-1, -0.6962" in nf4 and nf4.endswith("0.723, 1")


def test_cli_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["precisions", "--explain", "awq-4bit-g64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("awq-4bit-g64: AWQ 4-bit g64")
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == ["element", "mapping", "block", "kept", "defined by"]
    assert main(["precisions", "--explain", "q9_z"]) == 2
