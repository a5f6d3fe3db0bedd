"""The packages import only downward, and no module takes part in an import cycle.

Every ``import`` statement of every project module counts, including those inside
functions (a lazy import hides a cycle; it does not remove it). Only imports under
``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hwsearch", "agents", "latency_tables", "api")

#: Lowest first. A module may import from its own layer or a lower one; within a layer
#: the module graph must still be acyclic. The longest prefix decides a module's layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hwsearch.core",),
    ("latency_tables", "hwsearch.splits", "hwsearch.npz_data", "hwsearch.data", "hwsearch.zoo", "hwsearch.quant", "hwsearch.evaluate",
     "hwsearch.finetuned_weights", "hwsearch.robust", "hwsearch.env"),
    ("agents",),
    ("hwsearch.search", "hwsearch.export", "hwsearch.policy_file", "hwsearch.report", "hwsearch.verify"),
    ("hwsearch.cli", "hwsearch.__main__", "api", "hwsearch.client"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports (a package import counts as its ``__init__``)."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        if _type_checking_only(node, parents):
            continue
        for target in names:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def layer_of(module: str) -> int:
    if module == "hwsearch":  # the package's __init__ re-exports the core only
        return 0
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    if rank is None:
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS")
    return rank


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    modules = project_modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports_of(name, path, modules):
            g.add_edge(name, target)
    return g


def test_the_graph_sees_lazy_imports(graph: nx.DiGraph) -> None:
    # hwsearch.search.runner imports agents inside run_search: the parser must see it
    assert any(t == "agents" or t.startswith("agents.") for t in graph.successors("hwsearch.search.runner"))


def test_no_import_cycle(graph: nx.DiGraph) -> None:
    cycles = [c for c in nx.simple_cycles(graph)]
    shown = "\n".join(" -> ".join(c + [c[0]]) for c in sorted(cycles, key=len)[:10])
    assert not cycles, f"{len(cycles)} import cycles, e.g.:\n{shown}"


def test_imports_go_only_downward(graph: nx.DiGraph) -> None:
    upward = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, b in graph.edges
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "\n".join(upward)


def test_latency_tables_know_nothing_of_models_or_search(graph: nx.DiGraph) -> None:
    for module in graph:
        if module.startswith("latency_tables"):
            above = [t for t in graph.successors(module) if t.startswith("hwsearch") and layer_of(t) > 0]
            assert not above, f"{module} imports {above}"


def test_the_core_imports_no_other_package(graph: nx.DiGraph) -> None:
    for module in graph:
        if layer_of(module) == 0:
            assert all(layer_of(t) == 0 for t in graph.successors(module)), module


def test_the_service_uses_only_the_public_search_and_export_api(graph: nx.DiGraph) -> None:
    public = {"hwsearch.search", "hwsearch.export", "hwsearch.verify"}
    for module in graph:
        if module.startswith("api"):
            private = [t for t in graph.successors(module) if t.startswith("hwsearch") and t not in public]
            assert not private, f"{module} imports {private}"


def test_no_route_imports_the_worker(graph: nx.DiGraph) -> None:
    worker = {"api.job_runner", "api.worker", "api.celery_app"}
    for module in graph:
        if module.startswith(("api.routes", "api.web", "api.app")):
            reached = nx.descendants(graph, module) & worker
            assert not reached, f"{module} reaches {sorted(reached)}"
