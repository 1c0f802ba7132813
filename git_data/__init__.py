"""git-data: large files as content-addressed pointers in plain git, bytes in an object store.

Data flows one way through the layers (docs/architecture.md; tests/test_layers.py checks it):

    cli, api  ->  commands  ->  filter / hooks / push / fetch / insight / stats / runner ...
              ->  cache / store / transfer (-> fsspec)  ->  config / safeio / errors / ...

Nothing below ``cli`` parses arguments, and nothing below ``commands`` prints except
through :mod:`git_data.progress`.

Python API: ``git_data.open(path, rev)``, ``git_data.ls(rev)``,
``git_data.stats(path, rev)`` and, in training code, ``git_data.log(step=..., loss=...)``.
``git_data.stats`` is also the statistics package (``from git_data.stats import
profile``): the module object is callable.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"


def open(path, rev="HEAD", repo=".", *, seekable=False):  # noqa: A001  (mirrors the builtin)
    """A readable binary file with the bytes of ``path`` at ``rev`` (see git_data.api)."""
    from .api import open as _open

    return _open(path, rev, repo, seekable=seekable)


def ls(rev="HEAD", repo="."):
    """The data files in ``rev``: dicts with path, oid and size."""
    from .api import ls as _ls

    return _ls(rev, repo)


def log(step=None, **metrics):
    """Record metrics of a run: one line in ``<output>/metrics.jsonl`` inside `git data run`,
    printed on stderr outside one (see git_data.experiments.runlog)."""
    from .experiments.runlog import log as _log

    _log(step, **metrics)


class _StatsModule(types.ModuleType):
    """``git_data.stats`` is a package and, called, the API function."""

    def __call__(self, path: str, rev: str | None = "HEAD", repo: Any = ".", *,
                 recompute: bool = False) -> Any:
        """The Profile of ``path`` (a file or folder of images) at ``rev`` (None: the work
        tree): saved statistics when the repository has them for that content, else
        computed in one streaming pass from the cache or the store. Displays itself as
        HTML in a notebook."""
        from .api import stats as _stats

        return _stats(path, rev, repo, recompute=recompute)


class _Package(types.ModuleType):
    """Makes the ``stats`` submodule callable whenever and however it gets imported,
    without importing it (and its ~80 ms) up front."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "stats" and type(value) is types.ModuleType:
            value.__class__ = _StatsModule
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    if name == "stats":  # `import git_data; git_data.stats(...)` before any stats import
        return importlib.import_module(".stats", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
