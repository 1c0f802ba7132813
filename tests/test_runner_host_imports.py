"""The host side of `git data run` (git_data/runner/host/) runs with the standard library only.

It starts with ``python -S`` on hosts that may lack every third-party package, from the files
runner/ship.py sends there. Two checks: an ``ast`` walk of every import in every host module
(top level and inside functions) against ``sys.stdlib_module_names`` and a short list of
git_data modules; and the shipped files themselves, unpacked as the SSH transport unpacks
them, started with ``python -I -S``.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from git_data import __version__
from git_data.runner import ship
from git_data.runner.host import agent

HOST = Path(ship.PACKAGE_ROOT) / "runner" / "host"
HOST_PACKAGE = "git_data.runner.host"
# git_data modules outside host/ that host modules may import at any time; each is itself
# checked to import only the standard library (and the others listed here).
HOST_LIBS = {"git_data", "git_data.errors", "git_data.safeio", "git_data.folderstore",
             "git_data.layout", "git_data.retry", "git_data.pointer"}
# Imports allowed only inside a function of that module that calls sitepath.load() first
# (site-packages and the modules shipped beside the agent are then on sys.path).
LAZY = {("hostfs", "xxhash"), ("hostfs", "git_data.store")}

pytestmark = pytest.mark.skipif(sys.version_info < (3, 10),
                                reason="sys.stdlib_module_names needs Python 3.10")


def _imports(path: Path, package: str) -> list[tuple[str, ast.AST, list[ast.AST]]]:
    """(absolute module name, node, enclosing function chain) for every import in the file."""
    found: list[tuple[str, ast.AST, list[ast.AST]]] = []

    def visit(node: ast.AST, chain: list[ast.AST]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            chain = [*chain, node]
        if isinstance(node, ast.Import):
            found.extend((alias.name, node, chain) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from . import x` names the submodule x
                sub = f"{base}.{alias.name}"
                found.append((sub if _is_module(sub) else base, node, chain))
        for child in ast.iter_child_nodes(node):
            visit(child, chain)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), [])
    return found


def _is_module(name: str) -> bool:
    if not name.startswith("git_data."):
        return False
    base = Path(ship.PACKAGE_ROOT).joinpath(*name.split(".")[1:])
    return (base / "__init__.py").is_file() or base.with_suffix(".py").is_file()


def _allowed(name: str) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__" or name in HOST_LIBS \
        or name == HOST_PACKAGE or name.startswith(HOST_PACKAGE + ".")


def _calls_sitepath_load_before(function: ast.AST, node: ast.AST) -> bool:
    for call in ast.walk(function):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "load" and isinstance(call.func.value, ast.Name) \
                and call.func.value.id == "sitepath" and call.lineno < node.lineno:
            return True
    return False


def test_host_modules_import_only_the_standard_library() -> None:
    modules = sorted(HOST.glob("*.py"))
    assert {p.stem for p in modules} >= {"agent", "supervisor", "hostfs", "envs", "gpus",
                                          "frames", "paths", "sitepath"}
    bad, lazy_seen = [], set()
    for path in modules:
        for name, node, chain in _imports(path, HOST_PACKAGE):
            if _allowed(name):
                continue
            key = (path.stem, name)
            if key in LAZY and chain and _calls_sitepath_load_before(chain[-1], node):
                lazy_seen.add(key)
                continue
            bad.append(f"runner/host/{path.name}:{node.lineno} imports {name}")
    assert bad == [], "the host side must use the standard library only:\n" + "\n".join(bad)
    assert lazy_seen == LAZY  # an allowance no longer used is taken off the list


def test_listed_git_data_modules_import_only_the_standard_library() -> None:
    for module in sorted(HOST_LIBS):
        path = ship._module_file(module)
        assert path is not None
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # git_data/__init__.py: only its top level runs on the host (its functions are the
        # client's Python API and import api/stats lazily)
        nodes = tree.body if module == "git_data" else None
        for name, node, _ in _imports(path, package):
            if nodes is not None and node not in nodes:
                continue
            assert _allowed(name), f"{path.name}:{node.lineno} imports {name}"


def test_shipped_files_are_the_host_side_and_what_it_imports() -> None:
    shipped = {p.relative_to(ship.PACKAGE_ROOT).as_posix() for p in ship.shipped_files()}
    assert {f"runner/host/{p.name}" for p in HOST.glob("*.py")} <= shipped
    assert {"__init__.py", "errors.py", "safeio.py", "folderstore.py", "layout.py", "retry.py",
            "pointer.py", "runner/__init__.py", "store/__init__.py"} <= shipped
    # the client side stays home
    assert not shipped & {"runner/launch.py", "runner/ship.py", "runner/transport.py",
                          "cli/tree.py", "materialize.py"}
    assert not any(name.startswith(("commands/", "stats/", "cli/")) for name in shipped)


def _unpack_shipped(workdir: Path) -> Path:
    """The shipped tar unpacked where the SSH transport's INSTALL puts it."""
    home = workdir / "agent" / ship.version_dir()
    home.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(ship.package_tar())) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(home, filter="data")
        else:
            tar.extractall(home)  # noqa: S202 (our own tar)
    return home


def test_the_shipped_agent_starts_without_site_packages(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    _unpack_shipped(workdir)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", agent.BOOT, str(workdir), ship.version_dir(),
         "probe", "--workdir", str(workdir), "--gpus", "1"],
        capture_output=True, cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    line = [x for x in proc.stdout.decode().splitlines() if x.startswith(agent.PROBE_MARK)]
    assert len(line) == 1, proc.stdout
    info = json.loads(line[0][len(agent.PROBE_MARK):])
    assert info["version"] == __version__ and info["missing"] == []
    assert info["workdir"] == str(workdir.resolve())


IMPORT_ALL = """import sys
sys.path.insert(0, sys.argv[1])
import git_data.runner.host.agent, git_data.runner.host.supervisor, git_data.runner.host.hostfs
import git_data.runner.host.envs, git_data.runner.host.gpus, git_data.runner.host.frames
import git_data.runner.host.paths, git_data.runner.host.sitepath
tops = {m.split('.')[0] for m in sys.modules}
print(sorted(t for t in tops - set(sys.stdlib_module_names) if not t.startswith('_')))
from git_data.runner.host import sitepath
sitepath.HOME = sys.argv[1]
sitepath.load()
import git_data.store, git_data.store.s3
print(sorted({getattr(m, '__file__', '') or '' for n, m in sys.modules.items()
              if n.startswith('git_data') and not (getattr(m, '__file__', '') or '')
              .startswith(sys.argv[1])}))
"""


def test_every_host_module_imports_from_the_shipped_copy_alone(tmp_path: Path) -> None:
    home = _unpack_shipped(tmp_path / "work")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT_ALL, str(home)],
                          capture_output=True, cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    third_party, foreign = proc.stdout.decode().splitlines()
    assert third_party == "['git_data']"  # nothing but the standard library and git_data
    # once site-packages are on the path (a store that is not a local folder), the store's
    # git_data modules still come from the shipped copy: none is missing from the tar
    assert foreign == "[]"
