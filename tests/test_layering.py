"""The engine's wings import one way (model <- formats <- sources <- planner, lab <- report <- cli), never Qt or
the app, never each other in a circle; trust_remote_code and unpickling never appear."""
from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import quantcore

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "pyqtgraph", "app", "PyQt5", "PyQt6", "shiboken6")
# A wing may import wings of a lower rank (and the shared modules errors, units); planner and lab share a rank
# and talk only through formats.
RANK = {"errors": 0, "units": 0, "model": 1, "formats": 2, "sources": 3, "planner": 4, "lab": 4, "report": 5,
        "cli": 6}


def _imports(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in the file (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "quantcore" and len(parts) > 1 else None


def layering_violations(package_root: Path) -> list[str]:
    """'file: imports X' for each Qt/app import and each import of a wing above (or beside) the file's own."""
    bad: list[str] = []
    for f in sorted(package_root.rglob("*.py")):
        rel = f.relative_to(package_root)
        own = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else None
        for name in sorted(_imports(f)):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                bad.append(f"{rel}: imports {name}")
                continue
            other = _wing(name)
            if own is None or other is None or other == own or other not in RANK or own not in RANK:
                continue
            if RANK[other] > RANK[own] or (RANK[other] == RANK[own] and RANK[own] > 0):
                bad.append(f"{rel}: imports {name} ({other} is not below {own})")
    return bad


def import_cycles(package_root: Path) -> list[list[str]]:
    """Circles in the module import graph (every import counted, lazy ones included)."""
    def modname(p: Path) -> str:
        parts = list(p.relative_to(package_root.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    mods = {modname(p): p for p in package_root.rglob("*.py")}
    edges = {m: {n if n in mods else n.rsplit(".", 1)[0] for n in _imports(p) if n.split(".")[0] == package_root.name}
             - {m} for m, p in mods.items()}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v in edges and v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return found


def test_quantcore_has_the_wings_of_the_design() -> None:
    wings = {p.name for p in (ROOT / "quantcore").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert wings == {"model", "formats", "sources", "planner", "lab", "report", "cli"}  # cli: one module per command group
    loose = {p.name for p in (ROOT / "quantcore").glob("*.py")}
    assert loose == {"__init__.py", "errors.py", "units.py"}


def test_quantcore_imports_no_gui_and_no_wing_above_its_own() -> None:
    assert layering_violations(ROOT / "quantcore") == []


def test_quantcore_has_no_import_circles() -> None:
    assert import_cycles(ROOT / "quantcore") == []


@pytest.mark.parametrize("where, line, expected", [
    ("model/x.py", "import PySide6.QtCore", "imports PySide6"),
    ("sources/x.py", "import pyqtgraph", "imports pyqtgraph"),
    ("formats/x.py", "from quantcore.planner.plan import make_plan", "planner is not below formats"),
    ("model/x.py", "from quantcore.sources import hub", "sources is not below model"),
    ("planner/x.py", "from quantcore.lab import metrics", "lab is not below planner"),
    ("lab/x.py", "def f():\n    from quantcore.planner import memory", "planner is not below lab"),
    ("report/x.py", "from quantcore import cli", "cli is not below report"),
    ("lab/x.py", "from quantcore.formats import catalog", None),
])
def test_the_layering_check_catches_what_it_should(tmp_path: Path, where: str, line: str,
                                                    expected: str | None) -> None:
    pkg = tmp_path / "quantcore"
    (pkg / where).parent.mkdir(parents=True)
    (pkg / where).write_text(line + "\n")
    found = layering_violations(pkg)
    if expected is None:  # an allowed import: downward
        assert found == []
    else:
        assert any(expected in v for v in found), found


def test_the_cycle_check_catches_a_circle(tmp_path: Path) -> None:
    pkg = tmp_path / "quantcore"
    (pkg / "sources").mkdir(parents=True)
    (pkg / "sources" / "hub.py").write_text("def f():\n    from quantcore.sources.source import load\n")
    (pkg / "sources" / "source.py").write_text("from quantcore.sources import hub\n")
    assert import_cycles(pkg) == [["quantcore.sources.hub", "quantcore.sources.source", "quantcore.sources.hub"]]


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


def test_no_module_is_much_over_400_lines() -> None:
    """Small modules with one idea each: a module that grows past ~400 lines is split by what it does."""
    files = list((ROOT / "quantcore").rglob("*.py")) + list((ROOT / "app").rglob("*.py"))
    long = {str(f.relative_to(ROOT)): n for f in files if (n := len(f.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}
