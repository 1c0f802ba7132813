"""A local folder, with the few fsspec filesystem calls :class:`~git_data.store.Store` makes.

fsspec's own LocalFileSystem does the same, but importing fsspec costs about 56 ms, paid by
every pre-push hook and pull on a local store (the embedded default). Paths are absolute
POSIX paths, as fsspec's are; anything that is not a plain path or ``file://`` URL goes to
fsspec.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, BinaryIO

from .. import safeio


def local_root(url: str) -> str | None:
    """The folder a local store URL names; None for every other kind of URL."""
    if url.startswith("file://"):
        path = url[len("file://"):]
    elif "://" in url or "::" in url or url.startswith(("local:", "file:")):
        return None
    else:
        path = url
    return os.path.abspath(os.path.expanduser(path)) if path else None


class LocalFS:
    protocol = ("file", "local")

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def ls(self, path: str, detail: bool = False) -> list[str]:
        if os.path.isfile(path):
            return [path]
        return [posixpath.join(path, name) for name in os.listdir(path)]  # missing: raises

    def find(self, path: str) -> list[str]:
        if os.path.isfile(path):
            return [path]
        found = []
        for folder, _, files in os.walk(path):
            found.extend(posixpath.join(folder, name) for name in files)
        return sorted(found)

    def open(self, path: str, mode: str = "rb", block_size: int | None = None,
             **_: Any) -> BinaryIO:
        return open(path, mode)  # type: ignore[return-value]

    def put_file(self, local_path: str, path: str) -> None:
        with open(local_path, "rb") as source, safeio.atomic_path(path) as out:
            safeio.copy_fd(source.fileno(), out.fd)

    def pipe_file(self, path: str, data: bytes, **_: Any) -> None:
        safeio.write_bytes(path, data)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            begin = 0 if start is None else (start if start >= 0 else max(size + start, 0))
            stop = size if end is None else (end if end >= 0 else max(size + end, 0))
            stream.seek(begin)
            return stream.read(max(stop - begin, 0))

    def sign(self, path: str, expiration: int = 100) -> str:
        raise NotImplementedError("a local folder has no signed URLs")
