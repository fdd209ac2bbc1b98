"""The current request (model, workload, GPUs, units) as one object that signals when it changes."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from quantcore.planner.workload import Workload

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B"
DEFAULT_GPUS = ("rtx-4090",)


@dataclass(frozen=True)
class Request:
    """Everything a plan depends on that the user chooses."""

    model: str = DEFAULT_MODEL
    workload: Workload = Workload()
    gpus: tuple[str, ...] = DEFAULT_GPUS
    unit: str = "GiB"
    hidden_precisions: tuple[str, ...] = ()  # precision ids the user unticked; the rest are planned


class AppState(QObject):
    """Holds the Request; `changed` fires after every edit, `model_changed` when the model spec changes."""

    changed = Signal()
    model_changed = Signal(str)

    def __init__(self, request: Request | None = None) -> None:
        super().__init__()
        self.request = request or Request()
        self.use_hub = False  # how the last set_model wants a repo id resolved: Hub first, or bundled config

    def set_model(self, spec: str, use_hub: bool = True) -> None:
        """Ask for another model; use_hub=False resolves a bundled id from its bundled config (offline, instant)."""
        if spec and spec != self.request.model:
            self.use_hub = use_hub
            self.request = replace(self.request, model=spec)
            self.model_changed.emit(spec)

    def set_workload(self, **changes: Any) -> None:
        """Change workload fields; an invalid combination raises the engine's BadInputError and changes nothing."""
        workload = replace(self.request.workload, **changes)
        if workload != self.request.workload:
            self.request = replace(self.request, workload=workload)
            self.changed.emit()

    def set_gpus(self, gpus: tuple[str, ...]) -> None:
        if gpus != self.request.gpus:
            self.request = replace(self.request, gpus=gpus)
            self.changed.emit()

    def set_hidden_precisions(self, hidden: tuple[str, ...]) -> None:
        if hidden != self.request.hidden_precisions:
            self.request = replace(self.request, hidden_precisions=hidden)
            self.changed.emit()

    def set_unit(self, unit: str) -> None:
        if unit != self.request.unit:
            self.request = replace(self.request, unit=unit)
            self.changed.emit()
