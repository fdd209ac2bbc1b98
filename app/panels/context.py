"""The context input: a log slider and a box that takes what is typed (8192, 8k, 128k) whole, a badge when it is
above the model's trained limit, and the context the user asked for kept across models (a smaller model shows its
limit; a later model that allows more gets the request back)."""
from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from quantcore import units
from quantcore.errors import QuantPlannerError

MAX_TOKENS = 1 << 24
_PARTIAL = re.compile(r"^[\d,_ ]*\.?\d*\s*[kKmM]?$")  # what may still become a count while typing


def parse_tokens(text: str) -> int | None:
    """'8192', '8,192', '8k' (8 x 1024), '128k', '1M' -> tokens (quantcore.units.parse_tokens); None otherwise."""
    try:
        return units.parse_tokens(text)
    except QuantPlannerError:
        return None


class TokenBox(QSpinBox):
    """A spin box that never drops typed digits (its maximum is far above any model) and accepts 8k / 128k."""

    def __init__(self) -> None:
        super().__init__(minimum=1, maximum=MAX_TOKENS, singleStep=512)
        self.setGroupSeparatorShown(True)

    def _plain(self, text: str) -> str:
        """The text without the locale's group separators (8,192 or 8.192 -> 8192), suffixed forms kept."""
        stripped = text.strip()
        if stripped and stripped[-1] not in "kKmM":
            stripped = stripped.replace(self.locale().groupSeparator(), "")
        return stripped

    def validate(self, text: str, pos: int) -> object:  # type: ignore[override]
        stripped = self._plain(text)
        value = parse_tokens(stripped)
        if value is None:
            state = QValidator.State.Intermediate if _PARTIAL.match(stripped) else QValidator.State.Invalid
            return state, text, pos
        return (QValidator.State.Acceptable if 1 <= value <= MAX_TOKENS else QValidator.State.Intermediate), text, pos

    def valueFromText(self, text: str) -> int:
        value = parse_tokens(self._plain(text))
        return self.value() if value is None else max(1, min(value, MAX_TOKENS))


class ContextInput(QWidget):
    """edited(tokens) fires when the user moves the slider or types; show(tokens) displays without firing."""

    edited = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.box = TokenBox()
        self.badge = QLabel()
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.badge.setWordWrap(True)
        self.badge.setStyleSheet("QLabel { color: #ffffff; background: #b26a00; padding: 2px 6px; "
                                 "border-radius: 3px; }")
        self.badge.hide()
        self.limit = 131072
        self.limit_known = False
        self.requested: int | None = None  # what the user last asked for, kept across model switches
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 2)
        row.addWidget(self.box, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.badge)
        self.box.valueChanged.connect(self._typed)
        self.slider.valueChanged.connect(self._slid)

    # the slider is logarithmic: 0..1000 -> 128 .. the model's limit
    def _to_slider(self, ctx: int) -> int:
        lo, hi = math.log(128), math.log(max(self.limit, 256))
        return max(0, min(1000, round(1000 * (math.log(max(ctx, 128)) - lo) / (hi - lo))))

    def _slid(self, pos: int) -> None:
        lo, hi = math.log(128), math.log(max(self.limit, 256))
        ctx = int(round(math.exp(lo + (hi - lo) * pos / 1000) / 128) * 128) if pos < 1000 else self.limit
        ctx = max(1, min(ctx, self.limit))
        if ctx != self.box.value():
            self.box.setValue(ctx)  # -> _typed

    def _typed(self, ctx: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_slider(ctx))
        self.slider.blockSignals(False)
        self.requested = ctx
        self._badge(ctx)
        self.edited.emit(ctx)

    def show_value(self, ctx: int) -> None:
        """Display ctx (the plan's context) without firing edited."""
        for w in (self.box, self.slider):
            w.blockSignals(True)
        self.box.setValue(ctx)
        self.slider.setValue(self._to_slider(ctx))
        for w in (self.box, self.slider):
            w.blockSignals(False)
        if self.requested is None:
            self.requested = ctx
        self._badge(ctx)

    def set_limit(self, limit: int, known: bool, current: int) -> int:
        """A new model's context limit; returns the context to plan with: the request when the model allows it,
        else the current (clamped) value."""
        self.limit, self.limit_known = max(1, limit), known
        want = self.requested if self.requested is not None else current
        ctx = want if not known or want <= self.limit else current
        self.show_value(ctx)
        return ctx

    def _badge(self, ctx: int) -> None:
        above = self.limit_known and ctx > self.limit
        self.badge.setVisible(above)
        if above:
            self.badge.setText(f"above this model's limit of {self.limit:,} tokens")
            self.badge.setToolTip(f"The model was trained for at most {self.limit:,} tokens; beyond that its "
                                  "quality is not what the plan assumes. Memory is planned for what you typed.")
