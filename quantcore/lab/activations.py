"""Inputs for test-runs and sensitivity: real activations captured from the model, or synthetic ones with outliers.

Real: the model folder is loaded with transformers (AutoModel, local files only, float32, CPU; never
trust_remote_code), forward pre-hooks on the wanted nn.Linear modules record their inputs over a few built-in
sentences, one sentence per forward (no padding). Synthetic (the model cannot be loaded here): Gaussian activations
with a few outlier channels of large, fixed-sign magnitude, the pattern LLM.int8() (arXiv 2208.07339) reports.

This is the lab's minimal capture; the GPTQ/AWQ work brings a fuller one (lab/calibration.py) that can replace it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from quantcore.errors import BadInputError
from quantcore.lab.histogram import CancelledError

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, float], None]
MAX_MODEL_BYTES = 4 * 2**30  # larger models are not loaded whole for a capture: synthetic inputs instead
SOURCES = ("auto", "real", "synthetic")

SENTENCES = (
    "A lighthouse stood on the cliff, and its lamp turned slowly through the fog all night.",
    "The compiler reported three warnings but no errors, so the build finished in forty seconds.",
    "Prices for wheat and corn fell sharply after the harvest turned out larger than expected.",
    "She tuned the violin, checked the score once more and walked out onto the stage.",
    "for (int i = 0; i < n; ++i) { total += values[i] * weights[i]; }",
    "Volcanic soil is rich in minerals, which is why vineyards often grow on old lava fields.",
    "The train from Lyon was delayed by twenty minutes because of a signal failure near Dijon.",
    "Neural networks store what they learn in millions of weights arranged as large matrices.",
    "Could you send me the minutes of yesterday's meeting before noon, please?",
    "The museum reopened after two years of renovation with a new wing for modern sculpture.",
    "In winter the lake freezes solid and people skate from one village to the next.",
    "Error 503: the service is temporarily unavailable; retry the request in a few seconds.",
    "Mitochondria turn nutrients into the energy a cell uses to build proteins and divide.",
    "The referee blew the whistle, and the crowd fell silent as the penalty was taken.",
    "Add the onions to the pan, stir for five minutes, then pour in the tomatoes and basil.",
    "Over the next decade the city plans to plant forty thousand trees along its avenues.",
)


@dataclass(frozen=True)
class Activations:
    """Inputs of linear layers: module name (e.g. "encoder.layer.0.attention.self.query") -> (tokens, in)."""

    inputs: Mapping[str, torch.Tensor]
    kind: str  # "real" | "synthetic"
    description: str  # "real: 212 tokens from 16 sentences" / "synthetic with outlier channels (...)"

    def for_weight(self, tensor_name: str) -> torch.Tensor | None:
        """The inputs of the layer that owns a weight ("....query.weight" -> the query projection's inputs)."""
        return self.inputs.get(module_of(tensor_name))


def module_of(tensor_name: str) -> str:
    return tensor_name.removesuffix(".weight")


class ActivationsUnavailable(Exception):
    """Real activations cannot be captured here; says why (the caller falls back to synthetic inputs)."""


def model_folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def capture(model_path: Path, modules: Iterable[str], max_tokens: int = 512,
            progress: Progress | None = None, cancel: threading.Event | None = None) -> Activations:
    """Real inputs of the named nn.Linear modules over the built-in sentences (at most max_tokens tokens)."""
    with _CAPTURE_LOCK:  # one capture at a time: hooks on a shared (cached) model would see each other's passes
        return _capture(Path(model_path), set(modules), max_tokens, progress, cancel)


_CAPTURE_LOCK = threading.Lock()


def _capture(model_path: Path, wanted: set[str], max_tokens: int, progress: Progress | None,
             cancel: threading.Event | None) -> Activations:
    import torch

    model, tokenizer = _load(model_folder(model_path))
    got: dict[str, list[torch.Tensor]] = {m: [] for m in wanted}
    handles = []
    for name, mod in model.named_modules():
        # AutoModel drops the task wrapper's "model." prefix that checkpoint tensor names may carry
        key = next((k for k in (name, name.removeprefix("model."), f"model.{name}") if k in wanted), None)
        if key is not None and isinstance(mod, torch.nn.Linear):
            handles.append(mod.register_forward_pre_hook(
                lambda _m, args, k=key: got[k].append(args[0].detach().reshape(-1, args[0].shape[-1]).float().clone())))
    tokens = used = 0
    try:
        with torch.inference_mode():
            for text in SENTENCES:
                if cancel is not None and cancel.is_set():
                    raise CancelledError("cancelled while capturing activations")
                left = max_tokens - tokens
                if left < 2:
                    break
                enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=left)
                model(**enc)
                tokens += int(enc["input_ids"].shape[-1])
                used += 1
                if progress is not None:
                    progress(f"activations: {tokens} tokens from {used} sentences", min(1.0, tokens / max_tokens))
    finally:
        for h in handles:
            h.remove()
    missing = sorted(m for m, xs in got.items() if not xs)
    if missing:
        raise ActivationsUnavailable(f"{len(missing)} layer(s) not reached by the model's forward, e.g. {missing[0]}")
    inputs = {m: torch.cat(xs) for m, xs in got.items()}
    return Activations(inputs, "real", f"real: {tokens} tokens from {used} sentences")


_LOADED: dict[tuple[str, float, int], tuple[object, object]] = {}  # the last small model, kept for the next capture
KEEP_LOADED_BYTES = 512 * 2**20


def _load(folder: Path) -> tuple[object, object]:
    """(model in eval mode, float32, CPU; tokenizer) from a local folder, or ActivationsUnavailable. The last model
    of at most KEEP_LOADED_BYTES stays loaded (same folder, same files: the next capture skips the load)."""
    weights = list(folder.glob("*.safetensors"))
    key = (str(folder.resolve()), max((f.stat().st_mtime for f in weights), default=0.0),
           sum(f.stat().st_size for f in weights))
    if key in _LOADED:
        return _LOADED[key]
    got = _load_uncached(folder)
    _LOADED.clear()
    if key[2] <= KEEP_LOADED_BYTES:
        _LOADED[key] = got
    return got


def _load_uncached(folder: Path) -> tuple[object, object]:
    if not (folder / "config.json").is_file():
        raise ActivationsUnavailable(f"{folder} has no config.json")
    weights = list(folder.glob("*.safetensors"))
    if not weights:
        raise ActivationsUnavailable(f"{folder} has no .safetensors weights")
    size = sum(f.stat().st_size for f in weights)
    if size > MAX_MODEL_BYTES:
        raise ActivationsUnavailable(f"the model is {size / 2**30:.1f} GiB, over the {MAX_MODEL_BYTES / 2**30:.0f} "
                                     "GiB this machine loads for a capture")
    try:
        import logging

        import torch

        for noisy in ("torch.utils._pytree", "torchao"):  # import-time notices of an optional torchao
            logging.getLogger(noisy).setLevel(logging.ERROR)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    except ImportError as exc:
        raise ActivationsUnavailable(f"transformers is not installed ({exc})") from exc
    except Exception as exc:  # any failure to build the model means: no real activations here
        raise ActivationsUnavailable(f"transformers cannot load {folder.name}: "
                                     f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from exc
    return model.eval(), tokenizer


def synthetic_inputs(width: int, tokens: int, seed: int = 0, outlier_scale: float = 20.0) -> torch.Tensor:
    """(tokens, width) standard-normal activations whose outlier channels (1 in 256, at least 2) carry values
    ~outlier_scale with a fixed sign per channel, as LLM.int8() finds in real transformers."""
    import torch

    if width <= 0 or tokens <= 0:
        raise BadInputError(f"synthetic inputs need a positive width and token count (got {width} x {tokens})")
    gen = torch.Generator().manual_seed(seed * 7919 + width)
    x = torch.randn(tokens, width, generator=gen)
    n = min(width, max(2, width // 256))
    channels = torch.randperm(width, generator=gen)[:n]
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    x[:, channels] = sign * outlier_scale * (1.0 + 0.2 * torch.rand(tokens, n, generator=gen))
    return x


def synthetic(widths: Mapping[str, int], tokens: int, why: str = "") -> Activations:
    """Synthetic inputs for each module (name -> input width); modules of equal width share one tensor."""
    by_width: dict[int, torch.Tensor] = {}
    inputs = {}
    for name, width in widths.items():
        if width not in by_width:
            by_width[width] = synthetic_inputs(width, tokens)
        inputs[name] = by_width[width]
    desc = f"synthetic with outlier channels ({tokens} tokens)" + (f"; {why}" if why else "")
    return Activations(inputs, "synthetic", desc)


def activations_for(model_path: Path | None, widths: Mapping[str, int], source: str = "auto", tokens: int = 256,
                    progress: Progress | None = None, cancel: threading.Event | None = None) -> Activations:
    """Inputs of the named modules (module name -> input width): real when source is "auto" or "real" and the
    model loads here ("real" raises when it does not), synthetic otherwise (the description says why)."""
    if source not in SOURCES:
        raise BadInputError(f"unknown calibration '{source}'; use {', '.join(SOURCES)}")
    if source == "synthetic" or model_path is None:
        return synthetic(widths, tokens, "" if source == "synthetic" else "no model files")
    try:
        return capture(Path(model_path), widths, tokens, progress, cancel)
    except ActivationsUnavailable as exc:
        if source == "real":
            raise BadInputError(f"real activations are not available: {exc}; use synthetic calibration") from None
        return synthetic(widths, tokens, str(exc))
