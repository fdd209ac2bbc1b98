"""llama.cpp (llama-cpp-python) loads and runs the GGUF files QuantPlanner wrote (tests/golden/make_gguf_outputs.py).

    /work/venvs/llama/bin/python tests/golden/check_gguf_llamacpp.py OUT_DIR SMOLLM2_Q4_1_GGUF

For each SmolLM2 file: load (vocab_only=False, n_ctx 256), greedy-generate from a prompt and print it next to what the
original Q4_1 file generates. For the tiny Hugging Face llama: evaluate the token ids and compare llama.cpp's logits
with transformers' fp32 logits (a wrong q/k permutation or tensor map gives errors near 100%).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama

PROMPT = "The three primary colors are"


def generate(path: Path) -> str:
    llm = Llama(model_path=str(path), n_ctx=256, vocab_only=False, verbose=False, n_threads=2, seed=0)
    out = llm(PROMPT, max_tokens=24, temperature=0.0)
    return out["choices"][0]["text"].strip().replace("\n", " ")


def main() -> None:
    out, original = Path(sys.argv[1]), Path(sys.argv[2])
    print(f"original {original.name}: {generate(original)!r}")
    for pid in ("q4_k_m", "q8_0"):
        print(f"ours smollm2-{pid}.gguf: {generate(out / f'smollm2-{pid}.gguf')!r}")
    ref = np.load(out / "tiny-llama-logits.npz")
    llm = Llama(model_path=str(out / "tiny-llama-q8_0.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    llm.eval(ref["tokens"].tolist())
    got = np.array(llm.scores[: len(ref["tokens"])])
    hf = ref["logits"]
    rel = float(np.linalg.norm(got - hf) / np.linalg.norm(hf))
    print(f"tiny-llama-q8_0.gguf: llama.cpp logits vs transformers fp32: relative error {rel:.4f}, "
          f"max |diff| {np.abs(got - hf).max():.4f} (logit scale {np.abs(hf).max():.3f})")
    assert rel < 0.05, "llama.cpp does not compute what the Hugging Face model computes"


if __name__ == "__main__":
    main()
