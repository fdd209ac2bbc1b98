"""Local models are named as people know them: the folder unless it says nothing, then the Hub cache's repo id,
config.json's _name_or_path, or the parent folder; a GGUF by its general.name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from quantcore.sources.local_name import local_model_name, says_nothing
from quantcore.sources.source import load_model


def test_generic_folder_named_from_name_or_path(minilm_dir: Path, tmp_path: Path) -> None:
    config = json.loads((minilm_dir / "config.json").read_text())
    assert minilm_dir.name == "model" and says_nothing(minilm_dir.name)
    inv = load_model(str(minilm_dir))
    assert inv.id == config["_name_or_path"] == "nreimers/MiniLM-L6-H384-uncased"
    assert load_model(str(minilm_dir / "model.safetensors")).id == inv.id
    assert load_model(str(minilm_dir / "config.json")).id == inv.id


def test_meaningful_folder_kept_and_parent_used_last(minilm_dir: Path, tmp_path: Path) -> None:
    named = tmp_path / "MiniLM-finetune-v3"
    shutil.copytree(minilm_dir, named)
    assert load_model(str(named)).id == "MiniLM-finetune-v3"
    nested = tmp_path / "my-embedder" / "checkpoint-500"  # no usable _name_or_path: the parent folder
    shutil.copytree(minilm_dir, nested)
    config = json.loads((nested / "config.json").read_text())
    config.pop("_name_or_path")
    (nested / "config.json").write_text(json.dumps(config))
    assert load_model(str(nested)).id == "my-embedder"


def test_hugging_face_cache_snapshot_named_by_repo(tmp_path: Path) -> None:
    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-0.5B" / "snapshots" / ("0123456789abcdef" * 3)[:40]
    snap.mkdir(parents=True)
    assert local_model_name(snap, {"_name_or_path": "/tmp/something"}) == "Qwen/Qwen2.5-0.5B"


def test_gguf_named_by_general_name(tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "model.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("Tiny Test Llama")
    writer.add_context_length(128)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_tensor("token_embd.weight", np.zeros((10, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert load_model(str(path)).id == "Tiny Test Llama"
    assert local_model_name(path) == str(tmp_path.name)  # without general.name: the folder above "model"
