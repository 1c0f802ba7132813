"""Where the bytes of a data file at a revision come from, without a checkout.

    path@rev -> tree_entry / blob_at (pygit2: the pointer, or the blob of plain content)
             -> ObjectSource.open(oid): the local cache when it has the object, else each
                store in the branch's read order, streamed through VerifyingReader (hashed
                on the way; a mismatch raises at the end of the stream), or, seekable,
                downloaded into the cache first (verified) and read there

Used by the Python API (api.py, fs.py) and by the insight commands (versions.py).
"""

from __future__ import annotations

import io
import os
import posixpath
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import pointer
from ..cache import Cache, copy_stream
from ..config import Config, refuse_weak_pointers
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..hashing import new_hasher

if TYPE_CHECKING:
    from ..store import Store


class VerifyingReader(io.RawIOBase):
    """Wraps a store stream; raises when the bytes read do not hash to the oid."""

    def __init__(self, source: BinaryIO, oid: str, size: int, where: str) -> None:
        self.source = source
        self.oid = oid
        self.size = size
        self.where = where
        self.hasher = new_hasher(pointer.split_oid(oid)[0])
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        if not data:
            actual = f"{pointer.split_oid(self.oid)[0]}:{self.hasher.hexdigest()}"
            if self.seen != self.size or actual != self.oid:
                raise FatalError(f"{self.where}: bytes from the store do not match {self.oid} "
                                 f"({self.seen:,} of {self.size:,} bytes read); the store's "
                                 "copy is corrupt or truncated")
            return 0
        self.hasher.update(data)
        self.seen += len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.source.close()
        super().close()


def normalize_path(path: str) -> str:
    """A repository-relative POSIX path ('' for the root); ``./a//b/`` becomes ``a/b``."""
    clean = posixpath.normpath(path.replace(os.sep, "/").lstrip("/")) if path else "."
    if clean == ".":
        return ""
    if clean == ".." or clean.startswith("../"):
        raise FatalError(f"{path} is outside the repository; paths are relative to its root")
    return clean


def branch_for(repo: Repo, rev: str) -> str | None:
    """The branch whose store routing applies to ``rev``: ``rev`` itself when it names a
    local branch, else the checked-out branch."""
    if rev != "HEAD" and _is_branch(repo, rev):
        return rev
    return repo.current_branch()


def _is_branch(repo: Repo, rev: str) -> bool:
    try:
        return repo.pygit.references.get(f"refs/heads/{rev}") is not None
    except ValueError:  # not a valid reference name
        return False


def tree_entry(repo: Repo, path: str, rev: str) -> Any:
    """The pygit2 tree entry of ``path`` at ``rev``; a clear error when it is not there."""
    commit = repo.resolve(rev)
    if not path:
        return commit.tree
    try:
        return commit.tree[path]
    except KeyError:
        raise FatalError(f"{path} is not tracked in {rev}; `git data ls-files {rev}` lists "
                         "the data files") from None


def blob_at(repo: Repo, path: str, rev: str) -> tuple[pointer.Pointer | None, Any]:
    """(the pointer, or None for plain content; the blob id) of the file ``path`` at ``rev``."""
    entry = tree_entry(repo, path, rev)
    if not path or entry.type_str != "blob":
        raise FatalError(f"{path or 'the root'} is a folder in {rev}, not a file; "
                         f"`git data ls-files {rev}` lists the files")
    return repo.blob_pointer(entry.id), entry.id


class ObjectSource:
    """Opens data objects by oid: the local cache first, then each store in read order
    (opened once, on first need). ``last`` says where the latest object came from."""

    def __init__(self, repo: Repo, config: Config | None = None,
                 branch: str | None = None) -> None:
        self.repo = repo
        self.config = config or Config(repo)
        self.cache = Cache(self.config.cache_dir)
        self.require = self.config.require_hash
        self.branch = branch if branch is not None else repo.current_branch()
        self._stores: list[Store] | None = None
        self.last = ""

    def stores(self) -> list[Store]:
        if self._stores is None:
            from ..store.remotes import read_order

            self._stores = [r.open() for r in read_order(self.repo, self.config, self.branch)]
        return self._stores

    def open(self, oid: str, size: int, where: str, seekable: bool = False) -> BinaryIO:
        if self.require is not None:
            refuse_weak_pointers([PointerEntry(where, oid, size)], self.require)
        if self.cache.has(oid):
            self.last = "cache"
            return self.cache.open(oid)
        for store in self.stores():
            try:
                source = store.open_object(oid)
            except FileNotFoundError:
                continue
            self.last = f"store {store.describe()}"
            if seekable:
                return self._download(source, oid, where, store)
            raw = VerifyingReader(source, oid, size, f"{where} from {store.describe()}")
            return io.BufferedReader(raw, 1 << 20)  # type: ignore[return-value]
        stores = ", ".join(s.describe() for s in self.stores()) or "none configured"
        raise FatalError(f"{where} ({oid}) is neither cached nor in any store (tried: "
                         f"{stores}); push it from the machine that has it")

    def _download(self, source: BinaryIO, oid: str, where: str, store: Store) -> BinaryIO:
        """Into the cache, verified (a mismatch leaves nothing behind), then open it there."""
        try:
            with self.cache.writer(pointer.split_oid(oid)[0]) as writer:
                copy_stream(source, writer)  # type: ignore[arg-type]
                writer.commit(oid)
        except FatalError as exc:
            raise FatalError(f"{where} from {store.describe()}: {exc}") from None
        finally:
            source.close()
        return self.cache.open(oid)
