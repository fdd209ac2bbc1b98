"""Online or offline: the View > Work offline setting, HF_HUB_OFFLINE, and falling back by itself when the Hub
cannot be reached (a quick probe at start-up and before a search), with the line the indicator shows."""
from __future__ import annotations

import re
import threading
from typing import Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction

from quantcore.errors import HubServerError

from .workers import start_thread

PROBE_TIMEOUT_S = 4.0
FALLBACK = "bundled models, local files and Hub models already in the cache still plan"


def probe_hub() -> bool:
    """True when the Hub endpoint answers at all (any HTTP status); raises HubServerError when it cannot be reached.

    Through safe_http under a budget of its own: PROBE_TIMEOUT_S for everything (a server that drips its headers a
    byte a second cannot stretch it), no retry, at most a byte of the answer's body read."""
    from quantcore.sources import safe_http
    from quantcore.sources.hub_http import endpoint

    try:
        safe_http.get(endpoint() + "/", {"user-agent": "quantplanner"}, cap=1 << 16, timeout=PROBE_TIMEOUT_S,
                      stop_at=1, b=safe_http.Budget(PROBE_TIMEOUT_S, 0))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means unreachable; the reason is shown
        raise HubServerError(f"{exc.__class__.__name__}") from None
    return True


class HubMode(QObject):
    """Owns huggingface_hub's offline switch for the window's lifetime (restored on close).

    reason: '' online (or not known yet), 'env' (HF_HUB_OFFLINE was set), 'setting' (View > Work offline),
    'auto' (the Hub could not be reached: work offline until a probe succeeds)."""

    changed = Signal(str)  # the indicator line
    _answer = Signal(bool, str)  # from the probe's thread to the GUI thread

    def __init__(self, qsettings: QSettings) -> None:
        super().__init__()
        from huggingface_hub import constants

        self.qsettings = qsettings
        self.env_offline = bool(constants.HF_HUB_OFFLINE)  # HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE at start
        self._saved: bool | None = None  # huggingface_hub's value before this window changed it
        self.reason = "env" if self.env_offline else ""
        self.state = "offline" if self.env_offline else "unknown"  # unknown | checking | online | offline
        self._probe: threading.Thread | None = None
        self._after_probe: list = []
        self._answer.connect(self._probed)
        if not self.env_offline and self.wants_offline():
            self._go_offline("setting")

    # --- the setting ----------------------------------------------------------------------------------------
    def wants_offline(self) -> bool:
        return str(self.qsettings.value("offline", False)).lower() in ("true", "1")

    def set_work_offline(self, offline: bool) -> None:
        """View > Work offline (persisted). Ignored while HF_HUB_OFFLINE is set in the environment."""
        self.qsettings.setValue("offline", bool(offline))
        if self.env_offline:
            return
        if offline:
            self._go_offline("setting")
        else:
            self._go_online()
            self.probe()

    def is_offline(self) -> bool:
        return self.reason != ""

    # --- probing ----------------------------------------------------------------------------------------------
    def probe(self, then=None) -> None:  # type: ignore[no-untyped-def]
        """Ask the Hub once, in a worker (online or auto-offline only); then() runs after the answer."""
        if self.reason in ("env", "setting"):
            if then:
                then()
            return
        if then:
            self._after_probe.append(then)
        if self._probe is not None:
            return
        self._go_online()
        self.state = "checking"
        self.changed.emit(self.text())
        # a daemon thread, not the pool: a probe still waiting when the window closes must not hold up the exit
        self._probe = start_thread(self._ask, self, "quantplanner-hub-probe")

    def _ask(self) -> None:
        try:
            probe_hub()
            ok, why = True, ""
        except HubServerError as exc:
            ok, why = False, str(exc)
        try:
            self._answer.emit(ok, why)
        except RuntimeError:  # the window (and this object) went away meanwhile
            pass

    def _probed(self, ok: bool, why: str) -> None:
        self._probe = None
        if self.reason in ("env", "setting"):  # the user went offline meanwhile
            pass
        elif ok:
            self.state = "online"
            self.changed.emit(self.text())
        else:
            self.why = why
            self._go_offline("auto")
        waiting, self._after_probe = self._after_probe, []
        for then in waiting:
            then()

    def search_allowed(self) -> bool:
        return self.reason == ""

    def search(self, query: str, run: Callable[[str], None]) -> None:
        """Search the Hub with run(query): when it was unreachable, ask it again first; offline, say why not."""
        if self.reason == "auto":
            self.probe(then=lambda: self.search_allowed() and run(query))
        elif self.search_allowed():
            run(query)
        elif query.strip():
            self.changed.emit(self.text() + " Searching needs the Hub.")

    def offline_action(self, parent: QObject) -> QAction:
        """View > Work offline: checked when the setting is on; disabled while HF_HUB_OFFLINE is set."""
        act = QAction("Work &offline", parent, checkable=True, checked=self.reason in ("env", "setting"))
        act.setToolTip("Never ask the Hugging Face Hub: bundled models, local files and cached Hub models still plan")
        if self.env_offline:
            act.setEnabled(False)
            act.setText("Work offline (HF_HUB_OFFLINE is set)")
        act.toggled.connect(self.set_work_offline)
        return act

    # --- huggingface_hub's switch ----------------------------------------------------------------------------
    def _go_offline(self, reason: str) -> None:
        from huggingface_hub import constants

        if self._saved is None:
            self._saved = bool(constants.HF_HUB_OFFLINE)
        constants.HF_HUB_OFFLINE = True
        self.reason, self.state = reason, "offline"
        self.changed.emit(self.text())

    def _go_online(self) -> None:
        from huggingface_hub import constants

        if self._saved is not None:
            constants.HF_HUB_OFFLINE = self._saved
            self._saved = None
        if not self.env_offline:
            self.reason = ""
            self.state = "unknown"

    def restore(self) -> None:
        """Give huggingface_hub its offline switch back as this window found it (on close)."""
        from huggingface_hub import constants

        if self._saved is not None:
            constants.HF_HUB_OFFLINE = self._saved
            self._saved = None

    # --- the indicator ------------------------------------------------------------------------------------------
    def text(self) -> str:
        from quantcore.sources.hub import endpoint

        where = re.sub(r"^https?://", "", endpoint())
        if self.reason == "env":
            return f"Hub: offline (HF_HUB_OFFLINE is set); {FALLBACK}."
        if self.reason == "setting":
            return f"Hub: offline (View > Work offline); {FALLBACK}."
        if self.reason == "auto":
            return (f"Hub: cannot reach {where} ({getattr(self, 'why', '')}), so working offline: {FALLBACK}. "
                    "Searching tries again.")
        if self.state == "checking":
            return f"Hub: checking {where} ..."
        if self.state == "online":
            return f"Hub: online ({where}); bundled models load without it."
        return f"Hub: {where} (bundled models load without it)"
