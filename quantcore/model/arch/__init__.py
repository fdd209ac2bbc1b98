"""Analytic model inventories from config.json, one builder per architecture family (model_type)."""
from __future__ import annotations

from typing import Any, Callable

from quantcore.errors import ModelFileError, UnsupportedArchitectureError
from quantcore.model.arch._keys import spelled_aliases, text_model, with_aliases
from quantcore.model.bounds import check_inventory, config_int, show
from quantcore.model.inventory import Architecture, Inventory, TensorInfo

Builder = Callable[[dict[str, Any]], tuple[Architecture, list[TensorInfo]]]
FAMILIES: dict[str, Builder] = {}


def register(*model_types: str) -> Callable[[Builder], Builder]:
    """Decorator: make `builder` the analytic family for these model_type values."""

    def wrap(builder: Builder) -> Builder:
        for mt in model_types:
            FAMILIES[mt] = builder
        return builder

    return wrap


def supported_families() -> tuple[str, ...]:
    _load_families()
    return tuple(sorted(FAMILIES))


def inventory_from_config(config: dict[str, Any], model_id: str = "config.json") -> Inventory:
    """Exact parameter inventory of the model that `config` describes (as transformers builds it)."""
    _load_families()
    if not isinstance(config, dict):
        raise ModelFileError(f"{model_id}: config.json must be a JSON object, not {type(config).__name__}")
    mt = config.get("model_type")
    if not mt:
        raise ModelFileError(f"{model_id}: config.json has no 'model_type'; is this a model config?")
    if not isinstance(mt, str):
        raise ModelFileError(f"{model_id}: config.json 'model_type' must be text, not {show(mt)}")
    notes: tuple[str, ...] = ()
    if mt not in FAMILIES:
        nested = text_model(config, set(FAMILIES))  # a multimodal config: its text model, when we build that
        if nested is not None:
            config, note = nested
            mt, notes = config["model_type"], (note,)
    given = config
    config = with_aliases(config)  # transformers' attribute_map aliases and 4.x / 5.x spellings
    builder = FAMILIES.get(mt)
    if builder is None:
        raise UnsupportedArchitectureError(
            f"{model_id}: model_type '{mt[:100]}' is not supported from config.json; supported: "
            + ", ".join(sorted(FAMILIES))
            + " (or point at the model's .safetensors files for an exact count)"
        )
    try:
        for key in spelled_aliases(given):  # checked under the name the file gives (the bounds table)
            config_int(key, given[key])
        arch, tensors = builder(config)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{model_id}: config.json for '{mt}' is missing or has a bad field: {exc}") from None
    for t in tensors:
        if any((not isinstance(d, int)) or d <= 0 for d in t.shape):
            raise ModelFileError(f"{model_id}: config.json gives tensor {t.name} a bad shape {t.shape}")
    return check_inventory(Inventory(id=model_id, source="config", tensors=tuple(tensors), arch=arch, notes=notes),
                           f"{model_id}: config.json")


_loaded = False


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _loaded = True
