"""A Hugging Face llama checkpoint written as GGUF: gguf's names, llama.cpp's rotary row order for q/k, the llama.*
hyper-parameters, the tokenizer, and the mixture's types; refused for other architectures."""
from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from quantcore.errors import BadInputError
from quantcore.formats.ggml_quants import dequantize_rows, quantize_rows
from quantcore.formats.gguf_hf import convert_hf_llama


@pytest.fixture(scope="module")
def hf_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("hf") / "tiny-llama"
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=300, max_position_embeddings=128, tie_word_embeddings=False)
    LlamaForCausalLM(cfg).save_pretrained(folder, safe_serialization=True)
    saved = json.loads((folder / "config.json").read_text())  # transformers 4: rope_theta; 5: rope_parameters
    saved.setdefault("rope_parameters", {})["rope_theta"] = saved["rope_theta"] = 50000.0
    (folder / "config.json").write_text(json.dumps(saved))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=280, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["will this model fit on my gpu " * 20, "quantization planner"], trainer)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def _hf_weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    return {k: v.float().numpy() for k, v in load_file(str(folder / "model.safetensors")).items()}


def _permuted(w: np.ndarray, heads: int) -> np.ndarray:  # convert_hf_to_gguf.py LlamaModel.permute, spelled out
    out = np.empty_like(w)
    half = w.shape[0] // heads // 2
    for h in range(heads):
        for i in range(half):
            out[h * 2 * half + 2 * i] = w[h * 2 * half + i]
            out[h * 2 * half + 2 * i + 1] = w[h * 2 * half + half + i]
    return out


@pytest.mark.parametrize("pid", ["q8_0", "q4_k_m"])
def test_hf_llama_to_gguf(pid: str, hf_llama: Path, tmp_path: Path) -> None:
    specs = convert_hf_llama(hf_llama, tmp_path / "m.gguf", pid)
    r = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    got = {t.name: t for t in r.tensors}
    assert {s.name for s in specs} == set(got) and len(got) == 3 + 9 * 2
    f = {k: r.fields[k].contents() for k in r.fields if not k.startswith("tokenizer.ggml.tokens")}
    assert (f["general.architecture"], f["llama.block_count"], f["llama.embedding_length"]) == ("llama", 2, 256)
    assert (f["llama.attention.head_count"], f["llama.attention.head_count_kv"], f["llama.feed_forward_length"]) == \
        (4, 2, 512)
    assert f["llama.rope.freq_base"] == 50000.0 and f["general.file_type"] == {"q8_0": 7, "q4_k_m": 15}[pid]
    assert f["tokenizer.ggml.model"] == "gpt2" and len(r.fields["tokenizer.ggml.tokens"].data) == 300
    assert len(f["tokenizer.ggml.merges"]) > 0
    types = {t.name: t.tensor_type.name for t in r.tensors}
    if pid == "q4_k_m":  # output -> Q6_K, attn_v / ffn_down of use_more_bits layers -> Q6_K
        assert types["output.weight"] == "Q6_K" and types["blk.1.attn_v.weight"] == "Q6_K"
        assert types["blk.0.attn_q.weight"] == "Q4_K" and types["blk.1.ffn_down.weight"] == "Q6_K"
    assert types["blk.0.attn_norm.weight"] == "F32"

    hf = _hf_weights(hf_llama)
    pairs = {"blk.1.attn_q.weight": _permuted(hf["model.layers.1.self_attn.q_proj.weight"], 4),
             "blk.1.attn_k.weight": _permuted(hf["model.layers.1.self_attn.k_proj.weight"], 2),
             "blk.0.ffn_down.weight": hf["model.layers.0.mlp.down_proj.weight"],
             "token_embd.weight": hf["model.embed_tokens.weight"]}
    for name, want in pairs.items():
        t = got[name]
        assert np.array_equal(np.asarray(t.data), quantize_rows(t.tensor_type.name, want)), name
        back = dequantize_rows(t.tensor_type.name, np.asarray(t.data), want.shape)
        assert np.linalg.norm(back - want) / np.linalg.norm(want) < 0.1
    q = hf["model.layers.1.self_attn.q_proj.weight"]  # the unpermuted rows are not what llama.cpp reads
    back = dequantize_rows(got["blk.1.attn_q.weight"].tensor_type.name, np.asarray(got["blk.1.attn_q.weight"].data),
                           q.shape)
    assert np.linalg.norm(back - q) / np.linalg.norm(q) > 0.5


def test_other_architectures_and_rope_scaling_refused(minilm_dir: Path, hf_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="llama-architecture models"):
        convert_hf_llama(minilm_dir, tmp_path / "x.gguf", "q8_0")
    folder = tmp_path / "llama3"
    folder.mkdir()
    cfg = json.loads((hf_llama / "config.json").read_text())
    cfg["rope_scaling"] = cfg["rope_parameters"] = {"rope_type": "llama3", "factor": 8.0, "rope_theta": 5e5}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BadInputError, match="rope scaling 'llama3'"):
        convert_hf_llama(folder, tmp_path / "x.gguf", "q8_0")
    assert not (tmp_path / "x.gguf").exists()


def test_no_tokenizer_writes_none(hf_llama: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((hf_llama / name).read_bytes())
    convert_hf_llama(folder, tmp_path / "b.gguf", "q4_0")
    r = gguf.GGUFReader(str(tmp_path / "b.gguf"))
    assert r.fields["tokenizer.ggml.model"].contents() == "none"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"


def test_cli_quantize_out_gguf_writes_a_loadable_file(hf_llama: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`quantplanner quantize FOLDER --precision q8_0 --out x.gguf`: error table printed, a GGUF whose tensors
    are the q8_0 mixture's types, with the exact bytes the planner predicts for each."""
    import gguf

    from quantcore.cli import main
    from quantcore.formats.catalog import get_precision, tensor_bytes
    from quantcore.sources.gguf_header import read_gguf

    out = tmp_path / "tiny-q8_0.gguf"
    assert main(["quantize", str(hf_llama), "--precision", "q8_0", "--out", str(out), "--json"]) == 0
    assert '"schema": "quantplanner.quantize/1"' in capsys.readouterr().out
    reader = gguf.GGUFReader(str(out))
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert any(v == "Q8_0" for v in types.values()) and all(v in ("Q8_0", "F32") for v in types.values())
    inv = read_gguf(out)
    p = get_precision("q8_0")
    for t in reader.tensors:
        info = next(i for i in inv.tensors if i.name == t.name)
        if types[t.name] == "Q8_0":
            assert int(t.n_bytes) == tensor_bytes(info, p, inv.arch)
    assert not list(tmp_path.glob(".*partial"))
    assert main(["quantize", str(hf_llama), "--precision", "q8_0", "--tensor", "*q_proj*", "--out",
                 str(tmp_path / "part.gguf")]) == 2
    assert "holds the whole model" in capsys.readouterr().err
