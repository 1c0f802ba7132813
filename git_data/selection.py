"""Which data files a command wants: ``--include``/``--exclude`` (and `git data run --data`)
patterns matched against pointer entries' paths. A base module (it needs only
:class:`~git_data.gitrepo.PointerEntry`), so pull, fetch, clone, stats and the runner's
client all choose files the same way without importing one another.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from .gitrepo import PointerEntry


def select(entries: Iterable[PointerEntry], include: list[str] | None,
           exclude: list[str] | None) -> list[PointerEntry]:
    """The entries matching ``include`` (all when none) and not ``exclude``. A pattern is an
    fnmatch glob on the whole path, or a folder: ``data`` and ``data/`` take all below it."""
    def matches(path: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p.rstrip("/") + "/*")
                   or path.startswith(p.rstrip("/") + "/") for p in patterns)

    return [e for e in entries
            if (not include or matches(e.path, include))
            and not (exclude and matches(e.path, exclude))]
