"""Commands that deploy a planned precision x GPU option on vLLM, TGI, llama.cpp and transformers (pure, from the
plan dict), or the reason an engine cannot run that combination."""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

GGUF_TYPES = {"q8_0": "Q8_0", "q6_k": "Q6_K", "q5_k_m": "Q5_K_M", "q4_k_m": "Q4_K_M", "q4_0": "Q4_0",
              "q3_k_m": "Q3_K_M", "q2_k": "Q2_K", "ternary": "TQ1_0", "fp16": "F16", "bf16": "BF16", "fp32": "F32",
              "mxfp4": "MXFP4_MOE"}
FLOAT_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
LLAMACPP_KV = {"fp16": None, "bf16": "bf16", "fp32": "f32", "q8_0": "q8_0", "q4_0": "q4_0", "int8": "q8_0",
               "int4": "q4_0"}
VLLM_DEFAULT_UTILIZATION = 0.9
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:latest"


@dataclass(frozen=True)
class Deployment:
    """One engine's way to run the option: a command (shell) or snippet (python), or None with the reason."""

    engine: str  # vllm | tgi | llamacpp | transformers
    title: str
    command: str | None
    language: str  # shell | python
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """How the option spreads over GPUs: tensor / pipeline parallel sizes, layers on the GPUs, host RAM."""

    kind: str  # single | tensor_parallel | pipeline | offload | too_large
    gpus: int
    tensor_parallel: int
    pipeline_parallel: int
    gpu_layers: int | None
    total_layers: int | None
    host_bytes: int


def layout(option: dict[str, Any], model: dict[str, Any]) -> Layout:
    """The option's placement object when the plan has one; else tensor parallel over "count" GPUs."""
    p = option.get("placement")
    layers = model.get("layers")
    if isinstance(p, dict):
        tp, pp = int(p.get("tensor_parallel") or 1), int(p.get("pipeline_parallel") or 1)
        return Layout(str(p.get("kind") or "single"), int(p.get("gpus") or option.get("count") or tp * pp), tp, pp,
                      p.get("gpu_layers"), p.get("total_layers") or layers, int(p.get("host_bytes") or 0))
    count = option.get("count")
    if not count:
        return Layout("too_large", 0, 1, 1, None, layers, 0)
    return Layout("single" if count == 1 else "tensor_parallel", count, count, 1, layers, layers, 0)


def deployments(data: dict[str, Any], precision: str, gpu_index: int = 0,
                option: dict[str, Any] | None = None) -> tuple[Deployment, ...]:
    """Every engine's command for `precision` on the plan's GPU number gpu_index, the row's own engine first.
    `option` overrides the plan's GPU option (e.g. its fewest-GPU layout instead of a partial offload)."""
    row = next(r for r in data["rows"] if r["precision"] == precision)
    option = option if option is not None else row["gpus"][gpu_index]
    ctx = _Context(data, row, option)
    found = [_vllm(ctx), _tgi(ctx), _llamacpp(ctx), _transformers(ctx)]
    first = row.get("engine") or data["workload"].get("engine")
    order = {"vllm": 0, "sglang": 0, "llamacpp": 2, "hf": 3}.get(str(first), -1)  # sglang: vLLM's flags
    key = {"vllm": 0, "tgi": 1, "llamacpp": 2, "transformers": 3}
    return tuple(sorted(found, key=lambda d: (key[d.engine] != order, d.command is None, key[d.engine])))


class _Context:
    """What every engine's rule reads from the dict, worked out once."""

    def __init__(self, data: dict[str, Any], row: dict[str, Any], option: dict[str, Any]) -> None:
        self.model, self.workload, self.row, self.option = data["model"], data["workload"], row, option
        self.pid = row["precision"]
        self.lay = layout(option, self.model)
        self.context = int(self.workload.get("context") or 4096)
        self.batch = int(self.workload.get("batch") or 1)
        self.kv = str(self.workload.get("kv_dtype") or "fp16")
        self.training = self.workload.get("mode", "inference") != "inference"
        model_id = str(self.model.get("id", "MODEL"))
        self.is_gguf = self.model.get("source") == "gguf"
        self.stored_as = self.model.get("quantization") == self.pid or bool(row.get("as_stored"))
        self.is_count = self.model.get("source") == "count"
        self.name = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.rstrip("/").split("/")[-1]).strip("-") or "model"
        # the checkpoint an engine loads: the model itself when it is already in this format, else a folder that a
        # quantizer writes (named here, made by the command in the notes)
        self.repo = "MODEL_DIR" if self.is_count else model_id
        self.native = self.stored_as or self.pid in FLOAT_DTYPES

    def checkpoint(self, suffix: str) -> str:
        return self.repo if self.stored_as else f"./{self.name}-{suffix}"


def _cannot(engine: str, title: str, why: str, *more: str) -> Deployment:
    return Deployment(engine, title, None, "shell", (why, *more))


def _shell(parts: list[str], head: int = 1) -> str:
    """The first `head` words on the first line, then one option (with its value) per line after a backslash."""
    words = [shlex.quote(p) for p in parts]
    lines, i = [" ".join(words[:head])], head
    while i < len(words):
        if words[i].startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            lines.append(f"{words[i]} {words[i + 1]}")
            i += 2
        else:
            lines.append(words[i])
            i += 1
    return " \\\n  ".join(lines)


def _common_blockers(ctx: _Context, title: str, engine: str) -> Deployment | None:
    if ctx.lay.kind == "too_large":
        return _cannot(engine, title, "the plan found no GPU count that holds this precision")
    if ctx.training:
        return _cannot(engine, title, "a serving engine; this is a training plan (plan inference for the trained "
                                      "model to get its serving commands)")
    return None


# -- vLLM -------------------------------------------------------------------------------------------------------

def _vllm(ctx: _Context) -> Deployment:
    title = "vLLM"
    blocked = _common_blockers(ctx, title, "vllm")
    if blocked:
        return blocked
    pid, notes = ctx.pid, []
    args = ["vllm", "serve"]
    quant: str | None = None
    if pid in FLOAT_DTYPES:
        args.append(ctx.repo)
        extra = ["--dtype", FLOAT_DTYPES[pid]]
    elif pid == "fp8":
        args.append(ctx.repo)
        quant, extra = "fp8", []
        notes.append("--quantization fp8 quantizes the 16-bit weights to FP8 as they load (W8A8 on compute "
                     "capability 8.9+, Ada/Hopper; weight-only FP8 through the Marlin kernel on Ampere)")
    elif pid in ("nf4", "int8", "fp4"):
        args.append(ctx.checkpoint("bnb-" + pid) if pid != "nf4" else ctx.repo)
        quant, extra = "bitsandbytes", []
        notes.append("bitsandbytes NF4 is quantized as the weights load" if pid == "nf4" else
                     f"vLLM quantizes only to NF4 as weights load; {pid} needs a checkpoint saved in bitsandbytes "
                     f"{pid} (transformers' save_pretrained after loading it with BitsAndBytesConfig)")
    elif pid.startswith(("gptq-", "awq-")):
        method = pid.split("-")[0]
        args.append(ctx.checkpoint(pid))
        quant, extra = method, []
        if not ctx.stored_as:
            notes.append(f"needs a checkpoint in {method.upper()} format ({_group_note(pid)}): quantize with "
                         f"llm-compressor or GPTQModel into {ctx.checkpoint(pid)}, or use a published "
                         f"{method.upper()} repo of this model")
        notes.append(f"vLLM picks its {method}_marlin kernel on Ampere and newer")
    elif pid.startswith("int4-"):
        args.append(ctx.checkpoint(pid))
        quant, extra = "compressed-tensors", []
        notes.append(f"needs a W4A16 checkpoint with {_group_note(pid)} (llm-compressor's W4A16 scheme) in "
                     f"{ctx.checkpoint(pid)}")
    elif pid in ("mxfp4", "nvfp4"):
        args.append(ctx.checkpoint(pid))
        quant, extra = ("mxfp4" if pid == "mxfp4" else "modelopt_fp4"), []
        notes.append("needs a checkpoint already in this format (gpt-oss ships MXFP4; NVIDIA Model Optimizer "
                     "writes NVFP4); native FP4 kernels need Blackwell (compute capability 10.0)")
    elif pid in GGUF_TYPES:
        gguf = _gguf_file(ctx)
        args.append(gguf)
        extra = ["--tokenizer", ctx.repo] if not ctx.is_gguf else []
        notes.append("vLLM's GGUF support is experimental and single-file (merge split files with "
                     "llama-gguf-split --merge); llama.cpp is the native engine for GGUF")
    else:
        return _cannot("vllm", title, f"vLLM has no kernels for {pid}")
    if quant:
        args += ["--quantization", quant]
    args += extra
    lay = ctx.lay
    if lay.tensor_parallel > 1:
        args += ["--tensor-parallel-size", str(lay.tensor_parallel)]
    if lay.pipeline_parallel > 1:
        args += ["--pipeline-parallel-size", str(lay.pipeline_parallel)]
    args += ["--max-model-len", str(ctx.context)]
    if ctx.batch > 1:
        args += ["--max-num-seqs", str(ctx.batch)]
    if ctx.kv == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    elif ctx.kv not in ("fp16", "bf16"):
        notes.append(f"vLLM keeps the KV cache in 16-bit or fp8, not {ctx.kv}: use --kv-cache-dtype fp8 for the "
                     "same bytes as an 8-bit cache")
    util, why = _utilization(ctx)
    args += ["--gpu-memory-utilization", f"{util:.2f}"]
    if why:
        notes.append(why)
    if lay.kind == "offload" and lay.host_bytes:
        args += ["--cpu-offload-gb", str(math.ceil(lay.host_bytes / 2**30))]
        notes.append("--cpu-offload-gb streams the offloaded weights over PCIe on every step: expect far lower "
                     "speed than the planned GPU-only figure")
    return Deployment("vllm", title, _shell(args, head=3), "shell", tuple(notes))


def _utilization(ctx: _Context) -> tuple[float, str]:
    """vLLM's share of VRAM: the workload's setting, else 0.90 unless the plan needs more of the card."""
    set_to = ctx.workload.get("gpu_memory_utilization")
    if set_to:
        return float(set_to), ""
    per = (ctx.option.get("per_gpu") or {}).get("total")
    mem = ctx.option.get("gpu_memory_bytes")
    if per and mem and per > VLLM_DEFAULT_UTILIZATION * mem:
        need = min(0.98, math.ceil(per / mem * 100 + 1) / 100)
        return need, (f"the plan needs {per / mem:.0%} of each GPU, above vLLM's default share of 90%: "
                      "close other GPU users")
    return VLLM_DEFAULT_UTILIZATION, ""


def _group_note(pid: str) -> str:
    m = re.search(r"(\d+)bit", pid) or re.search(r"int(\d+)", pid)
    g = re.search(r"g(\d+)$", pid)
    bits = m.group(1) if m else "4"
    return f"{bits}-bit, " + (f"group size {g.group(1)}" if g else "no groups")


# -- TGI --------------------------------------------------------------------------------------------------------

TGI_QUANTIZE = {"fp8": "fp8", "int8": "bitsandbytes", "nf4": "bitsandbytes-nf4", "fp4": "bitsandbytes-fp4"}


def _tgi(ctx: _Context) -> Deployment:
    title = "Text Generation Inference (TGI)"
    blocked = _common_blockers(ctx, title, "tgi")
    if blocked:
        return blocked
    pid, notes = ctx.pid, []
    if ctx.lay.kind == "offload":
        return _cannot("tgi", title, "TGI keeps every layer on the GPUs (no CPU offload); use llama.cpp with -ngl")
    if ctx.lay.pipeline_parallel > 1:
        notes.append(f"TGI shards tensor-parallel only: {ctx.lay.gpus} shards must divide the attention heads")
    model = ctx.repo
    if pid in ("fp16", "bf16"):
        quant = None
    elif pid in TGI_QUANTIZE:
        quant = TGI_QUANTIZE[pid]
        notes.append(f"--quantize {quant} quantizes the 16-bit weights as they load")
    elif pid.startswith(("gptq-", "awq-")):
        quant, model = pid.split("-")[0], ctx.checkpoint(pid)
        if not ctx.stored_as:
            notes.append(f"needs a pre-quantized {quant.upper()} checkpoint ({_group_note(pid)}) in {model}")
    elif pid.startswith("int4-"):
        quant, model = "compressed-tensors", ctx.checkpoint(pid)
        notes.append(f"needs a W4A16 compressed-tensors checkpoint ({_group_note(pid)}) from llm-compressor")
    elif pid == "fp32":
        return _cannot("tgi", title, "TGI serves float16 / bfloat16 weights, not float32")
    elif pid in GGUF_TYPES:
        return _cannot("tgi", title, "TGI's CUDA backend loads safetensors, not GGUF; llama.cpp serves this file")
    else:
        return _cannot("tgi", title, f"TGI has no {pid} kernels")
    shards = ctx.lay.gpus
    args = ["docker", "run", "--gpus", "all", "--shm-size", "1g", "-p", "8080:80", "-v", "$PWD/data:/data",
            TGI_IMAGE, "--model-id", model]
    if pid in ("fp16", "bf16"):
        args += ["--dtype", FLOAT_DTYPES[pid]]
    if quant:
        args += ["--quantize", quant]
    if shards > 1:
        args += ["--num-shard", str(shards)]
    args += ["--max-input-tokens", str(max(1, ctx.context - 1)), "--max-total-tokens", str(ctx.context)]
    if ctx.kv == "fp8":
        args += ["--kv-cache-dtype", "fp8_e4m3fn"]
    elif ctx.kv not in ("fp16", "bf16"):
        notes.append(f"TGI's KV cache is 16-bit or fp8 (--kv-cache-dtype fp8_e4m3fn), not {ctx.kv}")
    text = _shell(args, head=2).replace("'$PWD/data:/data'", "$PWD/data:/data")
    return Deployment("tgi", title, text, "shell", tuple(notes))


# -- llama.cpp --------------------------------------------------------------------------------------------------

def _gguf_file(ctx: _Context) -> str:
    if ctx.is_gguf:
        return str(ctx.model.get("id"))
    return f"{ctx.name}-{GGUF_TYPES.get(ctx.pid, ctx.pid.upper())}.gguf"


def _llamacpp(ctx: _Context) -> Deployment:
    title = "llama.cpp (llama-server)"
    blocked = _common_blockers(ctx, title, "llamacpp")
    if blocked:
        return blocked
    pid, notes = ctx.pid, []
    if pid not in GGUF_TYPES and not (ctx.is_gguf and ctx.stored_as):
        return _cannot("llamacpp", title, f"llama.cpp runs GGUF types only, not {pid}; plan a GGUF type of similar "
                                          "size (q4_k_m for 4-bit, q8_0 for 8-bit)")
    gguf = _gguf_file(ctx)
    if not ctx.is_gguf:
        ftype = GGUF_TYPES[pid]
        notes.append(f"make the file: python convert_hf_to_gguf.py <{ctx.name} folder> --outtype bf16 --outfile "
                     f"{ctx.name}-BF16.gguf, then llama-quantize {ctx.name}-BF16.gguf {gguf} {ftype}"
                     if pid not in FLOAT_DTYPES else
                     f"make the file: python convert_hf_to_gguf.py <{ctx.name} folder> --outtype {ftype.lower()}")
    if pid == "mxfp4":
        notes.append("MXFP4 in llama.cpp covers the expert tensors of MoE models such as gpt-oss")
    lay = ctx.lay
    args = ["llama-server", "-m", gguf, "-c", str(ctx.context * ctx.batch)]
    if ctx.batch > 1:
        args += ["-np", str(ctx.batch)]
        notes.append(f"-c is shared by the {ctx.batch} parallel slots (-np): {ctx.context:,} tokens each")
    if lay.kind == "offload" and lay.gpu_layers is not None:
        args += ["-ngl", str(lay.gpu_layers)]
        notes.append(f"{lay.gpu_layers} of {lay.total_layers} layers on the GPU; the rest run from system RAM "
                     "(decode is bound by host memory bandwidth)")
    else:
        args += ["-ngl", "999"]
    if lay.gpus > 1:
        args += ["--split-mode", "layer", "--tensor-split", ",".join(["1"] * lay.gpus)]
    args += ["-fa", "on" if ctx.workload.get("flash_attention", True) else "off"]
    if ctx.kv in LLAMACPP_KV:
        cache = LLAMACPP_KV[ctx.kv]
        if cache:
            args += ["--cache-type-k", cache, "--cache-type-v", cache]
            if ctx.kv in ("int8", "int4"):
                notes.append(f"llama.cpp's nearest cache type to {ctx.kv} is {cache}")
            if cache.startswith("q") and not ctx.workload.get("flash_attention", True):
                notes.append("a quantized V cache needs flash attention (-fa on)")
    else:
        notes.append(f"llama.cpp has no {ctx.kv} KV cache; use q8_0 for an 8-bit cache")
    return Deployment("llamacpp", title, _shell(args, head=1), "shell", tuple(notes))


# -- transformers -----------------------------------------------------------------------------------------------

def _transformers(ctx: _Context) -> Deployment:
    title = "transformers"
    if ctx.lay.kind == "too_large":
        return _cannot("transformers", title, "the plan found no GPU count that holds this precision")
    pid, notes = ctx.pid, []
    imports = ["import torch", "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    config_lines: list[str] = []
    kwargs = ['device_map="auto"']
    model = ctx.repo
    if pid in FLOAT_DTYPES:
        kwargs.append(f"torch_dtype=torch.{FLOAT_DTYPES[pid]}")
    elif pid in ("nf4", "fp4"):
        imports[1] += ", BitsAndBytesConfig"
        config_lines = ["quant = BitsAndBytesConfig(", "    load_in_4bit=True,", f'    bnb_4bit_quant_type="{pid}",',
                        "    bnb_4bit_use_double_quant=True,", "    bnb_4bit_compute_dtype=torch.bfloat16,", ")"]
        kwargs.append("quantization_config=quant")
    elif pid == "int8":
        imports[1] += ", BitsAndBytesConfig"
        config_lines = ["quant = BitsAndBytesConfig(load_in_8bit=True)  # LLM.int8(), outlier threshold 6.0"]
        kwargs.append("quantization_config=quant")
    elif pid.startswith("gptq-") and not ctx.stored_as:
        imports[1] += ", GPTQConfig"
        bits = re.search(r"(\d+)bit", pid)
        g = re.search(r"g(\d+)$", pid)
        group = g.group(1) if g else -1
        config_lines = [f"tokenizer = AutoTokenizer.from_pretrained({model!r})",
                        f"quant = GPTQConfig(bits={bits.group(1) if bits else 4}, group_size={group}, "
                        'dataset="c4", tokenizer=tokenizer)']
        kwargs.append("quantization_config=quant")
        notes.append("quantizes with GPTQ on load (needs gptqmodel and optimum; minutes to hours for large models); "
                     "save_pretrained() keeps the result")
    elif pid.startswith(("gptq-", "awq-")):
        model, method = ctx.checkpoint(pid), pid.split("-")[0].upper()
        notes.append(f"loads the checkpoint in {method} format ({_group_note(pid)}) with gptqmodel / autoawq kernels"
                     if ctx.stored_as else
                     f"needs a checkpoint in {method} format ({_group_note(pid)}) in {model}: quantize with "
                     "llm-compressor or GPTQModel; loading it needs gptqmodel / autoawq")
    elif pid == "fp8":
        imports[1] += ", FineGrainedFP8Config"
        config_lines = ["quant = FineGrainedFP8Config()  # FP8 weights, quantized as they load"]
        kwargs.append("quantization_config=quant")
        notes.append("FP8 matmuls need compute capability 8.9+ (Ada, Hopper)")
    elif pid.startswith("int4-"):
        g = re.search(r"g(\d+)$", pid)
        imports[1] += ", TorchAoConfig"
        imports.append("from torchao.quantization import Int4WeightOnlyConfig")
        config_lines = [f"quant = TorchAoConfig(Int4WeightOnlyConfig(group_size={g.group(1) if g else 128}))"]
        kwargs.append("quantization_config=quant")
    else:
        why = ("transformers dequantizes GGUF files to 16/32-bit on load, so memory would not be as planned"
               if pid in GGUF_TYPES else f"transformers has no loader that keeps {pid} weights in this format")
        return _cannot("transformers", title, why)
    lay = ctx.lay
    if lay.kind == "offload" and lay.host_bytes:
        per_gib = (ctx.option.get("usable_bytes") or ctx.option.get("gpu_memory_bytes") or 0) // 2**30
        host_gib = math.ceil(lay.host_bytes / 2**30) + 2
        kwargs.append("max_memory={" + ", ".join([f'{i}: "{per_gib}GiB"' for i in range(max(1, lay.gpus))]
                                                 + [f'"cpu": "{host_gib}GiB"']) + "}")
        notes.append("layers beyond max_memory run from system RAM (accelerate offload): much slower than the GPU")
    elif lay.gpus > 1:
        notes.append(f"device_map=\"auto\" splits the layers over the {lay.gpus} GPUs one after another (no tensor "
                     "parallelism): memory as planned, speed of one GPU at a time")
    lines = imports + [""] + config_lines
    lines += ["model = AutoModelForCausalLM.from_pretrained(", f"    {model!r},"]
    lines += [f"    {k}," for k in kwargs] + [")"]
    if not any(line.startswith("tokenizer =") for line in config_lines):
        lines.append(f"tokenizer = AutoTokenizer.from_pretrained({ctx.repo!r})")
    if ctx.training and pid in ("nf4", "fp4"):
        notes.append("for QLoRA: peft.prepare_model_for_kbit_training(model), then get_peft_model with a LoraConfig")
    return Deployment("transformers", title, "\n".join(lines), "python", tuple(notes))
