"""The modules of minigrad import one another in one direction; the one cycle is tensor <-> ops.

Op subclasses are defined in ops.py and Tensor's methods run them, so tensor.py imports ops at
its end (ops.py needs Op, defined above that line). Any other cycle means a module that looks
names up lazily to get round it, which hides the real order of the layers.
"""

import ast
from pathlib import Path

import minigrad

PACKAGE = Path(minigrad.__file__).parent
ALLOWED = {frozenset({"minigrad.tensor", "minigrad.ops"})}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, package: str, modules: set[str]) -> set[str]:
    """The minigrad modules that ``source`` (of a module in ``package``) imports anywhere: at
    module level, in functions, under ``if TYPE_CHECKING:``. A name imported from a package
    counts as its submodule when there is one (``from minigrad import ops``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # why: relative, so resolved from the package, up level - 1 steps
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found & modules


def import_graph(paths: list[Path]) -> dict[str, set[str]]:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    graph = {}
    for path in paths:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = imported(path.read_text(), package, modules) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, once, as the list of modules on it (depth-first search)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0] and frozenset(path) not in seen:
                seen.add(frozenset(path))
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # why: each cycle from its smallest name
                walk(path + [nxt])

    for start in sorted(graph):
        walk([start])
    return found


def test_no_import_cycle_but_tensor_and_ops():
    graph = import_graph(sorted(PACKAGE.glob("*.py")) + sorted(PACKAGE.glob("nn/*.py")))
    extra = [c for c in cycles(graph) if frozenset(c) not in ALLOWED]
    assert not extra, "import cycles besides tensor <-> ops: " + "; ".join(
        " -> ".join(c) for c in extra
    )


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    source = "import numpy\n\ndef g():\n    from minigrad import viz\n"
    modules = {"minigrad", "minigrad.viz", "minigrad.tensor"}
    graph = {
        "minigrad.tensor": imported(source, "minigrad", modules),
        "minigrad.viz": imported("from .tensor import Tensor\n", "minigrad", modules),
    }
    assert graph["minigrad.tensor"] == {"minigrad.viz"}
    assert cycles(graph) == [["minigrad.tensor", "minigrad.viz", "minigrad.tensor"]]
