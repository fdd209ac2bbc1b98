"""Recomputes the plan when the request changes and loads models in workers, dropping stale results."""
from __future__ import annotations

import sys
import time
import traceback
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal

from app.state import AppState
from app.workers import Worker, unexpected_message
from quantcore.errors import QuantPlannerError, one_line
from quantcore.formats.catalog import precision_ids
from quantcore.model.inventory import Inventory
from quantcore.planner.hardware import GPU, find_gpu, load_gpus
from quantcore.planner.plan import Plan, make_plan
from quantcore.sources.hub import search_models
from quantcore.sources.source import load_model

DEBOUNCE_MS = 15


class Controller(QObject):
    """Owns the current Inventory and Plan. The Plan covers every catalog GPU (for the fit heatmap);
    `selected` are the indices of the GPUs the user chose, in the order chosen."""

    inventory_ready = Signal(object)
    plan_ready = Signal(object)
    error = Signal(str)
    busy = Signal(str)  # what is running, "" when idle
    progress = Signal(str, float)
    search_results = Signal(object)  # tuple[HubModel, ...]
    search_failed = Signal(str)

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.inventory: Inventory | None = None
        self.plan: Plan | None = None
        self.selected: tuple[int, ...] = ()
        self.last_recompute_ms = 0.0
        self.gpus: tuple[GPU, ...] = load_gpus()
        self.mixtures: tuple = ()  # the Lab's mixed-precision suggestion, planned as one more row
        self._generation = 0
        self._loaded_spec = ""
        self._worker: Worker | None = None
        self._search_generation = 0
        self._search_worker: Worker | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.recompute)
        state.changed.connect(self.schedule)
        state.model_changed.connect(self.load)

    # --- models ---------------------------------------------------------------------------------------------
    def load(self, spec: str, use_hub: bool | None = None) -> None:
        """Load a model in a worker; a newer load makes an older one's result stale (generation counter).

        Bundled ids load from their bundled config unless the user asked for the Hub (search, typed id, recent)."""
        self._generation += 1
        gen = self._generation
        if self._worker is not None:
            self._worker.cancel()
        hub = self.state.use_hub if use_hub is None else use_hub
        worker = Worker(load_model, spec, use_hub=hub, pass_control=True, what=f"loading {spec[:200]}")
        worker.signals.progress.connect(lambda text, frac, g=gen: g == self._generation and self.progress.emit(text, frac))
        worker.signals.result.connect(lambda inv, g=gen, s=spec: self._inventory_loaded(g, s, inv))
        worker.signals.error.connect(lambda msg, g=gen: self._load_failed(g, msg))
        worker.signals.finished.connect(lambda g=gen: self._finished(g))
        self._worker = worker
        self.busy.emit(f"Loading {one_line(spec, 200)} ...")
        worker.start()

    def cancel_load(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._generation += 1
            self._restore_spec()
            self.busy.emit("")

    def _inventory_loaded(self, gen: int, spec: str, inv: Inventory) -> None:
        """A loaded model becomes the current one only if it plans: otherwise the previous model and plan stay and
        the banner says why."""
        if gen != self._generation:
            return
        w = self.state.request.workload
        limit = inv.arch.max_context if inv.arch and inv.arch.max_context else 0
        workload = replace(w, context=limit) if limit and w.context > limit else w  # keep inside the model's limit
        try:
            self._plan_for(inv, replace(self.state.request, workload=workload))
        except QuantPlannerError as exc:
            self._load_failed(gen, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the last resort: the banner, and the previous plan kept
            traceback.print_exc(file=sys.stderr)
            self._load_failed(gen, unexpected_message(exc, f"planning {spec[:200]}"))
            return
        self.inventory = inv
        self._loaded_spec = spec
        self.mixtures = ()  # a mixture row belongs to the model it was made for
        if workload is not w:
            self.state.request = replace(self.state.request, workload=workload)
        self.inventory_ready.emit(inv)
        self.recompute()

    def _load_failed(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._restore_spec()
        self.error.emit(message)

    def _restore_spec(self) -> None:
        if self._loaded_spec:
            self.state.request = replace(self.state.request, model=self._loaded_spec)

    def _finished(self, gen: int) -> None:
        if gen == self._generation:
            self._worker = None
            self.busy.emit("")

    # --- Hub search ------------------------------------------------------------------------------------------
    def search(self, query: str) -> None:
        """Search the Hub in a worker; only the newest query's answer is shown."""
        self._search_generation += 1
        gen = self._search_generation
        if self._search_worker is not None:
            self._search_worker.cancel()
        if not query.strip():
            self.search_results.emit(())
            return
        worker = Worker(search_models, query, 20, what="the Hub search")
        worker.signals.result.connect(lambda found, g=gen: g == self._search_generation and self.search_results.emit(found))
        worker.signals.error.connect(lambda msg, g=gen: g == self._search_generation and self.search_failed.emit(msg))
        self._search_worker = worker
        worker.start()

    def set_mixture(self, mixture: object) -> None:
        """Plan a formats.mixture.Mixture as one more row (None: drop it)."""
        self.mixtures = (mixture,) if mixture is not None else ()
        self.schedule()

    # --- GPUs -----------------------------------------------------------------------------------------------
    def reload_gpus(self) -> None:
        """Re-read the catalog and the user's GPU file (after adding a custom GPU)."""
        self.gpus = load_gpus()
        self.schedule()

    # --- plan -----------------------------------------------------------------------------------------------
    def _plan_for(self, inv: Inventory, req: object, mixtures: tuple = ()) -> tuple[list[GPU], Plan]:
        chosen = [find_gpu(name, self.gpus) for name in req.gpus]  # type: ignore[attr-defined]
        hidden = req.hidden_precisions if set(precision_ids()) - set(req.hidden_precisions) else ()  # type: ignore[attr-defined]
        return chosen, make_plan(inv, req.workload, None, self.gpus, hidden=hidden,  # type: ignore[attr-defined]
                                 mixtures=mixtures)

    def schedule(self) -> None:
        self._timer.start()

    def recompute(self) -> None:
        """Recompute the plan now (cheap: a pure function); on bad input keep the previous plan and say why."""
        self._timer.stop()
        if self.inventory is None:
            return
        req = self.state.request
        t0 = time.perf_counter()
        try:
            chosen, plan = self._plan_for(self.inventory, req, self.mixtures)
        except QuantPlannerError as exc:
            self.error.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the last resort: the banner, and the previous plan kept
            traceback.print_exc(file=sys.stderr)
            self.error.emit(unexpected_message(exc, "the plan"))
            return
        index = {g.id: i for i, g in enumerate(self.gpus)}
        self.selected = tuple(index[g.id] for g in chosen)
        self.plan = plan
        self.last_recompute_ms = (time.perf_counter() - t0) * 1e3
        self.plan_ready.emit(plan)
