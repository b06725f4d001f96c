"""The project's modules import each other without a cycle.

Every module under capture/ and camsite/ is parsed with `ast`, and every import counts wherever it is
written: at the top, inside a function (a lazy import is still a dependency), under `if TYPE_CHECKING:`.
`from . import x` and `from .. import y` are resolved against the module's package.

Packages count like modules. Importing `a.b.c` runs `a` and `a.b` first, so it depends on them too, except
where they are packages of the importing module itself: those are always loaded (or loading) before it runs,
and `from a.b import c` there only needs the submodule. A name taken from its own package's `__init__`
(`from . import helper`, `from a.b import helper`) does count: that is the classic circular import.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("capture", "camsite")


def project_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every .py file under the given top-level packages."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules (and packages) that `module`'s import statements make Python run."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1 + is_package)}
    named: set[str] = set()  # what the statements name: a module, or the package a name is taken from
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                named.add(submodule if submodule in modules else source)
    parents = {".".join(name.split(".")[:i]) for name in named for i in range(1, name.count(".") + 1)}
    return ((named | (parents - own_packages)) & modules) - {module}


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module → the project modules it imports."""
    modules = project_modules(root, packages)
    return {module: imported_modules(module, path, set(modules)) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (`a → b → … → a`) through each group of modules that import each other (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_within(graph, group) for group in groups]


def _cycle_within(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, staying inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in {group}")  # unreachable for a strongly connected group


def describe(found: list[list[str]]) -> str:
    return "\n".join(" → ".join(cycle) for cycle in found)


def test_the_project_has_no_import_cycle():
    found = cycles(import_graph(ROOT))
    assert not found, "import cycles:\n" + describe(found)


def test_the_graph_sees_lazy_relative_and_package_imports():
    # Not vacuous: the edges this layout is about are found.
    graph = import_graph(ROOT)
    assert "capture.analysis.jobs" in graph["capture.analysis.tasks"]
    assert "capture.analysis.metrics" in graph["capture.analysis.jobs"]
    assert "capture.analysis.tasks" in graph["capture.tasks"]
    assert "capture.storage" in graph["capture.models"]
    assert "capture.checks" in graph["capture.apps"]  # imported inside ready()
    assert "capture.analysis.tasks" not in graph["capture.analysis.jobs"]


def test_a_cycle_through_a_function_level_relative_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import b\n")  # the package imports its module...
    (package / "sub" / "b.py").write_text("def later():\n    from .. import a\n")
    (package / "a.py").write_text("from pkg.sub import c\n")  # ...whose package runs sub/__init__ first
    (package / "sub" / "c.py").write_text("")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.a"]]


def test_a_name_from_its_own_packages_init_counts_but_a_sibling_module_does_not(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import run\nhelper = 1\n")
    (package / "a.py").write_text("from pkg import b\nrun = 1\n")  # a sibling: pkg is already loading
    (package / "b.py").write_text("from pkg import helper\n")  # a name defined by pkg's __init__
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg"}}
    assert cycles(graph) == [["pkg", "pkg.a", "pkg.b", "pkg"]]
