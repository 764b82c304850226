"""Layers point down only (docs/architecture.md): a module imports its own package or a lower layer.

__main__ → cli → commands → engine / report → checks / detect → analysis / generators → sources / config →
catalogue → model. Sibling packages of one layer may import each other only along the edges listed
in SIBLINGS, and packages never form a cycle. Imports made only for type checking count too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kubeharden"

#: package (a folder, or a top-level module without .py) -> layer; higher layers may import lower ones
LAYERS: dict[str, int] = {
    "__init__": 0, "exitcodes": 0, "gctune": 0, "model": 0,
    "catalogue": 1,
    "sources": 2, "config": 2,
    "analysis": 3, "generators": 3,
    "checks": 4, "detect": 4,
    "engine": 5, "report": 5, "store": 5, "fix": 5, "enforce": 5, "serve": 5,
    "commands": 6, "cli": 7, "__main__": 8,
}
#: allowed imports between packages of one layer (importer, imported)
SIBLINGS = {("detect", "checks"), ("generators", "analysis"), ("enforce", "engine"), ("enforce", "serve"),
            ("enforce", "report")}


def package_of(module: str) -> str:
    """``kubeharden.model.findings`` -> ``model``; a name of the package itself (``__version__``) -> ``__init__``."""
    parts = module.split(".")
    if len(parts) < 2:
        return "__init__"
    top = PACKAGE / parts[1]
    return parts[1] if top.is_dir() or top.with_suffix(".py").is_file() else "__init__"


def imports() -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> the files that make the import (type-only ones included)."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        me = package_of(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level > 0:  # relative: resolved against the module
                base = rel.parts[:-node.level] if rel.name != "__init__" else rel.parts[:len(rel.parts) - node.level]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] if node.module != "kubeharden" else [f"kubeharden.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("kubeharden"):
                    other = package_of(name)
                    if other != me:
                        edges[(me, other)].append(str(path.relative_to(PACKAGE)))
    return edges


def test_every_package_has_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists() or p.suffix == ".py") and p.name != "__pycache__"}
    assert packages <= set(LAYERS), f"give these a layer in tests/test_layers.py: {sorted(packages - set(LAYERS))}"


def test_imports_point_down():
    wrong = [f"{a} -> {b} ({', '.join(sorted(set(files)))})" for (a, b), files in sorted(imports().items())
             if LAYERS[b] > LAYERS[a] or (LAYERS[b] == LAYERS[a] and (a, b) not in SIBLINGS)]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_cycles_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in imports():
        graph[a].add(b)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [])


def test_relative_imports_are_seen(tmp_path, monkeypatch):
    probe = PACKAGE / "model" / "zz_layer_probe.py"
    probe.write_text("from ..engine import evaluator\nfrom .. import cli\n", encoding="utf-8")
    try:
        edges = imports()
    finally:
        probe.unlink()
    assert "model/zz_layer_probe.py" in edges[("model", "engine")] and "model/zz_layer_probe.py" in edges[("model", "cli")]
