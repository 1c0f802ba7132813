"""fsspec filesystem ``gitdata://<rev>/<path>``: any version of any file, without a checkout.

Registered through the ``fsspec.specs`` entry point, so ``fsspec.open("gitdata://v1/data/
train.csv")`` and ``pandas.read_csv("gitdata://v1/data/train.csv")`` work in a repository.
A revision with a slash (a branch like ``feature/x``) is written URL-encoded:
``gitdata://feature%2Fx/data/a.csv``; the names ``ls`` and ``find`` return keep it encoded,
so they can be opened again. The repository is the current directory unless ``repo=`` is
passed as a storage option. Data files report the size of their data, not of the pointer.
Files that are read by seeking (Parquet, Arrow, HDF5, zip) and are not cached yet are
downloaded into the cache (verified) first; others stream from the store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from fsspec.spec import AbstractFileSystem

from . import api
from .errors import FatalError
from .gitrepo import Repo

SEEKABLE = (".parquet", ".pq", ".feather", ".arrow", ".h5", ".hdf5", ".zip", ".npz")


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
    def _split(path: str) -> tuple[str, str, str]:
        """(revision, the revision as written in names, path inside the revision)."""
        written, _, rest = path.partition("/")
        rev = unquote(written) or "HEAD"
        return rev, quote(rev, safe="~^@{}:.-_"), api.normalize_path(rest)

    def _repo(self) -> Repo:
        return Repo(self.repo_path)

    def _describe(self, repo: Repo, entry: Any, name: str) -> dict[str, Any]:
        if entry.type_str == "tree":
            return {"name": name, "size": 0, "type": "directory"}
        ptr = repo.blob_pointer(entry.id)
        size = ptr.size if ptr else repo.pygit.odb.read_header(entry.id)[1]
        return {"name": name, "size": size, "type": "file", "oid": ptr.oid if ptr else None}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        rev, written, rel = self._split(self._strip_protocol(path))
        repo = self._repo()
        tree = repo.resolve(rev).tree
        if not rel:
            return {"name": written, "size": 0, "type": "directory"}
        try:
            entry = tree[rel]
        except KeyError:
            raise FileNotFoundError(path) from None
        return self._describe(repo, entry, f"{written}/{rel}")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        rev, written, rel = self._split(self._strip_protocol(path))
        repo = self._repo()
        tree = repo.resolve(rev).tree
        if rel:
            try:
                entry = tree[rel]
            except KeyError:
                raise FileNotFoundError(path) from None
            if entry.type_str != "tree":  # fsspec: ls of a file lists the file itself
                found = [self._describe(repo, entry, f"{written}/{rel}")]
                return found if detail else [found[0]["name"]]
            tree = repo.pygit[entry.id]
        prefix = f"{written}/{rel}/" if rel else f"{written}/"
        found = [self._describe(repo, e, prefix + e.name) for e in tree
                 if e.type_str in ("tree", "blob")]
        return found if detail else sorted(f["name"] for f in found)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise NotImplementedError("gitdata:// is read-only")
        rev, _, rel = self._split(self._strip_protocol(path))
        try:
            return api.open(rel, rev=rev, repo=self.repo_path,
                            seekable=rel.lower().endswith(SEEKABLE))
        except FatalError as exc:
            if "is not tracked in" in str(exc):
                raise FileNotFoundError(path) from exc
            raise
