"""The layers of docs/architecture.md, checked against the imports of every module.

Every ``import`` and ``from ... import`` in git_data is read with ``ast`` (at the top of a
module and inside functions, where most of the imports that would break the map hide;
relative and absolute; also those under ``if TYPE_CHECKING``, since a type is a dependency
too). A module may import from its own layer or a layer below, never from one above; and
the parts of one layer (a top-level module or a package) must not import each other both
ways, so that inside a layer the arrows also point one way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import git_data

PACKAGE = Path(git_data.__file__).parent

# Top first. A name is a module or a package (all of it), below ``git_data``.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # what a person or a program calls: the command line, the Python API, fsspec's gitdata://
    ("entry", ("git_data", "__main__", "cli", "api", "fs")),
    # one module per command family; parses nothing, returns an exit code
    ("commands", ("commands",)),
    # what the commands, the filter and the hooks do
    ("operations", ("filter", "hooks", "shims", "direct", "push", "fetch", "copy",
                    "materialize", "storecheck", "insight", "stats", "importing", "runner",
                    # the host side of runs: the standard library and folderstore, layout,
                    # retry, pointer, errors, safeio (tests/test_runner_host_imports.py)
                    "runner.host")),
    # bytes in the cache and the stores, and moving them; folderstore: a folder on this
    # machine, used by store/ and by the run host
    ("storage", ("cache", "store", "transfer", "folderstore", "packs")),
    # used by all: trusted reads and writes, errors, output, git, formats
    ("base", ("config", "safeio", "errors", "progress", "hashing", "pointer", "gitrepo",
              "appendlog", "indexfile", "written", "selection", "layout", "retry",
              "attributes")),
]

# Modules whose own imports are not checked yet (imports *into* them still are): none.
EXEMPT: dict[str, str] = {}


def layer_of(module: str) -> tuple[int, str]:
    """(rank: 0 is the top, the unit the module belongs to) by the longest matching name."""
    parts = module.split(".")
    # the package root only for itself: a module named in no layer must not fall back to it
    for end in range(len(parts), 1 if len(parts) > 1 else 0, -1):
        name = ".".join(parts[1:end]) or "git_data"
        for rank, (_, units) in enumerate(LAYERS):
            if name in units:
                return rank, name
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add it to LAYERS "
                         "(and to the diagram in docs/architecture.md)")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, the module imported, the statement as written) for each git_data import."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "git_data":
                    yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "git_data":
                continue
            written = f"from {'.' * node.level}{node.module or ''} import " + ", ".join(
                a.name for a in node.names)
            for alias in node.names:  # `from . import safeio` imports the module safeio
                full = f"{source}.{alias.name}"
                yield node.lineno, full if is_module(full) else source, written


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def checked(path: Path) -> bool:
    return layer_of(module_name(path))[1] not in EXEMPT


def test_every_module_is_in_a_layer() -> None:
    for path in modules():
        layer_of(module_name(path))  # raises, naming the module


def test_no_module_imports_from_a_layer_above() -> None:
    upward = []
    for path in filter(checked, modules()):
        rank, _ = layer_of(module_name(path))
        for line, target, written in imports(path):
            target_rank, _ = layer_of(target)
            if target_rank < rank and target != "git_data":  # the root's __version__: the
                # root is imported before any module in it, so taking a name costs nothing
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {written!r} "
                              f"({LAYERS[rank][0]} -> {LAYERS[target_rank][0]})")
    assert not upward, "imports from a layer above:\n" + "\n".join(dict.fromkeys(upward))


def unit_edges() -> dict[tuple[str, str], str]:
    """(unit, unit it imports) -> the first such import, for the modules checked."""
    edges: dict[tuple[str, str], str] = {}
    for path in filter(checked, modules()):
        _, unit = layer_of(module_name(path))
        for line, target, written in imports(path):
            _, other = layer_of(target)
            if other not in (unit, "git_data") and other not in EXEMPT:  # root: __version__
                edges.setdefault((unit, other),
                                 f"{path.relative_to(PACKAGE.parent)}:{line}: {written!r}")
    return edges


def cycles(edges: dict[tuple[str, str], str]) -> list[list[str]]:
    """The groups of units that reach each other through imports (Tarjan's components)."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_parts_import_each_other_one_way() -> None:
    """No two modules or packages depend on each other, directly or through others: inside
    a layer too, the arrows point one way."""
    edges = unit_edges()
    report = []
    for group in cycles(edges):
        report.append(" <-> ".join(group) + ":")
        report += [f"  {where}" for (a, b), where in sorted(edges.items())
                   if a in group and b in group]
    assert not report, "parts that import each other:\n" + "\n".join(report)


def test_a_cycle_is_found() -> None:
    edges = {("a", "b"): "a:1", ("b", "c"): "b:1", ("c", "a"): "c:1", ("c", "d"): "c:2"}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({("a", "b"): "a:1"}) == []


def test_the_walk_sees_imports_inside_functions() -> None:
    """The check itself: an import hidden in a function, relative, is found and resolved."""
    found = list(imports(PACKAGE / "hooks.py"))
    assert any(target == "git_data.direct" for _, target, _ in found)  # inside post_checkout
    assert all(target.startswith("git_data") for _, target, _ in found)
    assert layer_of("git_data.store.s3") == (3, "store")
    assert layer_of("git_data.commands.stats")[1] == "commands"
