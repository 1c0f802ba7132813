"""Host side of the store and the host's shared data cache (standard library only).

A store that is a local directory (``file://``) is written here with the same atomic rules as
:class:`git_data.store.Store` (``tmp/`` then rename); any other URL goes through that class,
which needs fsspec (and s3fs for S3) on the host. The cache has the layout of the client's
cache (``objects/<hex[0:2]>/<hex[2:4]>/<hex>``); objects are verified against their oid while
they are written and renamed into place read-only, so a run never sees a partial object.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import FatalError
from . import sitepath

CHUNK = 1 << 20


class LocalDirStore:
    """A ``file://`` store, written with the standard library."""

    def __init__(self, url: str, name: str = "") -> None:
        self.url = url
        self.name = name or url
        raw = urllib.parse.urlparse(url).path if "://" in url else url
        self.root = Path(urllib.request.url2pathname(raw)).expanduser()

    def describe(self) -> str:
        return f"{self.name} ({self.url})" if self.name != self.url else self.url

    def path(self, key: str) -> str:
        return str(self.root / key)

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return Path(self.path(key)).read_bytes()
        except FileNotFoundError:
            return None

    def read_json(self, key: str) -> Any:
        raw = self.read_bytes(key)
        return None if raw is None else json.loads(raw)

    def _atomic(self, key: str, write: Callable[[str], object]) -> None:
        target = self.path(key)
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = str(tmp_dir / f"{uuid.uuid4().hex}.{os.path.basename(target)[:40]}")
        try:
            write(tmp)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self._atomic(key, lambda tmp: Path(tmp).write_bytes(data))

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")

    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        if not overwrite and self.exists(key):
            return
        self._atomic(key, lambda tmp: shutil.copyfile(local_path, tmp))

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        return open(self.path(key), mode)

    def open_object(self, oid: str) -> IO[bytes]:
        return self.open(object_key(oid))

    def find(self, key: str) -> list[str]:
        base = Path(self.path(key))
        if base.is_file():
            return [key]
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())


def open_store(url: str, name: str, options: dict[str, Any] | None) -> Any:
    """The store at ``url`` as this host sees it."""
    if url.startswith("file://") or "://" not in url:
        return LocalDirStore(url, name)
    sitepath.load()
    from .. import store  # needs fsspec, xxhash (shipped to the host when it lacks them)

    opener = getattr(store, "open_store", None)
    if opener is None:
        return store.Store(url, name, options or {})
    secrets = tuple(str(v) for k, v in (options or {}).items() if k in ("key", "secret", "token"))
    return opener(url, name, options or {}, secrets)


def object_key(oid: str) -> str:
    hexdigest = oid.split(":", 1)[1]
    return f"objects/{hexdigest[:2]}/{hexdigest[2:4]}/{hexdigest}"


def new_hasher(algo: str) -> Any:
    if algo == "sha256":
        return hashlib.sha256()
    if algo == "xxh128":
        sitepath.load()
        import xxhash  # shipped to the host when it lacks it

        return xxhash.xxh3_128()
    raise FatalError(f"unknown hash algorithm '{algo}'")


class HostCache:
    """``<root>/objects/..`` shared by every run on the host."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, oid: str) -> Path:
        return self.root / object_key(oid)

    def has(self, oid: str) -> bool:
        return self.path(oid).is_file()

    def download(self, store: Any, oid: str, size: int) -> None:
        """Stream one object from the store, verify it, rename it into place."""
        algo = oid.split(":", 1)[0]
        hasher = new_hasher(algo)
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"run-{os.getpid()}-")
        try:
            got = 0
            with os.fdopen(fd, "wb") as out, store.open_object(oid) as source:
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
            actual = f"{algo}:{hasher.hexdigest()}"
            if actual != oid:
                raise FatalError(f"bytes of {oid} in {store.describe()} hash to {actual} "
                                 f"({got} of {size} bytes); the store copy is corrupt")
            os.chmod(tmp, 0o444)
            self.path(oid).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, self.path(oid))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def fetch(self, store: Any, entries: list[list[Any]], note: Callable[[str], None],
              workers: int = 8) -> tuple[int, int]:
        """Download what the cache lacks (in parallel, 3 tries each); (downloaded, cached)."""
        todo = {e[1]: e for e in entries if not self.has(e[1])}
        cached = len({e[1] for e in entries}) - len(todo)
        if todo:
            total = sum(int(e[2]) for e in todo.values())
            note(f"downloading {len(todo)} data object(s), {total} bytes, into the host cache")
        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            futures = {pool.submit(self._with_retries, store, e[1], int(e[2])): e
                       for e in todo.values()}
            for future in cf.as_completed(futures):
                path, oid = futures[future][0], futures[future][1]
                try:
                    future.result()
                except FileNotFoundError as exc:
                    raise FatalError(f"{path} ({oid}) is not in {store.describe()}") from exc
                except Exception as exc:
                    raise FatalError(f"could not download {path} ({oid}) from "
                                     f"{store.describe()}: {exc}") from exc
        return len(todo), cached

    def _with_retries(self, store: Any, oid: str, size: int) -> None:
        for attempt in range(3):
            try:
                self.download(store, oid, size)
                return
            except (FileNotFoundError, FatalError):
                raise
            except OSError:
                if attempt == 2:
                    raise
                time.sleep(0.5 * 2**attempt)

    def link(self, checkout: Path, entries: list[list[Any]]) -> None:
        """Put each data file at its path in the checkout: a hard link to the cached object
        (read-only, no copy), or a copy where the cache is on another file system."""
        for path, oid, _size in entries:
            dest = checkout / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            try:
                os.link(self.path(oid), dest)
            except OSError:
                shutil.copyfile(self.path(oid), dest)
