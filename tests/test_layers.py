"""The layers contract: imports inside ``meshsim`` point one way, and no module imports itself
back through others (no cycles). Imports inside functions and under ``TYPE_CHECKING`` count
too: a lazy import is still an arrow.

A module may import modules of its own layer or of a layer above it in ``LAYERS`` (read from
the top: the base has no domain model; the command line is last). A new module must be given a
layer here, which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "meshsim"

LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {
            "domain",
            "errors",
            "random",
            "pool",
            "stats",
            "output",
            "progress",
            "markdown",
            "selectors",
            "outdir",
            "safe_yaml",
            "quantity",
        },
    ),
    (
        "input language",
        {
            "distributions",
            "slo",
            "events",
            "scenario",
            "profiles",
            "loader",
            "changes",
            "work",
            "fleet",
        },
    ),
    ("topology", {"topology", "balancing"}),
    ("cost model", {"components"}),
    ("engine", {"recorder", "calls", "engine", "operations", "analytic", "lockstep"}),
    (
        "statistics",
        {"resources", "results", "simulate", "additive", "theory", "analytic_results", "symmetry"},
    ),
    (
        "cost, capacity, reports, calibration",
        {
            "cost",
            "density",
            "capacity",
            "sweep",
            "measurements",
            "published",
            "calibrate",
            "validate",
            "artifacts",
            "rollout",
            "export",
            "report",
        },
    ),
    ("api", {"api"}),
    ("importers", {"importers"}),  # write scenarios; hooked into the command line
    ("command line", {"commands", "cli"}),
]
FACADE = "__init__"  # the package: __version__, and the API loaded on first use


def module_name(path: Path) -> str:
    """``report`` for meshsim/report/plots.py (a subpackage is one module here)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports(path: Path) -> set[str]:
    """meshsim modules a file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "meshsim":
                names = [f"meshsim.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "meshsim" and len(parts) > 1:
                found.add(parts[1])
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name == FACADE:
            continue
        edges.setdefault(name, set()).update(imports(path) - {name, FACADE, "__version__"})
    return edges


def layer_of() -> dict[str, int]:
    return {m: i for i, (_, modules) in enumerate(LAYERS) for m in modules}


def test_every_module_has_a_layer() -> None:
    missing = sorted(set(graph()) - set(layer_of()))
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


def test_imports_point_one_way() -> None:
    layer = layer_of()
    wrong = [
        f"{a} ({LAYERS[layer[a]][0]}) imports {b} ({LAYERS[layer[b]][0]})"
        for a, deps in graph().items()
        for b in sorted(deps)
        if a in layer and b in layer and layer[b] > layer[a]
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(edges.get(node, ())):
            if dep in path:
                cycle = " -> ".join([*path[path.index(dep) :], dep])
                pytest.fail(f"import cycle: {cycle}")
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(node)

    for start in sorted(edges):
        visit(start, [start])


def test_the_checker_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from meshsim.engine import Engine\n"
        "def f():\n    import meshsim.cost\n    from meshsim import report\n"
    )
    assert imports(sample) == {"engine", "cost", "report"}
