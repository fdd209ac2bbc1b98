"""The blocks a test-run builds from tensors compute what transformers' own modules compute: a grouped-query causal
attention (Llama, rotary at angle 0), a gated SiLU MLP (Llama), the real MiniLM (BERT) self-attention with its output
projection; and a GGUF file on disk runs end to end (tensor tree names, histogram, errors, test-runs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from quantcore.lab.blocks import BlockSpec, block_choices, build_block, find_block
from quantcore.lab.kernels import reference_linear
from quantcore.model.inventory import Architecture

CPU = torch.device("cpu")


def _ref(linear: torch.nn.Linear) -> object:
    return reference_linear(linear.weight.detach(), None if linear.bias is None else linear.bias.detach(), CPU)


def test_gqa_attention_and_gated_mlp_equal_transformers_llama() -> None:
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaMLP

    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                      num_hidden_layers=1, vocab_size=32)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    att, mlp = LlamaAttention(cfg, 0).eval(), LlamaMLP(cfg).eval()
    x = torch.randn(2, 8, 64)
    with torch.no_grad():
        want_att, _ = att(x, position_embeddings=(torch.ones(2, 8, 16), torch.zeros(2, 8, 16)), attention_mask=None)
        want_mlp = mlp(x)
    arch = Architecture("llama", 1, 64, 4, 2, 16, 32)
    a = BlockSpec("attention", "attention:0", tuple((p, p) for p in "qkvo"), 0)
    layers = {"q": _ref(att.q_proj), "k": _ref(att.k_proj), "v": _ref(att.v_proj), "o": _ref(att.o_proj)}
    assert torch.allclose(build_block(a, layers, arch, None)(x), want_att, atol=1e-6)
    m = BlockSpec("mlp", "mlp:0", (("gate", "g"), ("up", "u"), ("down", "d")), 0)
    layers = {"gate": _ref(mlp.gate_proj), "up": _ref(mlp.up_proj), "down": _ref(mlp.down_proj)}
    assert torch.allclose(build_block(m, layers, arch, {"hidden_act": "silu"})(x), want_mlp, atol=1e-6)


def test_bert_attention_block_equals_minilm_self_attention(minilm_dir: Path) -> None:
    from transformers import AutoModel

    from quantcore.sources.local import load_path

    inv = load_path(minilm_dir)
    spec = find_block(inv, "attention:2")
    assert [p for p, _ in spec.parts] == ["q", "k", "v", "o"]
    model = AutoModel.from_pretrained(str(minilm_dir), local_files_only=True, dtype=torch.float32).eval()
    layer = model.encoder.layer[2].attention
    x = torch.randn(2, 10, 384, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = layer.output.dense(layer.self(x)[0])
    mods = {"q": layer.self.query, "k": layer.self.key, "v": layer.self.value, "o": layer.output.dense}
    got = build_block(spec, {p: _ref(m) for p, m in mods.items()}, inv.arch, None)(x)
    assert torch.allclose(got, want, atol=1e-5)
    kinds = [c.kind for c in block_choices(inv)]
    assert kinds.count("linear") == 36 and kinds.count("mlp") == 6 and kinds.count("attention") == 6


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer Llama-shaped GGUF (F32 tensors, GQA 4 heads / 2 KV heads) written by the gguf package."""
    import gguf

    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    for add, v in ((w.add_block_count, 1), (w.add_context_length, 256), (w.add_embedding_length, 64),
                   (w.add_feed_forward_length, 128), (w.add_head_count, 4), (w.add_head_count_kv, 2),
                   (w.add_vocab_size, 32)):
        add(v)
    w.add_layer_norm_rms_eps(1e-5)
    rng = np.random.default_rng(0)
    for name, shape in (("token_embd.weight", (32, 64)), ("blk.0.attn_q.weight", (64, 64)),
                        ("blk.0.attn_k.weight", (32, 64)), ("blk.0.attn_v.weight", (32, 64)),
                        ("blk.0.attn_output.weight", (64, 64)), ("blk.0.ffn_gate.weight", (128, 64)),
                        ("blk.0.ffn_up.weight", (128, 64)), ("blk.0.ffn_down.weight", (64, 128)),
                        ("blk.0.attn_norm.weight", (64,)), ("output_norm.weight", (64,))):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_on_disk_end_to_end(tiny_gguf: Path) -> None:
    from app.tabs.weights_jobs import errors_job, histogram_job
    from quantcore.lab.testrun import testrun
    from quantcore.sources.local import load_path

    inv = load_path(tiny_gguf)
    info = {t.name: t for t in inv.tensors}
    out = histogram_job(tiny_gguf, ["blk.0.attn_q.weight", "blk.0.attn_k.weight"], {}, "nf4", None)
    assert out["selection"].histogram.total == 64 * 64 + 32 * 64 and len(out["levels"]) == 16
    name, errors, failed = errors_job(tiny_gguf, "blk.0.ffn_up.weight", {}, ["int8", "nf4"],
                                      info["blk.0.ffn_up.weight"], inv.arch)
    assert [e.precision for e in errors] == ["int8", "nf4"] and not failed
    for layer in ("attention:0", "mlp:0"):
        run = testrun(tiny_gguf, ["int8", "nf4"], layer, "cpu", "auto", 2, 8)
        assert run.calibration.startswith("synthetic") and "config.json" in run.calibration
        assert all(r.measured_bytes == r.predicted_bytes for r in run.results) and len(run.results) == 2
