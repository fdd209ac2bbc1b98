"""Measure transformers (+ peft) memory on CPU, tensor by tensor: inference prefill and training steps.

    .venv/bin/python benchmarks/accuracy/hf_measure.py [--out tests/golden/accuracy/transformers.json] [CASE ...]

Every case runs in its own subprocess (a clean process high-water mark). Models are built from reduced-depth
configs of real families (Llama, Qwen2, Gemma-2, GPT-2, Mixtral-style MoE) with random weights. Measured, exactly:
parameter, gradient, optimizer-state, LoRA-adapter and KV-cache bytes (sums of storage sizes), the live bytes kept
for backward after the forward pass, and the peak of live tensor bytes over a whole step (StorageTracker), on the
second step (optimizer states already exist; inference after a warm-up forward); plus the process view: the
RSS growth during the step (VmHWM reset, freed heap trimmed first, glibc's mmap threshold pinned: see
MEASURE_ENV) + the tensors alive when it began.

Training recipes (what a user of each stack runs):
  mixed   bf16 mixed precision as Megatron-LM / DeepSpeed: bf16 model, fp32 main gradients accumulated by hooks,
          fp32 master weights + AdamW moments, a fused optimizer (no foreach temporaries)
  pure    plain PyTorch: model.to(bfloat16) + torch.optim.AdamW (foreach=True, the CUDA default)
  trainer HF Trainer bf16=True: fp32 model, torch.autocast(bfloat16) forward, adamw_torch_fused (its default)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SEQ = 512
# One thread (kernel workspaces per thread stay small and fixed), and glibc's mmap threshold pinned at 64 KiB:
# by default glibc raises it up to 32 MiB as blocks are freed and keeps such freed tensors in the heap, so RSS
# would report allocator retention (on a GPU, the caching allocator's reserved-but-free bytes, which the plan's
# overhead line covers) rather than what the step uses.
MEASURE_ENV = {"OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}

# Reduced-depth configs of real families; widths keep CPU runs to seconds.
CONFIGS = {
    "llama-32k": {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1536, "num_attention_heads": 8,
                  "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 32000, "tie_word_embeddings": False,
                  "max_position_embeddings": 4096},
    "llama-128k": {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1536, "num_attention_heads": 8,
                   "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 128256,
                   "tie_word_embeddings": False, "max_position_embeddings": 4096},
    "qwen2-152k": {"model_type": "qwen2", "hidden_size": 512, "intermediate_size": 1536, "num_attention_heads": 8,
                   "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 151936,
                   "tie_word_embeddings": True, "max_position_embeddings": 4096},
    "gemma2-256k": {"model_type": "gemma2", "hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4,
                    "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 2, "vocab_size": 256000,
                    "sliding_window": 4096, "max_position_embeddings": 8192},
    "gpt2-50k": {"model_type": "gpt2", "n_embd": 512, "n_layer": 2, "n_head": 8, "vocab_size": 50257,
                 "n_positions": 1024, "attn_pdrop": 0.0, "resid_pdrop": 0.0, "embd_pdrop": 0.0},
    "mixtral-moe": {"model_type": "mixtral", "hidden_size": 512, "intermediate_size": 768, "num_attention_heads": 8,
                    "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 32000, "num_local_experts": 8,
                    "num_experts_per_tok": 2, "max_position_embeddings": 4096},
}

# name -> (config, mode, recipe, batch, recompute, attention)
CASES: dict[str, dict] = {}


def _case(name: str, config: str, mode: str, recipe: str = "", batch: int = 1, recompute: str = "none",
          attn: str = "sdpa", lora_targets: str = "attn") -> None:
    if CONFIGS[config]["model_type"] == "gemma2":
        attn = "eager"  # transformers runs Gemma-2 eagerly (attention logit soft-capping)
    CASES[name] = {"config": config, "mode": mode, "recipe": recipe, "batch": batch, "seq": SEQ,
                   "recompute": recompute, "attn": attn, "lora_targets": lora_targets}


for _c in CONFIGS:
    _case(f"infer-{_c}", _c, "inference", batch=2)
_case("infer-llama-32k-eager", "llama-32k", "inference", batch=2, attn="eager")
for _r in ("mixed", "pure", "trainer"):
    _case(f"full-{_r}-llama-32k", "llama-32k", "full", _r)
    _case(f"full-{_r}-llama-32k-ckpt", "llama-32k", "full", _r, recompute="full")
for _c in ("llama-128k", "qwen2-152k", "gemma2-256k", "gpt2-50k", "mixtral-moe"):
    _case(f"full-pure-{_c}", _c, "full", "pure")
_case("full-pure-llama-32k-eager", "llama-32k", "full", "pure", attn="eager")
_case("full-pure-llama-32k-b2", "llama-32k", "full", "pure", batch=2)
for _c in ("llama-32k", "qwen2-152k", "gpt2-50k"):
    _case(f"lora-{_c}", _c, "lora", "pure")
    _case(f"lora-{_c}-ckpt", _c, "lora", "pure", recompute="full")
_case("lora-llama-32k-alllinear-ckpt", "llama-32k", "lora", "pure", recompute="full", lora_targets="all-linear")
_case("qlora-llama-32k-ckpt", "llama-32k", "qlora", "pure", recompute="full")


def _config(name: str):  # noqa: ANN202
    from transformers import AutoConfig

    d = dict(CONFIGS[name])
    return AutoConfig.for_model(d.pop("model_type"), **d)


def _peft_targets(model_type: str, which: str):  # noqa: ANN202
    if which == "all-linear":
        return "all-linear"
    return ["c_attn", "c_proj"] if model_type == "gpt2" else ["q_proj", "k_proj", "v_proj", "o_proj"]


def spec_needs_peft(name: str) -> bool:
    return CASES[name]["mode"] in ("lora", "qlora")


def run_case(name: str) -> dict:
    """Run one case in this process and return its measurements."""
    import torch
    import transformers

    from torch_tracker import StorageTracker, hwm_bytes, reset_hwm, rss_bytes, storage_bytes, trim_heap

    if spec_needs_peft(name):
        import peft  # noqa: F401  (imported before the baseline RSS is read)

    torch.manual_seed(0)
    torch.set_num_threads(1)
    spec = CASES[name]
    cfg = _config(spec["config"])
    cfg._attn_implementation = spec["attn"]
    rss0 = rss_bytes()
    b, s = spec["batch"], spec["seq"]
    ids = torch.randint(0, cfg.vocab_size, (b, s))
    out: dict = {"case": name, **spec, "hf_config": cfg.to_dict(), "torch": torch.__version__}
    out["transformers"] = transformers.__version__
    if spec["mode"] == "inference":
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).eval()
        params = list(model.parameters()) + list(model.buffers())
        out["param_bytes"] = storage_bytes(list(model.parameters()))  # buffers (rotary inv_freq) apart
        out["buffer_bytes"] = storage_bytes(list(model.buffers()))
        with torch.no_grad():  # warm-up: kernels' first-use allocations are not the prefill's
            model(input_ids=ids, use_cache=True, logits_to_keep=1)
        tr = StorageTracker()
        tr.track(params, ids)
        base = tr.current
        trim_heap()
        reset_hwm()
        hwm0 = rss_bytes()
        with tr, torch.no_grad():
            res = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = res.past_key_values
        kv = []
        for layer in getattr(cache, "layers", []):
            kv += [layer.keys, layer.values]
        out["kv_bytes"] = storage_bytes(kv)
        out["logits_bytes"] = storage_bytes(res.logits)
        out["peak_above_weights"] = tr.peak - base
        out["peak_at"] = tr.peak_at
        out["process_peak_above_weights"] = hwm_bytes() - hwm0
        return out
    # ---- training ----
    recipe = spec["recipe"]
    dtype = torch.float32 if recipe == "trainer" else torch.bfloat16
    if spec["mode"] == "qlora":
        from transformers import BitsAndBytesConfig

        tmp = tempfile.mkdtemp()
        transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).save_pretrained(tmp)
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
        model = transformers.AutoModelForCausalLM.from_pretrained(tmp, quantization_config=q, device_map="cpu",
                                                                  dtype=torch.bfloat16)
        rss0 = rss_bytes() - storage_bytes(list(model.parameters()))  # the saved copy was built and dropped
    else:
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.config.use_cache = False
    if spec["recompute"] == "full":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    adapters = []
    if spec["mode"] in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if spec["mode"] == "qlora":
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=spec["recompute"] == "full",
                gradient_checkpointing_kwargs={"use_reentrant": False})
        lc = LoraConfig(r=16, lora_alpha=32, target_modules=_peft_targets(cfg.model_type, spec["lora_targets"]),
                        lora_dropout=0.0, task_type="CAUSAL_LM")
        model = get_peft_model(model, lc)
        adapters = [p for n, p in model.named_parameters() if "lora_" in n]
        out["adapter_dtype"] = str(adapters[0].dtype)
        out["adapter_bytes"] = storage_bytes(adapters)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    # bitsandbytes keeps a 4-bit weight's absmax / quant_map / nested statistics on its quant_state, not as
    # parameters: count the tensors it holds (absmax, quant_map, nested_absmax, nested_quant_map, offset)
    qstates = [p.quant_state for p in model.parameters() if getattr(p, "quant_state", None) is not None]
    qstats = [v for q in qstates for v in q.as_dict(packed=False).values() if isinstance(v, torch.Tensor)]
    qstats += [q.offset for q in qstates if isinstance(getattr(q, "offset", None), torch.Tensor)]  # nested mean
    out["quant_state_bytes"] = storage_bytes(qstats)
    out["param_bytes"] = storage_bytes(list(model.parameters())) + out["quant_state_bytes"]
    out["buffer_bytes"] = storage_bytes(list(model.buffers()))
    out["frozen_param_bytes"] = storage_bytes([p for p in model.parameters() if not p.requires_grad])
    out["trainable_params"] = sum(p.numel() for p in trainable)
    master: list = []
    main_grads: list = []
    if recipe == "mixed":
        master = [p.detach().float().clone().requires_grad_(True) for p in trainable]
        main_grads = [torch.zeros_like(m) for m in master]
        for p, g in zip(trainable, main_grads):
            def hook(param, g=g):  # noqa: ANN001, ANN202  (Megatron: accumulate into main_grad, drop the bf16 grad)
                g.add_(param.grad)
                param.grad = None
            p.register_post_accumulate_grad_hook(hook)
        opt = torch.optim.AdamW(master, lr=1e-5, fused=True)
    elif recipe == "pure":
        opt = torch.optim.AdamW(trainable, lr=1e-5, foreach=True)
    else:
        opt = torch.optim.AdamW(trainable, lr=1e-5, fused=True)
    tr = StorageTracker()
    tr.track(list(model.parameters()), list(model.buffers()), master, main_grads, ids)

    def step(record: dict | None) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe == "trainer"):
            loss = model(input_ids=ids, labels=ids).loss
        if record is not None:
            record["after_forward"] = tr.current
        loss.backward()
        del loss
        if record is not None:
            grads = main_grads if recipe == "mixed" else [p.grad for p in trainable]
            record["grad_bytes"] = storage_bytes(grads)
            record["after_backward"] = tr.current
        if recipe == "mixed":
            for m, g in zip(master, main_grads):
                m.grad = g
        opt.step()
        if recipe == "mixed":
            with torch.no_grad():
                for p, m in zip(trainable, master):
                    p.copy_(m)
                for g in main_grads:
                    g.zero_()
        else:
            opt.zero_grad(set_to_none=True)

    with tr:
        step(None)
    states = [v for st in opt.state.values() for v in st.values() if isinstance(v, torch.Tensor)]
    out["optimizer_bytes"] = storage_bytes(states) + storage_bytes(master)
    out["optimizer_step_bytes"] = storage_bytes([st["step"] for st in opt.state.values() if "step" in st])
    rec: dict = {}
    tr.reset_peak()
    before = tr.current
    trim_heap()
    reset_hwm()
    hwm0 = rss_bytes()
    t0 = time.perf_counter()
    with tr:
        step(rec)
    out["step_seconds"] = time.perf_counter() - t0
    out["live_before_step"] = before
    out["kept_for_backward"] = rec["after_forward"] - before
    out["grad_bytes"] = rec["grad_bytes"]
    out["peak"] = tr.peak
    out["peak_at"] = tr.peak_at
    out["process_peak_since_start"] = hwm_bytes() - rss0  # includes building the model (a looser view)
    # the process view of the step: RSS growth during it + the tensors alive when it began
    out["process_peak"] = hwm_bytes() - hwm0 + before
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    ap.add_argument("--out", default="tests/golden/accuracy/transformers.json")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one)))
        return
    names = args.cases or list(CASES)
    results = []
    if os.path.exists(args.out) and args.cases:
        results = [c for c in json.load(open(args.out))["cases"] if c["case"] not in names]
    for name in names:
        t0 = time.time()
        p = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True,
                           env={**os.environ, **MEASURE_ENV})
        if p.returncode != 0:
            print(f"{name}: FAILED\n{p.stderr[-3000:]}", file=sys.stderr)
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{name:38s} {time.time() - t0:5.1f}s", file=sys.stderr)
    order = {n: i for i, n in enumerate(CASES)}
    results.sort(key=lambda r: order.get(r["case"], 1 << 30))
    doc = {"command": "make accuracy (.venv/bin/python benchmarks/accuracy/hf_measure.py)", "seq": SEQ,
           "note": "bytes; peak = largest sum of live tensor storages during step 2 (tensor level)",
           "cases": results}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, args.out)
    print(f"wrote {len(results)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
