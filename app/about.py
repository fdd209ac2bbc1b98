"""Help > About: the version, the components shipped with the app and their licenses, and where settings live."""
from __future__ import annotations

import html
import platform
import re
from importlib import metadata

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from quantcore import __version__

# The app's own run-time dependencies; their dependencies are found from the installed metadata. The licenses here
# are a fallback for bundles that carry no package metadata (each checked against its project's metadata).
DIRECT = {"PySide6-Essentials": "LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only", "pyqtgraph": "MIT",
          "numpy": "BSD-3-Clause", "safetensors": "Apache-2.0", "gguf": "MIT", "huggingface_hub": "Apache-2.0"}
_CLASSIFIERS = {"MIT License": "MIT", "Apache Software License": "Apache-2.0", "BSD License": "BSD",
                "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0", "Python Software Foundation License": "PSF-2.0",
                "ISC License (ISCL)": "ISC"}


def license_of(dist: metadata.Distribution) -> str:
    """The SPDX expression a package declares (License-Expression, a short License field, or its classifiers)."""
    meta = dist.metadata
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    if text and len(text) <= 80 and "\n" not in text:
        return text
    found = [_CLASSIFIERS.get(c.split(" :: ")[-1], c.split(" :: ")[-1])
             for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " / ".join(dict.fromkeys(found)) or "see the package"


def components() -> list[tuple[str, str, str]]:
    """(name, version, license) of QuantPlanner's run-time dependencies and theirs, from installed metadata."""
    out: dict[str, tuple[str, str, str]] = {}
    todo = list(DIRECT)
    while todo:
        name = todo.pop(0)
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in out:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in DIRECT:
                out[key] = (name, "?", DIRECT[name])
            continue
        out[key] = (dist.metadata["Name"] or name, dist.version, license_of(dist))
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            if ";" in req and not _marker_holds(req.split(";", 1)[1]):
                continue
            todo.append(re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0])
    return sorted(out.values(), key=lambda c: c[0].lower())


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker

        return bool(Marker(marker.strip()).evaluate())
    except Exception:  # noqa: BLE001 - no packaging or an odd marker: list the package anyway
        return True


def settings_places(qsettings: QSettings) -> list[tuple[str, str]]:
    """Where QuantPlanner keeps what it remembers."""
    from huggingface_hub import constants

    from quantcore.planner.hardware import default_user_file

    return [("Window, inputs, units, theme, offline, recent models", qsettings.fileName()),
            ("Your own GPUs", str(default_user_file())),
            ("Hub files and headers already fetched (the Hugging Face cache)", str(constants.HF_HUB_CACHE)),
            ("Hugging Face token (managed by huggingface_hub)", str(constants.HF_TOKEN_PATH))]


def about_html(qsettings: QSettings) -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td><td>{html.escape(lic)}</td></tr>"
                   for n, v, lic in components())
    places = "".join(f"<tr><td>{html.escape(what)}</td><td><code>{html.escape(where)}</code></td></tr>"
                     for what, where in settings_places(qsettings))
    return (f"<h2>QuantPlanner {html.escape(__version__)}</h2>"
            "<p>Will this model fit, at which precision, on how many of which GPUs, at what cost and speed?<br>"
            "Apache-2.0 license.</p>"
            f"<p>Python {html.escape(platform.python_version())}, Qt {html.escape(qVersion())} "
            f"(PySide6 {html.escape(pyside_version)})</p>"
            "<h3>Where settings live</h3>"
            f"<table cellspacing=4>{places}</table>"
            "<h3>Components and their licenses</h3>"
            "<p>Qt and PySide6 are used under the LGPL-3.0 (they are loaded as shared libraries and can be "
            "replaced).</p>"
            f"<table cellspacing=4><tr><th align=left>package</th><th align=left>version</th>"
            f"<th align=left>license</th></tr>{rows}</table>")


class AboutDialog(QDialog):
    def __init__(self, qsettings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About QuantPlanner")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(about_html(qsettings))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(640, 560)
