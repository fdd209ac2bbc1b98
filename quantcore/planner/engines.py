"""Engine "auto": the runtime each precision is usually served with, whose memory accounting and speed a row uses."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from quantcore.formats.catalog import AS_STORED, get_precision
from quantcore.planner.workload import Workload

AUTO = "auto"
# Precision family -> the engine practitioners run it with:
#   gguf (and the ggml ternary/binary blocks): llama.cpp and its front ends (LM Studio, Ollama);
#   gptq / awq / mx (MXFP4, NVFP4) / fp8: vLLM, which ships kernels for all of them (Marlin, CUTLASS FP8/FP4);
#   bitsandbytes, torchao int, and plain 16/32-bit: transformers (bitsandbytes and torchao are transformers
#   integrations; a 16-bit checkpoint is what transformers loads by default).
_BY_FAMILY = {"gguf": "llamacpp", "lowbit": "llamacpp", "gptq": "vllm", "awq": "vllm", "mx": "vllm",
              "bnb": "hf", "int": "hf"}
NAMES = {"hf": "transformers", "vllm": "vLLM", "llamacpp": "llama.cpp", "sglang": "SGLang", "none": "none"}


def engine_for(pid: str, source: str | None = None, quantization: str | None = None, mode: str = "inference") -> str:
    """The engine "auto" picks for precision `pid` (training always runs in transformers/PyTorch).

    source / quantization: for the as-stored row, the model file's kind (a GGUF file is llama.cpp's; a quantized
    safetensors checkpoint goes where its format goes)."""
    if mode != "inference":
        return "hf"
    p = get_precision(pid)
    if p.id == AS_STORED:
        if source == "gguf":
            return "llamacpp"
        if quantization and quantization != AS_STORED:
            return engine_for(quantization)
        return "hf"
    if p.family == "float":
        return "vllm" if p.id == "fp8" else "hf"
    return _BY_FAMILY.get(p.family, "hf")


@lru_cache(maxsize=512)
def resolve(w: Workload, pid: str, source: str | None = None, quantization: str | None = None) -> Workload:
    """The workload with engine "auto" replaced by the engine this precision runs on (unchanged otherwise)."""
    if w.engine != AUTO:
        return w
    return replace(w, engine=engine_for(pid, source, quantization, w.mode))
