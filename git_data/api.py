"""Python API: read any version of a data file without a checkout.

    git_data.open("data/train.csv", rev="v1")   -> binary file object
    git_data.ls("HEAD")                         -> [{"path", "oid", "size"}, ...]

Bytes come from the local cache when it has the object, else they are streamed straight from
the store and hashed on the way (a mismatch raises at the end of the stream). A path that is
plain content in git (not a pointer) is returned as it is in git.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from . import pointer
from .cache import Cache
from .config import Config
from .errors import FatalError
from .gitrepo import Repo
from .hashing import new_hasher


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
                raise FatalError(f"{self.where}: bytes from the store do not match {self.oid}")
            return 0
        self.hasher.update(data)
        self.seen += len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.source.close()
        super().close()


def _pointer_at(repo: Repo, path: str, rev: str) -> tuple[pointer.Pointer | None, bytes]:
    commit = repo.resolve(rev)
    try:
        entry = commit.tree[path]
    except KeyError as exc:
        raise FatalError(f"{path} is not in {rev}; `git data ls-files {rev}` lists the data "
                         "files") from exc
    blob = repo.pygit[entry.id]
    data = blob.data
    try:
        return pointer.parse(data), data
    except pointer.PointerError:
        return None, data


def open(path: str, rev: str = "HEAD", repo: str | os.PathLike[str] = ".") -> BinaryIO:  # noqa: A001
    """A readable binary file with the bytes of ``path`` at ``rev``."""
    git = Repo(repo)
    ptr, raw = _pointer_at(git, path, rev)
    if ptr is None:
        return io.BytesIO(raw)
    config = Config(git)
    cache = Cache(config.cache_dir)
    if cache.has(ptr.oid):
        return cache.open(ptr.oid)
    from .store.remotes import read_order

    for remote in read_order(git, config, git.current_branch()):
        store = remote.open()
        try:
            source = store.open_object(ptr.oid)
        except FileNotFoundError:
            continue
        raw_reader = VerifyingReader(source, ptr.oid, ptr.size, f"{path}@{rev}")
        return io.BufferedReader(raw_reader, 1 << 20)  # type: ignore[return-value]
    raise FatalError(f"{path}@{rev} ({ptr.oid}) is neither cached nor in any store; push it "
                     "from the machine that has it")


def ls(rev: str = "HEAD", repo: str | os.PathLike[str] = ".") -> list[dict[str, object]]:
    """The data files (pointers) in ``rev``."""
    return [{"path": e.path, "oid": e.oid, "size": e.size} for e in Repo(repo).rev_pointers(rev)]
