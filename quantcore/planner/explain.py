"""Each memory line of a plan as the formula behind it, with this model's numbers filled in (for tooltips)."""
from __future__ import annotations

from quantcore.formats import catalog as formats
from quantcore.formats.stored import describe
from quantcore.model.inventory import Inventory
from quantcore.planner import engines, memory
from quantcore.planner.workload import Workload
from quantcore.units import format_bytes


def explain(inv: Inventory, pid: str, w: Workload, gpu_memory_bytes: int | None = None) -> dict[str, str]:
    """{line: sentence} for weights, kv_cache, overhead, plus the general rule for the other lines."""
    w = engines.resolve(w, formats.get_precision(pid).id, inv.source, inv.quantization)  # engine "auto" per precision
    m = memory.memory_breakdown(inv, pid, w, gpu_memory_bytes)
    weights = _weights(inv, pid)
    if m.weights != formats.weight_bytes(inv, pid) and w.is_training:
        why = ("HF Trainer (bf16=True) keeps the model in fp32 and autocasts" if w.mode == "full" else
               "peft's prepare_model_for_kbit_training casts every unquantized tensor to fp32")
        weights += f"; in training {why}: {m.weights:,} B ({format_bytes(m.weights)})"
    return {"weights": weights, "kv_cache": _kv(inv, w, m.kv_cache),
            "overhead": _overhead(w, m.overhead), "activations": _activations(w, m.activations)}


def _weights(inv: Inventory, pid: str) -> str:
    p = formats.get_precision(pid)
    weights = [t for t in inv.tensors if t.role != "buffer"]
    quantized = [t for t in weights if formats.quantized_by(t, p)]
    kept = len(weights) - len(quantized)
    q_params = sum(t.numel for t in quantized)
    total = formats.weight_bytes(inv, pid)
    if p.family == "stored":  # the file as stored: its own tensor types, byte for byte
        return (f"{len(weights)} tensors exactly as the file stores them ({describe(inv)}): {total:,} B "
                f"({format_bytes(total)}) = {8 * total / inv.parameters:.3f} bits per weight")
    if p.family == "float":
        return (f"{inv.parameters:,} parameters x {p.storage_bits:g} bits = {total:,} B ({format_bytes(total)}); "
                f"{kept} tensors stay as they are ({p.keeps})")
    return (f"{len(quantized)} tensors ({q_params:,} weights) in {pid} at {p.storage_bits:.4g} bits each including "
            f"scales and zero-points, {kept} tensors kept in higher precision ({p.keeps}); "
            f"together {total:,} B ({format_bytes(total)}) = {8 * total / inv.parameters:.3f} bits per weight")


def _kv(inv: Inventory, w: Workload, kv: int) -> str:
    a = inv.arch
    if a is None or a.encoder_only:
        return "no KV cache: an encoder-only model keeps no keys and values between forward passes"
    per = formats.kv_bytes_per_element(w.kv_dtype)
    kinds = a.attention_kinds
    full, sliding = kinds.count("full"), kinds.count("sliding")
    if a.is_mla:
        head = f"{full + sliding} layers x (latent {a.kv_lora_rank} + rope {a.qk_rope_head_dim})"
        text = f"MLA: {head} x {w.context:,} tokens x batch {w.batch} x {per:g} B ({w.kv_dtype})"
    else:
        row = f"2 (K, V) x {a.num_kv_heads} KV heads x {a.head_dim} head_dim"
        text = f"{row} x {per:g} B ({w.kv_dtype}) x batch {w.batch} x ({full} full layers x {w.context:,} tokens"
        if sliding:
            window = min(w.context, a.sliding_window or w.context)
            text += f" + {sliding} sliding-window layers x {window:,} tokens"
        text += ")"
    return f"{text} = {kv:,} B ({format_bytes(kv)})"


def _overhead(w: Workload, overhead: int) -> str:
    if w.overhead_bytes is not None:
        return f"set by you: {overhead:,} B ({format_bytes(overhead)}) per GPU"
    why = {"none": "none: a lower bound, as llm-analysis reports",
           "hf": "transformers: CUDA context and allocator slack (gpu_poor's measured 650 MiB)",
           "llamacpp": "llama.cpp: gguf-parser-go's 250 MiB platform footprint",
           "vllm": "vLLM: 400 MiB CUDA context and graphs, plus the share of VRAM outside gpu_memory_utilization",
           "sglang": "SGLang: CUDA context plus the part of its activation reserve the activations leave free"}
    return f"{why[w.engine]}: {overhead:,} B ({format_bytes(overhead)}) per GPU"


def _activations(w: Workload, act: int) -> str:
    if w.mode == "inference" and w.engine == "llamacpp":
        rule = (f"llama.cpp's compute buffer: its worst-case graph for one ubatch of {w.ubatch} tokens (every one an "
                "output, so the logits n_ubatch x vocab x 4 B are always reserved) placed by ggml's allocator; "
                + ("flash attention on (llama.cpp's default 'auto')" if w.flash_attention else
                   "without flash attention: F32 KQ scores per head + F32 mask"))
    elif w.mode == "inference":
        rule = ("peak of the prefill as transformers runs it: 4 hidden-sized tensors alive (input embeddings, layer "
                "input, residual, normed input) + the largest of the MLP intermediates, the attention tensors and "
                "the last-position logits in fp32; buffers are reused across layers")
    else:
        rule = (f"what the step holds above weights, gradients and optimizer states at its peak: the tensors saved "
                f"for backward (recomputation '{w.effective_recompute}'), the fp32 log-softmax of the loss, and the "
                "loss backward's two fp32 tokens x vocab buffers (or, if larger, a recomputed layer or the optimizer "
                "step's temporaries)")
    return f"{rule}: {act:,} B ({format_bytes(act)})"
