"""Remote object stores over fsspec (file://, s3://, gs://, memory://, ...).

Layout under a store URL::

    objects/<hex[0:2]>/<hex[2:4]>/<hex>   immutable content, written once, never overwritten
    branches/<branch>.json                manifest of the last push of a branch
    runs/<id>/...                         training runs (see git_data.runner)
    links/<alias>.json                    aliases for run paths

A :class:`Store` only moves bytes (the transfer queue owns batching, retries and order).
Writes are atomic: a local-directory store writes ``tmp/.<name>.<random>.git-data-tmp``
through safeio (never following a link) and renames; object stores
(S3) publish a key only when its upload completes. Nothing here knows about git.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections.abc import Iterable
from typing import Any, BinaryIO

from .. import pointer, safeio
from ..hashing import new_hasher
from .errors import BadObjectError, StoreError, TransientStoreError
from .localfs import LocalFS, local_root

__all__ = ["CHUNK", "BadObjectError", "Store", "StoreError", "TransientStoreError",
           "object_key", "open_store"]

CHUNK = 1 << 20
TMP_MAX_AGE_S = 3600  # a partial copy in a local store's tmp/ older than this is swept
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
        elif not (link and link_into(local_path, target, self.root)) \
                and not os.path.exists(target):
            self._local_atomic(target, lambda fd: _copy_file(local_path, fd), read_only=True)

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
            self._local_atomic(target, lambda fd: _copy_verified(source, fd, oid),
                               read_only=True)
            return
        import tempfile  # off the start-up of every hook

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
            self._local_atomic(target, lambda fd: _copy_file(local_path, fd))
        else:
            self.fs.put_file(local_path, target)

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        if self.local:
            self._local_atomic(target, lambda fd: _write_all(fd, data))
        else:
            self.fs.pipe_file(target, data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if absent; True when this call created it. Local stores use
        O_EXCL via a hard link; object stores a conditional put where the server has one."""
        target = self.path(key)
        if self.local:
            tmp_fd = self._tmp_dir()
            dir_fd = -1
            try:
                dir_fd = _open_under(self.root, self._rel_dir(target))
                fd, tmp = safeio.create_tmp(tmp_fd, os.path.basename(target), 0o644)
                try:
                    _write_all(fd, data)
                finally:
                    os.close(fd)
                try:  # a link never follows one at ``target``: a name taken is taken
                    os.link(tmp, os.path.basename(target), src_dir_fd=tmp_fd,
                            dst_dir_fd=dir_fd, follow_symlinks=False)
                    return True
                except FileExistsError:
                    return False
                finally:
                    os.unlink(tmp, dir_fd=tmp_fd)
            finally:
                os.close(tmp_fd)
                if dir_fd >= 0:
                    os.close(dir_fd)
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
    def _rel_dir(self, target: str) -> str:
        """The folder of ``target`` relative to the store root (keys are checked: no
        absolute path, no ``..``)."""
        rel = posixpath.relpath(posixpath.dirname(target), self.root)
        return "" if rel == "." else "/".join(safeio.relative_parts(rel))

    def _tmp_dir(self) -> int:
        """A descriptor of the store's ``tmp/`` (made when missing). The first use in a
        process sweeps it of partial copies that killed writers left (older than an hour),
        so the next push cleans up after an interrupted one."""
        fd = _open_under(self.root, "tmp")
        if not getattr(self, "_swept", False):
            self._swept = True
            _sweep_all(fd, TMP_MAX_AGE_S)
        return fd

    def _local_atomic(self, target: str, write: Any, read_only: bool = False) -> None:
        """Write ``target`` in a local store: ``write(fd)`` fills a new temporary file in
        ``tmp/`` (O_EXCL|O_NOFOLLOW, unpredictable name), which is then renamed into place;
        every folder from the store root on is opened without following a link."""
        tmp_fd = self._tmp_dir()
        dir_fd = -1
        try:
            dir_fd = _open_under(self.root, self._rel_dir(target))
            with safeio.AtomicFile(dir_fd, os.path.basename(target),
                                   0o444 if read_only else 0o644, tmp_dir_fd=tmp_fd) as out:
                write(out.fd)
                out.commit()
        finally:
            os.close(tmp_fd)
            if dir_fd >= 0:
                os.close(dir_fd)


def link_into(source: str, target: str, root: str | None = None) -> bool:
    """Hard-link ``source`` as ``target``; True when ``target`` now exists. A link appears
    complete or not at all, so it needs no temporary name. False (copy instead) across file
    systems or where links are not supported. ``root``: a trusted folder above ``target``;
    the folders between are opened without following a link (else only ``target``'s own
    folder is trusted). A link at ``target`` is never followed."""
    try:
        folder = os.path.dirname(target)
        if root is not None:
            rel = os.path.relpath(folder, root)
            dir_fd = _open_under(root, "" if rel == "." else rel)
        else:
            os.makedirs(folder, exist_ok=True)
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except safeio.UnsafePath:
        raise
    except OSError:
        return False
    try:
        os.link(source, os.path.basename(target), dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        return True
    except OSError:
        return False
    finally:
        os.close(dir_fd)
    return True


def _open_under(root: str, rel: str) -> int:
    """``safeio.open_dir(root, rel, create=True)``, making the (trusted) root when missing:
    a local store is created on first write."""
    try:
        return safeio.open_dir(root, rel, create=True)
    except FileNotFoundError:
        os.makedirs(root, exist_ok=True)
        return safeio.open_dir(root, rel, create=True)


def _sweep_all(dir_fd: int, max_age_s: float) -> None:
    """Remove every regular file in a store's ``tmp/`` older than ``max_age_s``: all of
    them are partial copies (also those of earlier versions, named ``<hex>.<name>``)."""
    cutoff = time.time() - max_age_s
    for entry in os.scandir(dir_fd):
        try:
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.name, dir_fd=dir_fd)
        except FileNotFoundError:  # another push swept it first
            pass


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy_file(path: str, fd: int) -> None:
    with open(path, "rb") as source:
        safeio.copy_fd(source.fileno(), fd)


def _copy_verified(source: BinaryIO, fd: int, oid: str) -> None:
    algo = pointer.split_oid(oid)[0]
    hasher = new_hasher(algo)
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        hasher.update(chunk)
        _write_all(fd, chunk)
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
