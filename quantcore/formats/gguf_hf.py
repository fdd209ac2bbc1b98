"""A Hugging Face llama-architecture checkpoint (config.json + safetensors) quantized into a GGUF file llama.cpp loads.

What convert_hf_to_gguf.py + llama-quantize do for LlamaForCausalLM, without the F16 intermediate: tensor names through
gguf's tensor name map, q/k rows permuted to llama.cpp's rotary layout, the llama.* hyper-parameters, the tokenizer
(GPT-2 BPE or llama SentencePiece-style tokenizer.json, else "none"), and the per-tensor types of the mixture.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from quantcore.errors import BadInputError, ModelFileError
from quantcore.formats import gguf_mix
from quantcore.formats.ggml_quants import quantize_rows
from quantcore.formats.gguf_write import FILE_TYPES, KeyValue, Progress, TensorSpec, with_file_type, write_gguf
from quantcore.model.inventory import Architecture, Inventory, TensorInfo
from quantcore.model.naming import classify, layer_of

LLAMA_MODEL_TYPES = ("llama", "mistral")  # both convert as MODEL_ARCH.LLAMA


def _config(folder: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{folder}: no config.json; a Hugging Face model folder is needed") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder}/config.json: unreadable ({exc.__class__.__name__})") from None
    if cfg.get("model_type") not in LLAMA_MODEL_TYPES:
        raise BadInputError(f"GGUF output from a Hugging Face checkpoint supports llama-architecture models "
                            f"({', '.join(LLAMA_MODEL_TYPES)}); this one is '{cfg.get('model_type')}'")
    kind = _rope(cfg)[1]
    if kind != "default":
        raise BadInputError(f"rope scaling '{kind}' is not written to GGUF here yet; convert this model with "
                            "llama.cpp's convert_hf_to_gguf.py")
    return cfg


def _safetensors(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelFileError(f"{folder}: no .safetensors weights")
    return files


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf's LlamaModel.permute: HF's rotate-half rows to llama.cpp's interleaved rotary rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _arch(cfg: dict[str, Any], tied: bool) -> Architecture:
    heads = int(cfg["num_attention_heads"])
    hidden = int(cfg["hidden_size"])
    return Architecture(model_type="llama", num_layers=int(cfg["num_hidden_layers"]), hidden_size=hidden,
                        num_heads=heads, num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
                        head_dim=int(cfg.get("head_dim") or hidden // heads), vocab_size=int(cfg["vocab_size"]),
                        intermediate_size=int(cfg.get("intermediate_size", 0)), tie_embeddings=tied)


def _rope(cfg: dict[str, Any]) -> tuple[float, str]:
    """(rope theta, rope type) from config.json, transformers 4 (rope_theta, rope_scaling) or 5 (rope_parameters)."""
    params = cfg.get("rope_parameters") or {}
    scaling = cfg.get("rope_scaling") or {}
    theta = cfg.get("rope_theta") or params.get("rope_theta") or 10000.0
    kind = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    return float(theta), str(kind)


def _hparams(cfg: dict[str, Any], arch: Architecture, name: str) -> list[KeyValue]:
    import gguf

    T = gguf.GGUFValueType
    kv = [("general.name", name, T.STRING),
          ("llama.context_length", int(cfg.get("max_position_embeddings", 2048)), T.UINT32),
          ("llama.embedding_length", arch.hidden_size, T.UINT32), ("llama.block_count", arch.num_layers, T.UINT32),
          ("llama.feed_forward_length", arch.intermediate_size, T.UINT32),
          ("llama.rope.dimension_count", arch.head_dim, T.UINT32),
          ("llama.attention.head_count", arch.num_heads, T.UINT32),
          ("llama.attention.head_count_kv", arch.num_kv_heads, T.UINT32),
          ("llama.attention.layer_norm_rms_epsilon", float(cfg.get("rms_norm_eps", 1e-5)), T.FLOAT32),
          ("llama.rope.freq_base", _rope(cfg)[0], T.FLOAT32),
          ("llama.vocab_size", arch.vocab_size, T.UINT32)]
    if arch.head_dim != arch.hidden_size // arch.num_heads:
        kv += [("llama.attention.key_length", arch.head_dim, T.UINT32),
               ("llama.attention.value_length", arch.head_dim, T.UINT32)]
    return [KeyValue(k, v, t) for k, v, t in kv]


def _tokenizer(folder: Path, n_vocab: int) -> list[KeyValue]:
    """tokenizer.ggml.* from the folder's tokenizer files through gguf.vocab, padded to n_vocab; "none" without."""
    import gguf
    from gguf import vocab as gv

    w = gguf.GGUFWriter(None, "llama")  # used only to collect key/values
    tokens = None
    for cls in (gv.BpeVocab, gv.LlamaHfVocab):
        try:
            voc = cls(folder)
        except Exception:  # noqa: BLE001 - each class raises its own "not my format" error
            continue
        tokens = list(voc.all_tokens())
        w.add_tokenizer_model(voc.tokenizer_model)
        w.add_tokenizer_pre("default")
        break
    if tokens is None:
        w.add_tokenizer_model("none")
    else:
        tokens += [(f"[PAD{i}]".encode(), -1000.0, gguf.TokenType.UNUSED) for i in range(len(tokens), n_vocab)]
        w.add_token_list([t for t, _, _ in tokens])
        w.add_token_scores([s for _, s, _ in tokens])
        w.add_token_types([int(ty) for _, _, ty in tokens])
        gv.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    return [KeyValue(k, v.value, v.type, v.sub_type) for k, v in w.kv_data[0].items() if k != "general.architecture"]


def convert_hf_llama(folder: Path | str, dst: Path | str, precision: str, progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> list[TensorSpec]:
    """Quantize a local Hugging Face llama checkpoint straight to a GGUF file of a catalog GGUF id."""
    import gguf
    from safetensors import safe_open

    folder = Path(folder)
    pid = precision.strip().lower()
    if pid not in FILE_TYPES:
        raise BadInputError(f"'{precision}' is not a GGUF precision; use one of {', '.join(FILE_TYPES)}")
    cfg = _config(folder)
    where: dict[str, tuple[Path, tuple[int, ...]]] = {}
    for f in _safetensors(folder):
        with safe_open(str(f), framework="pt") as st:
            for k in st.keys():
                where[k] = (f, tuple(st.get_slice(k).get_shape()))
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, int(cfg["num_hidden_layers"]))
    names: dict[str, str] = {}
    for hf in where:
        if hf.endswith(("rotary_emb.inv_freq", "position_ids")):
            continue
        new = tmap.get_name(hf, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise BadInputError(f"{hf}: no GGUF name for this llama tensor; is it a plain LlamaForCausalLM?")
        names[new] = hf
    tied = "output.weight" not in names
    arch = _arch(cfg, tied)
    infos = []
    for new, hf in names.items():
        role, kind = classify(new)
        infos.append(TensorInfo(new, where[hf][1], "F32", role, kind, layer_of(new)))
    inv = Inventory(folder.name, "safetensors", tuple(infos), arch)
    specs = [TensorSpec(t.name, t.shape, ty) for t, ty, _ in
             gguf_mix.tensor_types(inv.tensors, pid, gguf_mix.context_for(inv))]

    def blocks() -> Iterator[np.ndarray]:
        for spec in specs:
            f, _ = where[names[spec.name]]
            with safe_open(str(f), framework="pt") as st:
                w = st.get_tensor(names[spec.name]).float().numpy()
            if spec.name.endswith("attn_q.weight"):
                w = _permute(w, arch.num_heads)
            elif spec.name.endswith("attn_k.weight"):
                w = _permute(w, arch.num_kv_heads)
            yield quantize_rows(spec.ggml_type, w.reshape(-1, w.shape[-1]) if w.ndim > 1 else w.reshape(1, -1))

    meta = _hparams(cfg, arch, str(cfg.get("_name_or_path") or folder.name)) + _tokenizer(folder, arch.vocab_size)
    write_gguf(dst, "llama", with_file_type(meta, pid), specs, blocks(), progress, cancel)
    return specs
