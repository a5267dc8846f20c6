"""The package layout follows the data flow: no import cycle between subpackages, the training
engine and the problem layer import no analysis, analyses import no CLI / report / plotting.

Imports are read as text (ast), so lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import landscope

ROOT = Path(landscope.__file__).parent

#: problem -> training run -> analyses -> results / figures / CLI (STYLE.md, DEVELOPERS.md).
#: A new analysis package gets its line here (planned homes are listed already: ``diffusion`` for
#: Fjellstrom & Nystrom's diffusion maps, ``forgetting`` for Haink's curvature penalties, which
#: register themselves as engine plugins, ``report`` for the HTML report).
LAYERS = {
    "problem": 0,
    "data": 0,
    "models": 0,
    "plugins": 1,
    "config": 1,
    "runs": 2,
    "training": 2,
    "curvature": 3,
    "spectra": 3,
    "trajectory": 3,
    "landscape": 4,
    "subspace": 4,
    "diffusion": 4,
    "forgetting": 4,
    "plotting": 5,
    "report": 6,
    "pipeline": 6,
    "reproduce": 6,
    "cli": 7,
}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT).parts
        if len(parts) < 2:  # top-level modules (__init__, _version, _results_io) are glue
            continue
        me = parts[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                bits = name.split(".")
                if bits[0] == "landscope" and len(bits) > 1 and bits[1] in LAYERS and bits[1] != me:
                    edges.setdefault(me, set()).add(bits[1])
    return edges


def test_every_subpackage_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), "give new subpackages a place in the data flow (LAYERS)"


def test_imports_only_go_down_the_data_flow():
    """A package imports packages of its own layer or below; within a layer, no cycles."""
    edges = _edges()
    upward = sorted(
        (a, b) for a, targets in edges.items() for b in targets if LAYERS[b] > LAYERS[a]
    )
    assert upward == [], f"imports against the data flow: {upward}"


def test_no_import_cycle():
    edges = _edges()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if state.get(nxt) is None:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(LAYERS):
        if node not in state:
            visit(node, [])


def test_the_engine_imports_no_analysis():
    analyses = {p for p, layer in LAYERS.items() if layer >= 3}
    edges = _edges()
    for engine in ("training", "runs", "config", "plugins"):
        assert not (edges.get(engine, set()) & analyses), (engine, edges.get(engine))
