"""The model panel: Hub search, bundled and recent models, local files, a typed count; the model's facts."""
from __future__ import annotations

import html

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QCompleter, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from app.panels.common import breakable, filter_list, plain_tip
from app.state import AppState
from quantcore.errors import QuantPlannerError, one_line
from quantcore.model.count_model import parse_count
from quantcore.model.inventory import Inventory
from quantcore.sources.bundled import bundled_models
from quantcore.sources.hub import HubModel


class ModelPanel(QGroupBox):
    """Search the Hub, pick a bundled or recent model, open a local file or folder, or type a parameter count;
    shows the facts of the model the plan is built on."""

    open_requested = Signal()
    open_folder_requested = Signal()
    search_requested = Signal(str)

    def __init__(self, state: AppState) -> None:
        super().__init__("Model")
        self.state = state
        self.hub_search = QLineEdit(placeholderText="Search the Hugging Face Hub, e.g. qwen2.5 7b")
        self.hub_search.setClearButtonEnabled(True)
        self.hub_status = QLabel()
        self.hub_status.setTextFormat(Qt.TextFormat.PlainText)
        self.hub_status.setWordWrap(True)
        self.completions = QStringListModel()
        completer = QCompleter(self.completions, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.activated.connect(lambda text: self._pick_hub(text.split("  ")[0]))
        self.hub_search.setCompleter(completer)
        self.hub_results = QListWidget()
        self.hub_results.setMaximumHeight(110)
        self.hub_results.hide()
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(350)  # debounce: search once typing pauses
        self.recent = QComboBox()
        self.recent.setPlaceholderText("Recent models")
        self.recent.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long paths: start and end shown
        self.filter = QLineEdit(placeholderText="Filter bundled models, or type a count like 70B and press Enter")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setMinimumHeight(150)
        for m in bundled_models():
            item = QListWidgetItem(m.id)
            item.setToolTip(f"bundled config.json, taken {m.taken}: plans offline")
            self.list.addItem(item)
        open_file = QPushButton("Open file...")
        open_folder = QPushButton("Open folder...")
        open_file.setToolTip("config.json, .safetensors or .gguf (or drag one onto the window)")
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(open_file)
        buttons.addWidget(open_folder)
        lay = QVBoxLayout(self)
        lay.addWidget(self.hub_search)
        lay.addWidget(self.hub_results)
        lay.addWidget(self.hub_status)
        lay.addWidget(self.recent)
        lay.addWidget(QLabel("Bundled (offline):"))
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        lay.addWidget(self.facts)
        self.hub_search.textEdited.connect(lambda _text: self.search_timer.start())
        self.hub_search.returnPressed.connect(self._hub_enter)
        self.search_timer.timeout.connect(lambda: self.search_requested.emit(self.hub_search.text().strip()))
        self.hub_results.itemActivated.connect(lambda item: self._pick_hub(item.data(Qt.ItemDataRole.UserRole)))
        self.hub_results.itemClicked.connect(lambda item: self._pick_hub(item.data(Qt.ItemDataRole.UserRole)))
        self.recent.activated.connect(self._pick_recent)
        self.filter.textChanged.connect(self._filter)
        self.filter.returnPressed.connect(self._enter)
        self.list.itemActivated.connect(lambda item: state.set_model(item.text(), use_hub=False))
        self.list.itemClicked.connect(lambda item: state.set_model(item.text(), use_hub=False))
        open_file.clicked.connect(self.open_requested)
        open_folder.clicked.connect(self.open_folder_requested)

    def _pick_hub(self, repo_id: str) -> None:
        if repo_id:
            self.state.set_model(repo_id, use_hub=True)

    def _hub_enter(self) -> None:
        """Enter in the search box: a full repo id (org/name) loads it; anything else searches now."""
        text = self.hub_search.text().strip()
        if "/" in text and " " not in text:
            self._pick_hub(text)
        else:
            self.search_timer.stop()
            self.search_requested.emit(text)

    def show_search_results(self, found: tuple[HubModel, ...]) -> None:
        self.hub_results.clear()
        lines = []
        for m in found:
            size = f"{m.parameters / 1e9:,.1f}B, " if m.parameters else ""
            text = f"{m.id}  ({size}{m.downloads:,} downloads{', gated' if m.gated else ''})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            item.setToolTip(plain_tip(f"{m.library or 'unknown library'}; {m.pipeline_tag or ''}; {m.likes:,} likes"
                                      + ("; gated: accept the license on the Hub and log in" if m.gated else "")))
            self.hub_results.addItem(item)
            lines.append(text)
        self.completions.setStringList(lines)
        self.hub_results.setVisible(bool(found))
        if found:
            self.hub_status.setText(f"{len(found)} models found on the Hub")

    def show_hub_status(self, text: str) -> None:
        self.hub_status.setText(breakable(one_line(text)))  # a plain-text label (see __init__)
        self.hub_status.setToolTip(plain_tip(text))

    def set_recent(self, recent: list[tuple[str, bool]]) -> None:
        self.recent.blockSignals(True)
        self.recent.clear()
        for spec, use_hub in recent:
            self.recent.addItem(spec, use_hub)
            self.recent.setItemData(self.recent.count() - 1, plain_tip(spec), Qt.ItemDataRole.ToolTipRole)
        self.recent.setCurrentIndex(-1)
        self.recent.blockSignals(False)

    def _pick_recent(self, index: int) -> None:
        if index >= 0:
            self.state.set_model(self.recent.itemText(index), use_hub=bool(self.recent.itemData(index)))

    def _filter(self, text: str) -> None:
        filter_list(self.list, text)

    def _enter(self) -> None:
        """Enter in the filter: a count like 70B plans a guess; otherwise the first bundled model shown opens;
        a repo id that matches none goes to the Hub."""
        text = self.filter.text().strip()
        if not text:
            return
        try:
            is_count = parse_count(text) is not None
        except QuantPlannerError:  # an absurd count ('1e400'): loading it says why, in the banner
            is_count = True
        if is_count:
            self.state.set_model(text)
            return
        visible = [self.list.item(i) for i in range(self.list.count()) if not self.list.item(i).isHidden()]
        if visible:
            self.state.set_model(visible[0].text(), use_hub=False)
        elif "/" in text and " " not in text:
            self.state.set_model(text)
        else:
            self.hub_status.setText(breakable(f"No bundled model matches '{one_line(text, 200)}': search the Hub above, or type "
                                              "a count like 70B"))

    def show_inventory(self, inv: Inventory) -> None:
        self.list.blockSignals(True)
        matches = self.list.findItems(inv.id, Qt.MatchFlag.MatchExactly)
        self.list.setCurrentItem(matches[0] if matches else None)
        if matches:
            self.list.scrollToItem(matches[0])
        self.list.blockSignals(False)
        a = inv.arch
        source = {"safetensors": "exact, from safetensors headers", "gguf": "exact, from the GGUF header",
                  "config": "analytic, from config.json", "count": "a guess from a bare parameter count"}[inv.source]
        rows = [("model", breakable(one_line(inv.id))), ("source", source), ("parameters", f"{inv.parameters:,}")]
        if inv.active_parameters != inv.parameters:
            rows.append(("active / token", f"{inv.active_parameters:,}"))
        if a is not None:
            rows += [("layers", str(a.num_layers)), ("heads / KV heads", f"{a.num_heads} / {a.num_kv_heads}"),
                     ("head_dim", str(a.head_dim)), ("hidden", f"{a.hidden_size:,}"),
                     ("context limit", f"{a.max_context:,}" if a.max_context else "unknown")]
            if a.is_moe:
                rows.append(("experts", f"{a.num_experts} ({a.experts_per_token} per token)"))
            if a.sliding_attention_layers:
                rows.append(("sliding layers", f"{a.sliding_attention_layers} of {a.num_layers} (window {a.sliding_window})"))
            if a.is_mla:
                rows.append(("MLA latent", f"{a.kv_lora_rank} + {a.qk_rope_head_dim} rope"))
        if inv.quantization:
            rows.append(("stored as", inv.quantization))
        # ids, names and notes come from model files and the Hub: escaped, so that they show as text, never markup
        cells = "".join(f"<tr><td style='padding-right:8px'><b>{k}</b></td><td>{_text(v)}</td></tr>" for k, v in rows)
        notes = "".join(f"<br><i>{_text(breakable(one_line(n)))}</i>" for n in inv.notes)
        self.facts.setText(f"<table>{cells}</table>{notes}")


def _text(value: object) -> str:
    """Model-controlled text for a rich-text label or a tooltip: one line, HTML-escaped (shown, never rendered)."""
    return "<span>" + html.escape(one_line(value)) + "</span>"


def open_model_dialog(parent: QWidget, folder: bool = False) -> str:
    if folder:
        return QFileDialog.getExistingDirectory(parent, "Open a model folder")
    path, _ = QFileDialog.getOpenFileName(parent, "Open a model file", "",
                                          "Model files (config.json *.json *.safetensors *.gguf);;All files (*)")
    return path
