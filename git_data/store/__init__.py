"""Remote object stores over fsspec (file://, s3://, gs://, memory://, ...).

Layout under a store URL::

    objects/<hex[0:2]>/<hex[2:4]>/<hex>   immutable content, written once, never overwritten
    branches/<branch>.json                manifest of the last push of a branch
    runs/<id>/...                         training runs (see git_data.runner)
    links/<alias>.json                    aliases for run paths

A :class:`Store` only moves bytes (the transfer queue owns batching, retries and order).
Writes are atomic: a local-directory store writes ``tmp/<random>`` and renames; object stores
(S3) publish a key only when its upload completes. Nothing here knows about git.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable
from typing import Any, BinaryIO

from .. import pointer
from ..hashing import new_hasher
from .errors import BadObjectError, StoreError, TransientStoreError
from .localfs import LocalFS, local_root

__all__ = ["CHUNK", "BadObjectError", "Store", "StoreError", "TransientStoreError",
           "object_key", "open_store"]

CHUNK = 1 << 20
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
            "abfs": "adlfs", "abfss": "adlfs", "adl": "adlfs", "ssh": "paramiko",
            "sftp": "paramiko", "hf": "huggingface_hub", "webdav": "webdav4", "oci": "ocifs",
            "oss": "ossfs"}


def object_key(oid: str) -> str:
    _, hexdigest = pointer.split_oid(oid)
    return f"objects/{hexdigest[:2]}/{hexdigest[2:4]}/{hexdigest}"


class Store:
    """One store: an fsspec filesystem and a root path inside it."""

    transfers = 8  # parallel transfers when data.transfers does not say (disk-bound here)

    def __init__(self, url: str, name: str = "", storage_options: dict[str, Any] | None = None
                 ) -> None:
        self.url = url
        self.name = name or url
        local = None if storage_options else local_root(url)
        if local is not None:
            self.fs: Any = LocalFS()
            self.root = local.rstrip("/") or "/"
            self.local = True
            return
        import fsspec  # imported on first use: most commands never touch a store

        try:
            self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        except ImportError as exc:
            protocol = url.split("://", 1)[0]
            raise StoreError(f"store {self.name} ({url}) needs the fsspec package for "
                             f"'{protocol}://': pip install {PACKAGES.get(protocol, protocol)}"
                             ) from exc
        except ValueError as exc:  # unknown protocol
            raise StoreError(f"store {self.name} ({url}): {exc}") from exc
        self.root = self.root.rstrip("/")
        self.local = "file" in _protocols(self.fs)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def describe(self) -> str:
        return f"{self.name} ({self.url})" if self.name != self.url else self.url

    def path(self, key: str) -> str:
        return posixpath.join(self.root, key)

    # ----- objects -----------------------------------------------------------------------
    def has(self, oid: str) -> bool:
        return bool(self.fs.exists(self.path(object_key(oid))))

    def has_many(self, oids: Iterable[str]) -> set[str]:
        """Which of ``oids`` the store holds, asking per prefix folder rather than per object
        when many share one (one listing instead of thousands of HEAD requests)."""
        by_prefix: dict[str, list[str]] = {}
        for oid in oids:
            by_prefix.setdefault(posixpath.dirname(object_key(oid)), []).append(oid)
        present: set[str] = set()
        for prefix, group in by_prefix.items():
            if len(group) == 1:
                if self.has(group[0]):
                    present.add(group[0])
                continue
            try:
                names = {posixpath.basename(p.rstrip("/"))
                         for p in self.fs.ls(self.path(prefix), detail=False)}
            except FileNotFoundError:
                continue
            present.update(oid for oid in group if pointer.split_oid(oid)[1] in names)
        return present

    def list_oids(self) -> set[str]:
        """Every object in the store (for copy and gc tooling)."""
        try:
            paths = self.fs.find(self.path("objects"))
        except FileNotFoundError:
            return set()
        found = set()
        for path in paths:
            name = posixpath.basename(path)
            algo = {32: "xxh128", 64: "sha256"}.get(len(name))
            if algo:
                found.add(f"{algo}:{name}")
        return found

    def put_object(self, oid: str, local_path: str, link: bool = False) -> None:
        """Upload a cache object; never overwrites an object already present. With ``link``
        a local store on the same file system gets a hard link instead of a copy (both names
        are read-only and never rewritten in place, so sharing the inode is safe)."""
        target = self.path(object_key(oid))
        if not self.local:
            self.put_file(local_path, object_key(oid), overwrite=False)
        elif not (link and link_into(local_path, target)) and not os.path.exists(target):
            import shutil  # (and tempfile below) off the start-up of every hook

            self._local_atomic(target, lambda tmp: shutil.copyfile(local_path, tmp),
                               read_only=True)

    def local_object_path(self, oid: str) -> str | None:
        """The object's path when this store is a local folder (for hard-linking)."""
        return self.path(object_key(oid)) if self.local else None

    def open_object(self, oid: str) -> BinaryIO:
        return self.fs.open(self.path(object_key(oid)), "rb", block_size=CHUNK)

    def check(self) -> None:
        """Raise a one-line StoreError when the store cannot be used at all (credentials,
        bucket, endpoint). A local folder is created on first write, so it always passes."""

    def put_stream(self, oid: str, source: BinaryIO) -> None:
        """Store an object read from ``source`` (another store), verifying its bytes against
        ``oid`` before anything becomes visible; never overwrites."""
        target = self.path(object_key(oid))
        if self.local:
            self._local_atomic(target, lambda tmp: _copy_verified(source, tmp, oid),
                               read_only=True)
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="git-data-copy-") as folder:
            spool = os.path.join(folder, "object")
            _copy_verified(source, spool, oid)
            self.put_object(oid, spool)

    def server_side_copy(self, source: Store) -> bool:
        """Whether :meth:`copy_object` can copy from ``source`` without the bytes passing
        through this machine."""
        return False

    def copy_object(self, source: Store, oid: str, size: int) -> None:
        raise NotImplementedError

    # ----- files -------------------------------------------------------------------------
    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        target = self.path(key)
        if not overwrite and self.fs.exists(target):
            return
        if self.local:
            self._local_atomic(target, lambda tmp: self.fs.put_file(local_path, tmp))
        else:
            self.fs.put_file(local_path, target)

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        if self.local:
            self._local_atomic(target, lambda tmp: self.fs.pipe_file(tmp, data))
        else:
            self.fs.pipe_file(target, data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if absent; True when this call created it. Local stores use
        O_EXCL via a hard link; object stores a conditional put where the server has one."""
        target = self.path(key)
        if self.local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = self._tmp_name(target)
            with open(tmp, "wb") as stream:
                stream.write(data)
            try:
                os.link(tmp, target)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        if self.fs.exists(target):
            return False
        try:
            self.fs.pipe_file(target, data, IfNoneMatch="*")
        except TypeError:
            self.fs.pipe_file(target, data)
        except OSError as exc:
            if "PreconditionFailed" in str(exc) or "412" in str(exc):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self.path(key)))
        except FileNotFoundError:
            return None

    def read_json(self, key: str) -> Any:
        raw = self.read_bytes(key)
        return None if raw is None else json.loads(raw)

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")

    def open(self, key: str, mode: str = "rb") -> BinaryIO:
        return self.fs.open(self.path(key), mode)

    def list(self, key: str) -> list[str]:
        """Names directly under ``key`` (no paths), empty when it does not exist."""
        try:
            entries = self.fs.ls(self.path(key), detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    def find(self, key: str) -> list[str]:
        """Keys of all files below ``key``, relative to the store root."""
        try:
            paths = self.fs.find(self.path(key))
        except FileNotFoundError:
            return []
        prefix = self.root + "/" if self.root else ""
        return sorted(p[len(prefix):] if p.startswith(prefix) else p for p in paths)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    # ----- local atomicity ---------------------------------------------------------------
    def _tmp_name(self, target: str) -> str:
        tmp_dir = self.path("tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        return posixpath.join(tmp_dir, f"{os.urandom(16).hex()}.{os.path.basename(target)[:40]}")

    def _local_atomic(self, target: str, write: Any, read_only: bool = False) -> None:
        tmp = self._tmp_name(target)
        try:
            write(tmp)
            if read_only:  # objects are never rewritten; say so to anyone who tries
                os.chmod(tmp, 0o444)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def link_into(source: str, target: str) -> bool:
    """Hard-link ``source`` as ``target``; True when ``target`` now exists. A link appears
    complete or not at all, so it needs no temporary name. False (copy instead) across file
    systems or where links are not supported."""
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(source, target)
    except FileExistsError:
        return True
    except OSError:
        return False
    return True


def _copy_verified(source: BinaryIO, path: str, oid: str) -> None:
    algo = pointer.split_oid(oid)[0]
    hasher = new_hasher(algo)
    with open(path, "wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
    if f"{algo}:{hasher.hexdigest()}" != oid:
        raise BadObjectError(f"the bytes read for {oid} hash to {algo}:{hasher.hexdigest()}; "
                             "the source copy is corrupt, nothing was written")


def open_store(url: str, name: str = "", storage_options: dict[str, Any] | None = None,
               secrets: tuple[str, ...] = ()) -> Store:
    """The Store for ``url``: S3 URLs get the tuned :class:`~git_data.store.s3.S3Store`."""
    if url.startswith(("s3://", "s3a://")):
        from .s3 import S3Store

        return S3Store(url, name, storage_options, secrets)
    return Store(url, name, storage_options)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
