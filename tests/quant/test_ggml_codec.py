"""The "gguf" and "ternary" codecs: bytes written == catalog bytes predicted, exactly; the type per tensor is
llama-quantize's; dequantized values are the gguf package's; bad input is refused in one line."""
from __future__ import annotations

import math

import gguf
import numpy as np
import pytest
import torch
from gguf import quants

from quantcore.errors import BadInputError
from quantcore.formats import gguf_mix
from quantcore.formats.catalog import get_precision, tensor_bytes
from quantcore.formats.gguf_codec import dequantize_gguf, ggml_type_for, quantize_gguf, quantize_ternary, tensor_info
from quantcore.formats.quantized import codec
from quantcore.model.inventory import Architecture, TensorInfo

GGUF_IDS = ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"]
ARCH = Architecture(model_type="llama", num_layers=16, hidden_size=512, num_heads=8, num_kv_heads=2, head_dim=64,
                    vocab_size=1000)
MOE = Architecture(model_type="mixtral", num_layers=4, hidden_size=512, num_heads=8, num_kv_heads=8, head_dim=64,
                   vocab_size=1000, num_experts=8, experts_per_token=2)


def _t(name: str, shape: tuple[int, ...], kind: str, role: str, layer: int | None = None) -> TensorInfo:
    return TensorInfo(name=name, shape=shape, dtype="BF16", role=role, kind=kind, layer=layer)


CASES = [  # (tensor, arch): every rule family of the mixtures, fallbacks, 1-D and 3-D tensors
    (_t("blk.0.attn_q.weight", (64, 512), "attn_q", "attention", 0), ARCH),
    (_t("blk.0.attn_v.weight", (128, 512), "attn_v", "attention", 0), ARCH),  # use_more_bits layer
    (_t("blk.5.attn_v.weight", (128, 512), "attn_v", "attention", 5), ARCH),
    (_t("blk.0.ffn_down.weight", (64, 1024), "ffn_down", "mlp", 0), ARCH),
    (_t("blk.6.ffn_down.weight", (64, 1024), "ffn_down", "mlp", 6), ARCH),
    (_t("blk.3.attn_output.weight", (64, 512), "attn_output", "attention", 3), ARCH),
    (_t("output.weight", (100, 512), "output", "head"), ARCH),
    (_t("token_embd.weight", (100, 512), "token_embd", "embedding"), ARCH),
    (_t("blk.2.attn_k.weight", (64, 576), "attn_k", "attention", 2), ARCH),  # 576: not whole 256-blocks
    (_t("blk.2.ffn_up.weight", (48, 100), "ffn_up", "mlp", 2), ARCH),  # 100: not whole 32-blocks either -> F16
    (_t("blk.2.attn_norm.weight", (512,), "norm", "norm", 2), ARCH),  # 1-D: stays F32
    (_t("blk.1.ffn_down_exps.weight", (8, 32, 512), "ffn_down_exps", "expert", 1), MOE),  # MoE 3-D
    (_t("blk.1.ffn_gate_inp.weight", (8, 512), "ffn_gate_inp", "router", 1), MOE),  # router: F32
    (_t("blk.1.attn_v.weight", (512, 512), "attn_v", "attention", 1), MOE),  # 8 experts: Q8_0
]


def _tensor(info: TensorInfo, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(math.prod(info.shape), generator=g) * 0.02
    x[torch.randint(0, x.numel(), (max(1, x.numel() // 500),), generator=g)] *= 40  # outliers
    return x.reshape(info.shape).to(torch.bfloat16)


@pytest.mark.parametrize("pid", GGUF_IDS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_bytes_written_equal_catalog_bytes(pid: str, case: int) -> None:
    info, arch = CASES[case]
    q = quantize_gguf(_tensor(info), pid, info=info, arch=arch)
    assert q.nbytes == tensor_bytes(info, get_precision(pid), arch)
    assert q.shape == info.shape and q.dtype == "bfloat16" and q.precision == pid
    raw = q.stored["weight"]
    assert raw.dtype == torch.uint8 and set(q.stored) == {"weight"}
    back = dequantize_gguf(q)
    assert back.shape == info.shape and back.dtype == torch.float32
    ty = q.meta["ggml_type"]
    if ty in ("F32", "F16"):  # kept tensors come back exactly (bf16 -> F16 is exact for these values)
        assert torch.equal(back, _tensor(info).float())
    else:  # the gguf package's dequantizer reads our blocks to the same floats
        ref = quants.dequantize(raw.numpy(), gguf.GGMLQuantizationType[ty])
        assert np.array_equal(back.numpy().reshape(ref.shape), ref)


def test_types_follow_llama_quantize_rules() -> None:
    def ty(case: int, pid: str) -> str:
        return ggml_type_for(CASES[case][0], pid, CASES[case][1])

    assert [ty(i, "q4_k_m") for i in (0, 1, 2, 3, 4, 6, 7)] == ["Q4_K", "Q6_K", "Q4_K", "Q6_K", "Q4_K", "Q6_K",
                                                                "Q4_K"]
    assert ty(5, "q2_k") == "Q3_K" and ty(5, "q3_k_m") == "Q4_K"
    assert ty(1, "q2_k") == "Q4_K"  # attn_v with n_head / n_head_kv = 4 >= 4
    assert ty(8, "q4_k_m") == "Q5_0" and ty(8, "q6_k") == "Q8_0"  # tensor_type_fallback
    assert ty(9, "q4_k_m") == "F16" and ty(10, "q4_k_m") == "F32" and ty(12, "q4_k_m") == "F32"
    assert ty(13, "q4_k_m") == "Q8_0"  # attn_v of an 8-expert model


def test_whole_model_types_equal_planner_mixture() -> None:
    """A tensor quantized alone gets the type gguf_mix gives it inside the whole model (dense: layer = ordinal)."""
    tensors = [info for info, arch in CASES if arch is ARCH and info.name.startswith("blk.")]
    ctx = gguf_mix.context_for_arch(ARCH)
    for pid in GGUF_IDS:
        planned = {t.name: ty for t, ty, _ in gguf_mix.tensor_types(tensors, pid, ctx, ordinals=False)}
        assert planned == {t.name: ggml_type_for(t, pid, ARCH) for t in tensors}


def test_bare_tensor_is_classified_by_name() -> None:
    q = quantize_gguf(torch.randn(32, 512), "q4_k_m", name="model.layers.0.mlp.down_proj.weight")
    assert q.meta["ggml_type"] == "Q6_K"  # ffn_down, layer 0: use_more_bits
    assert quantize_gguf(torch.randn(32, 512), "q4_k_m").meta["ggml_type"] == "Q4_K"
    assert tensor_info("model.layers.7.self_attn.v_proj.weight", (8, 8)).kind == "attn_v"


def test_registered_under_catalog_scheme_and_ternary() -> None:
    from quantcore.formats.catalog import layout
    from quantcore.formats.quantize import quantize

    assert layout("q4_k_m").scheme == "gguf" and codec("gguf").dequantize is dequantize_gguf
    x = torch.randn(32, 512)
    info = tensor_info("blk.3.ffn_up.weight", (32, 512))
    via_engine, direct = quantize(x, "q4_k_m", info=info), quantize_gguf(x, "q4_k_m", info=info)
    assert torch.equal(via_engine.stored["weight"], direct.stored["weight"])
    assert via_engine.meta == direct.meta
    t_engine, t_direct = quantize(x, "ternary", info=info), quantize_ternary(x)
    assert torch.equal(t_engine.stored["weight"], t_direct.stored["weight"])


@pytest.mark.parametrize("shape", [(16, 512), (16, 300), (4, 8, 1000)])
def test_ternary_is_tq1_0_and_counts_catalog_bytes(shape: tuple[int, ...]) -> None:
    info = TensorInfo("blk.0.ffn_up.weight", shape, "F32", "mlp", "ffn_up", 0)
    x = _tensor(info, 3).float()
    q = quantize_ternary(x)
    assert q.nbytes == tensor_bytes(info, get_precision("ternary"))
    padded = np.zeros((math.prod(shape[:-1]), q.meta["padded_cols"]), np.float32)
    padded[:, : shape[-1]] = x.reshape(-1, shape[-1]).numpy()
    assert np.array_equal(q.stored["weight"].numpy(), quants.quantize(padded, gguf.GGMLQuantizationType.TQ1_0))
    back = dequantize_gguf(q)
    ref = quants.dequantize(q.stored["weight"].numpy(), gguf.GGMLQuantizationType.TQ1_0)[:, : shape[-1]]
    assert back.shape == shape and np.array_equal(back.numpy().reshape(ref.shape), ref)


@pytest.mark.parametrize("bad,match", [
    (torch.tensor([[1.0, float("nan")] * 128]), "NaN or Inf"),
    (torch.tensor([[1.0, float("inf")] * 128]), "NaN or Inf"),
    (torch.zeros(0, 256), "empty"),
    (torch.ones(4, 256, dtype=torch.int32), "int32 tensors hold no float"),
])
def test_bad_input_is_refused(bad: torch.Tensor, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        quantize_gguf(bad, "q4_k_m")
    with pytest.raises(BadInputError, match=match):
        quantize_ternary(bad)


def test_ternary_refuses_vectors_and_unknown_mixture_is_refused() -> None:
    with pytest.raises(BadInputError, match="not a 1-D tensor"):
        quantize_ternary(torch.ones(256))
    with pytest.raises(Exception, match="not a GGUF mixture"):
        quantize_gguf(torch.ones(4, 256), "nf4")
    with pytest.raises(BadInputError, match="does not match"):
        quantize_gguf(torch.ones(4, 256), "q8_0", info=CASES[0][0])


def test_counted_copies() -> None:
    """An inventory entry standing for `count` identical tensors: one type for all, or a clear refusal."""
    up = TensorInfo("blk.3.ffn_up.weight", (64, 512), "BF16", "mlp", "ffn_up", 3, count=3)
    q = quantize_gguf(torch.randn(3, 64, 512), "q4_k_m", info=up, arch=ARCH)
    assert q.nbytes == tensor_bytes(up, get_precision("q4_k_m"), ARCH)
    v = TensorInfo("attn_v.weight", (128, 512), "BF16", "attention", "attn_v", None, count=16)
    with pytest.raises(BadInputError, match="copies take different GGUF types"):
        quantize_gguf(torch.randn(16, 128, 512), "q4_k_m", info=v, arch=ARCH)
