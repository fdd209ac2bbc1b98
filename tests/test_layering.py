"""The engine never imports Qt or the app; trust_remote_code and unpickling never appear."""
from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import quantcore

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "pyqtgraph", "app", "PyQt5", "PyQt6", "shiboken6")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_quantcore_source_imports_no_gui() -> None:
    files = list((ROOT / "quantcore").rglob("*.py"))
    assert len(files) > 10
    bad = {str(f.relative_to(ROOT)): _imports(f) & set(FORBIDDEN) for f in files}
    assert not {k: v for k, v in bad.items() if v}


def test_importing_every_quantcore_module_loads_no_qt() -> None:
    mods = [m.name for m in pkgutil.walk_packages(quantcore.__path__, "quantcore.")]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods)
            + "bad = [m for m in sys.modules if m.split('.')[0] in %r]\nprint(bad)\nassert not bad\n" % (FORBIDDEN,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_remote_code_or_unpickling() -> None:
    for f in list((ROOT / "quantcore").rglob("*.py")) + list((ROOT / "app").rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        assert "trust_remote_code=True" not in text.replace(" ", ""), f
        assert "pickle.load" not in text, f
        if "torch.load(" in text:
            assert "weights_only=True" in text, f
