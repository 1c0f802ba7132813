"""fsspec filesystem ``gitdata://<rev>/<path>``: any version of any file, without a checkout.

Registered through the ``fsspec.specs`` entry point, so ``pandas.read_csv("gitdata://v1/
data/train.csv")`` and ``fsspec.open`` work in a repository. A revision with a slash (a
branch like ``feature/x``) is written URL-encoded: ``gitdata://feature%2Fx/data/a.csv``. The
repository is the current directory unless ``repo=`` is passed as a storage option.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote

from fsspec.spec import AbstractFileSystem

from . import api
from .gitrepo import Repo


class GitDataFileSystem(AbstractFileSystem):
    protocol = "gitdata"

    def __init__(self, repo: str = ".", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo_path = repo

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if path.startswith("gitdata://"):
            path = path[len("gitdata://"):]
        return path.rstrip("/")

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        rev, _, rest = path.partition("/")
        return unquote(rev) or "HEAD", rest

    def _entries(self, rev: str) -> list[dict[str, Any]]:
        repo = Repo(self.repo_path)
        commit = repo.resolve(rev)
        pointers = {e.path: e for e in repo.tree_pointers(commit.tree)}
        out = []
        for path, size in _walk(repo, commit.tree):
            ptr = pointers.get(path)
            out.append({"name": path, "size": ptr.size if ptr else size, "type": "file",
                        "oid": ptr.oid if ptr else None})
        return out

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        rev, prefix = self._split(self._strip_protocol(path))
        prefix = prefix.strip("/")
        seen: dict[str, dict[str, Any]] = {}
        for entry in self._entries(rev):
            name = entry["name"]
            if prefix and not (name == prefix or name.startswith(prefix + "/")):
                continue
            rest = name[len(prefix):].lstrip("/") if prefix else name
            head = rest.split("/", 1)[0]
            full = f"{rev}/{posixpath.join(prefix, head) if prefix else head}"
            if "/" in rest:
                seen.setdefault(full, {"name": full, "size": 0, "type": "directory"})
            else:
                seen[full] = {**entry, "name": full}
        if not seen:
            raise FileNotFoundError(path)
        return list(seen.values()) if detail else sorted(seen)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        stripped = self._strip_protocol(path)
        rev, rel = self._split(stripped)
        for entry in self._entries(rev):
            if entry["name"] == rel:
                return {**entry, "name": stripped}
        if any(e["name"].startswith(rel + "/") for e in self._entries(rev)):
            return {"name": stripped, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise NotImplementedError("gitdata:// is read-only")
        rev, rel = self._split(self._strip_protocol(path))
        return api.open(rel, rev=rev, repo=self.repo_path)


def _walk(repo: Repo, tree: Any, prefix: str = "") -> list[tuple[str, int]]:
    out = []
    for entry in tree:
        path = prefix + entry.name
        if entry.type_str == "tree":
            out.extend(_walk(repo, repo.pygit[entry.id], path + "/"))
        elif entry.type_str == "blob":
            out.append((path, repo.pygit.odb.read_header(entry.id)[1]))
    return out
