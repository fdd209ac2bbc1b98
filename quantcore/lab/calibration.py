"""Calibration inputs for GPTQ / AWQ: each linear layer's real inputs, captured from the model, or synthetic ones.

Real: the model folder is loaded with transformers (AutoModel + AutoTokenizer, local files only, never
trust_remote_code), a forward pre-hook on every nn.Linear records its input for a few sentences, one sentence per
forward (no padding tokens), up to `max_tokens` tokens. Synthetic (the model cannot be loaded here): correlated
Gaussian activations with a few outlier channels of large, consistent magnitude, the pattern LLM.int8()
(arXiv 2208.07339) describes: ~0.15% of hidden dimensions carrying values beyond 6 in most tokens.
The result says which it is ("real: N tokens from K sentences" / "synthetic with outlier channels ...").
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, float], None]

# A small built-in corpus: calibration must run offline. Varied registers (prose, code, numbers, dialogue).
SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Quantization maps each weight to one of a few levels and stores a scale per group.",
    "In 1969, two astronauts walked on the Moon while a third orbited above them.",
    "def add(a, b):\n    return a + b  # a tiny Python function",
    "She asked whether the train to Zurich would leave on time despite the snow.",
    "Photosynthesis converts light, water and carbon dioxide into sugar and oxygen.",
    "The committee postponed its decision until the auditors had reviewed the accounts.",
    "Mix two cups of flour with one teaspoon of salt, then add warm water slowly.",
    "GPU memory holds the weights, the key-value cache and the activations of a batch.",
    "Why do cats purr? Nobody is entirely sure, but it may help them heal.",
    "The river Rhine flows from the Swiss Alps to the North Sea through six countries.",
    "Error: file not found (code 404). Please check the path and try again.",
    "A matrix is invertible exactly when its determinant is different from zero.",
    "He played the cello every evening, and the neighbours never once complained.",
    "Interest rates rose by a quarter of a percentage point in the third quarter.",
    "The museum's new wing displays ceramics from the Ming and Qing dynasties.",
    "SELECT name, price FROM products WHERE price > 100 ORDER BY price DESC;",
    "Bees communicate the direction of flowers through a waggle dance.",
    "The treaty was signed in Vienna, but it took years before every state ratified it.",
    "Fresh snow reflects up to ninety percent of the sunlight that reaches it.",
    "Please remember to water the tomatoes while I am away next week.",
    "The algorithm runs in O(n log n) time and needs only linear extra memory.",
    "Thunder is the sound of air expanding suddenly around a bolt of lightning.",
    "Our team won the final three to one after extra time in a packed stadium.",
    "Large language models predict the next token from the ones that came before.",
    "The old lighthouse keeper logged every ship that passed during the storm.",
    "Vaccines train the immune system to recognise a pathogen without causing disease.",
    "Il pleuvait depuis trois jours quand le facteur arriva enfin au village.",
    "The spreadsheet showed revenue of 4.2 million euros, up 12% from last year.",
    "Glaciers carve U-shaped valleys, while rivers tend to cut V-shaped ones.",
    "To reset the router, hold the button for ten seconds until the light blinks.",
    "The poem compares memory to a house whose rooms slowly fill with dust.",
    "Electrons in a metal move freely, which is why metals conduct electricity well.",
    "The bakery on the corner sells sourdough bread until about noon each day.",
    "for i in range(10): print(i * i)",
    "The senator's speech focused on housing, transport and the cost of energy.",
    "Octopuses have three hearts and blue blood rich in copper-based hemocyanin.",
    "The library extended its opening hours during the examination period.",
    "Compound interest makes savings grow faster the earlier one starts.",
    "At dawn the valley filled with fog, and only the church tower stood above it.",
    "Wind turbines convert the kinetic energy of moving air into electricity.",
    "The detective noticed that the clock had stopped at exactly a quarter past nine.",
    "Sorting a list of a million numbers takes well under a second on a laptop.",
    "The orchestra tuned to the oboe's A before the conductor raised the baton.",
    "Migratory birds navigate using the Earth's magnetic field and the stars.",
    "Press Ctrl+S to save the document, or Ctrl+Z to undo the last change.",
    "The recipe calls for three eggs, butter, sugar and a pinch of cinnamon.",
    "Tides are caused mainly by the gravitational pull of the Moon on the oceans.",
)


@dataclass(frozen=True)
class Calibration:
    """Inputs of linear layers: module name (e.g. "encoder.layer.0.attention.self.query") -> [tokens, in]."""

    inputs: Mapping[str, torch.Tensor]
    kind: str  # "real" | "synthetic"
    description: str  # "real: 612 tokens from 32 sentences" / "synthetic with outlier channels (...)"
    tokens: int
    sentences: int = 0

    def input_for(self, tensor_name: str) -> torch.Tensor | None:
        """The inputs of the layer that owns a weight ("....query.weight" -> the query projection's inputs)."""
        name = tensor_name.removesuffix(".weight")
        got = self.inputs.get(name)
        if got is None and name.startswith("model."):
            got = self.inputs.get(name.removeprefix("model."))
        return got


class CalibrationUnavailable(Exception):
    """Real activations cannot be captured here (no loadable model, tokenizer or transformers); says why."""


def capture(model_dir: str | Path, *, sentences: Sequence[str] = SENTENCES, max_tokens: int = 1024,
            modules: Callable[[str], bool] | None = None, max_model_bytes: int = 2 * 2**30,
            progress: Progress | None = None, cancel: threading.Event | None = None) -> Calibration:
    """Real inputs of the model's nn.Linear layers on `sentences` (at most max_tokens tokens in all).

    modules: a filter on module names (default: every nn.Linear). Layers fed the same tensor (q, k, v) share one
    stored copy. Raises CalibrationUnavailable when the model cannot be loaded here.
    """
    with _CAPTURE_LOCK:  # one capture at a time: hooks on a shared (cached) model would see each other's passes
        return _capture(Path(model_dir), sentences, max_tokens, modules, max_model_bytes, progress, cancel)


_CAPTURE_LOCK = threading.Lock()


def _capture(model_dir: Path, sentences: Sequence[str], max_tokens: int, modules: Callable[[str], bool] | None,
             max_model_bytes: int, progress: Progress | None, cancel: threading.Event | None) -> Calibration:
    import torch

    model, tokenizer = _load(model_dir, max_model_bytes)
    chunks: dict[int, torch.Tensor] = {}  # id of a captured input -> its float32 [tokens, in] copy
    keys: dict[str, list[int]] = {}
    seen: dict[int, tuple[int, torch.Tensor]] = {}  # id of a tensor fed in this forward -> (key, the tensor)

    def hook_for(name: str) -> Callable:
        def hook(_module: torch.nn.Module, args: tuple) -> None:
            x = args[0]
            hit = seen.get(id(x))  # seen holds the tensor itself, so an id is never reused within a forward
            if hit is None:
                hit = seen[id(x)] = (len(chunks), x)
                chunks[hit[0]] = x.detach().reshape(-1, x.shape[-1]).to(torch.float32).clone()
            keys.setdefault(name, []).append(hit[0])
        return hook

    handles = [mod.register_forward_pre_hook(hook_for(name)) for name, mod in model.named_modules()
               if isinstance(mod, torch.nn.Linear) and (modules is None or modules(name))]
    tokens = used = 0
    try:
        with torch.inference_mode():
            for text in sentences:
                if cancel is not None and cancel.is_set():
                    break
                left = max_tokens - tokens
                if left <= 1:
                    break
                enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=left)
                seen.clear()
                model(**enc)
                tokens += int(enc["input_ids"].shape[-1])
                used += 1
                if progress is not None:
                    progress(f"calibration: {tokens} tokens from {used} sentences", min(1.0, tokens / max_tokens))
    finally:
        for h in handles:
            h.remove()
    if used == 0:
        raise CalibrationUnavailable("no sentence could be run through the model")
    merged: dict[tuple[int, ...], torch.Tensor] = {}
    inputs = {}
    for name, ks in keys.items():
        k = tuple(ks)
        if k not in merged:
            merged[k] = torch.cat([chunks[i] for i in k])
        inputs[name] = merged[k]
    return Calibration(inputs, "real", f"real: {tokens} tokens from {used} sentences", tokens, used)


_LOADED: dict[tuple[str, float, int], tuple[object, object]] = {}  # the last small model, kept for the next capture
KEEP_LOADED_BYTES = 512 * 2**20


def _load(folder: Path, max_model_bytes: int) -> tuple[object, object]:
    """(model in eval mode, float32, CPU; tokenizer) from a local folder, or CalibrationUnavailable. The last model
    of at most KEEP_LOADED_BYTES stays loaded (same folder, same files: the next capture skips the load)."""
    weights = list(folder.glob("*.safetensors"))
    key = (str(folder.resolve()), max((f.stat().st_mtime for f in weights), default=0.0),
           sum(f.stat().st_size for f in weights))
    if key in _LOADED:
        return _LOADED[key]
    got = _load_uncached(folder, max_model_bytes)
    _LOADED.clear()
    if key[2] <= KEEP_LOADED_BYTES:
        _LOADED[key] = got
    return got


def check_folder(folder: Path) -> None:
    """CalibrationUnavailable when transformers should not open this folder (lab/hf_folder.py says why)."""
    from quantcore.lab.hf_folder import folder_problem

    why = folder_problem(folder)
    if why:
        raise CalibrationUnavailable(why)


def _load_uncached(folder: Path, max_model_bytes: int) -> tuple[object, object]:
    from quantcore.sources.safe_io import probe

    if probe(folder / "config.json") != "file":
        raise CalibrationUnavailable(f"{folder} has no config.json")
    weights = list(folder.glob("*.safetensors"))
    if not weights:
        raise CalibrationUnavailable(f"{folder} has no .safetensors weights")
    size = sum(f.stat().st_size for f in weights)
    if size > max_model_bytes:
        raise CalibrationUnavailable(f"the model is {size / 2**30:.1f} GiB, over the {max_model_bytes / 2**30:.1f} "
                                     "GiB loaded for calibration")
    check_folder(folder)  # what transformers opens by name: regular files, bounded, a sane config.json
    try:
        import logging

        import torch

        for noisy in ("torch.utils._pytree", "torchao"):  # import-time notices of an optional torchao
            logging.getLogger(noisy).setLevel(logging.ERROR)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar under the CLI's own progress
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
        finally:
            if was_enabled:
                hf_logging.enable_progress_bar()
    except ImportError as e:
        raise CalibrationUnavailable(f"transformers is not installed ({e})") from e
    except Exception as e:  # any failure to build the model means: no real activations here
        raise CalibrationUnavailable(f"transformers cannot load {folder.name}: {str(e).splitlines()[0][:160]}") from e
    return model.eval(), tokenizer


def synthetic_inputs(in_features: int, tokens: int = 1024, *, seed: int = 0, outlier_share: float = 0.0015,
                     outlier_scale: float = 20.0) -> torch.Tensor:
    """[tokens, in] activations: correlated Gaussian (decaying spectrum) with outlier channels.

    max(2, round(outlier_share * in)) channels carry values ~outlier_scale times the others, with a fixed sign
    per channel (systematic outliers, as in LLM.int8()).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    rank = min(in_features, 64)
    spectrum = 1.0 / torch.arange(1, rank + 1, dtype=torch.float32).sqrt()
    basis = torch.randn(rank, in_features, generator=gen) * spectrum[:, None]
    x = torch.randn(tokens, rank, generator=gen) @ basis + 0.3 * torch.randn(tokens, in_features, generator=gen)
    x = x / x.std()
    n_out = min(in_features, max(2, round(outlier_share * in_features)))
    channels = torch.randperm(in_features, generator=gen)[:n_out]
    sign = torch.where(torch.rand(n_out, generator=gen) < 0.5, -1.0, 1.0)
    x[:, channels] = sign * outlier_scale * (1.0 + 0.25 * torch.randn(tokens, n_out, generator=gen).abs())
    return x


def synthetic(in_features: Mapping[str, int], tokens: int = 1024, *, seed: int = 0, why: str = "") -> Calibration:
    """Synthetic inputs for each named layer (name -> in_features); layers of equal width share one tensor."""
    by_width: dict[int, torch.Tensor] = {}
    inputs = {}
    for name, width in in_features.items():
        if width not in by_width:
            by_width[width] = synthetic_inputs(width, tokens, seed=seed + width)
        inputs[name] = by_width[width]
    desc = f"synthetic with outlier channels ({tokens} tokens per layer)" + (f"; {why}" if why else "")
    return Calibration(inputs, "synthetic", desc, tokens)


def calibration_for(model_dir: str | Path | None, in_features: Mapping[str, int], *, max_tokens: int = 1024,
                    sentences: Sequence[str] = SENTENCES, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> Calibration:
    """Real inputs when the model loads here (only the layers named in in_features), synthetic ones otherwise.

    in_features: module or weight name -> input width, e.g. {"encoder.layer.0.attention.self.query.weight": 384}.
    """
    wanted = {n.removesuffix(".weight"): w for n, w in in_features.items()}
    if model_dir is not None:
        try:
            cal = capture(model_dir, sentences=sentences, max_tokens=max_tokens, progress=progress, cancel=cancel,
                          modules=lambda name: name in wanted or f"model.{name}" in wanted)
        except CalibrationUnavailable as e:
            return synthetic(wanted, max_tokens, why=str(e))
        missing = [n for n in wanted if cal.input_for(n) is None]
        if not missing:
            return cal
        fill = synthetic({n: wanted[n] for n in missing}, max_tokens, why="")
        inputs = {**cal.inputs, **fill.inputs}
        desc = f"{cal.description}; synthetic with outlier channels for {len(missing)} layers not reached"
        return Calibration(inputs, "real", desc, cal.tokens, cal.sentences)
    return synthetic(wanted, max_tokens, why="no model files given")
