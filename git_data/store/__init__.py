"""Remote object stores over fsspec (file://, s3://, gs://, memory://, ...).

Layout under a store URL::

    gitdata-store.json                    the store's identity: a random id, written once
    objects/<hex[0:2]>/<hex[2:4]>/<hex>   content (git_data.layout), written once; only a copy
                                          found corrupt or of the wrong size is ever replaced
                                          (replace_object)
    branches/<branch>.json                manifest of the last push of a branch
    runs/<id>/...                         training runs (see git_data.runner)
    links/<alias>.json                    aliases for run paths

A :class:`Store` only moves bytes and says what it can do (:class:`Capabilities`); the
transfer queue reads those and owns batching, retries and order. :func:`open_store` picks
the kind: :class:`LocalStore` for a folder on this machine (the bytes move through
:class:`git_data.folderstore.FolderStore`, which the run host uses too: ``tmp/`` then a
rename, never following a link), ``store.s3.S3Store`` for S3 (a key is published only when
its upload completes), the fsspec-generic :class:`Store` for the rest. Nothing here knows
about git.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from .. import pointer, safeio
from ..folderstore import FolderStore, link_into, local_root
from ..hashing import hash_file, hash_stream, new_hasher
from ..layout import held, object_folder, object_key, oid_of_name
from .errors import BadObjectError, StoreError, TransientStoreError, already_exists

__all__ = ["CHUNK", "STORE_ID_KEY", "BadObjectError", "Capabilities", "LocalStore", "Store",
           "StoreError", "StoreIdError", "TransientStoreError", "link_into", "object_key",
           "open_store"]

CHUNK = 1 << 20
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
            "abfs": "adlfs", "abfss": "adlfs", "adl": "adlfs", "ssh": "paramiko",
            "sftp": "paramiko", "hf": "huggingface_hub", "webdav": "webdav4", "oci": "ocifs",
            "oss": "ossfs"}


STORE_ID_KEY = "gitdata-store.json"
STORE_ID_FORMAT = "git-data-store/1"
STORE_ID_MAX_BYTES = 4096  # the file is read from an untrusted store: never more than this


class StoreIdError(StoreError):
    """The store's id file is not one git-data wrote, or cannot be written: no local record
    of the store is trusted, the store itself is asked."""


@dataclass(frozen=True)
class Capabilities:
    """What a store can do beyond the calls every store has; the transfer queue decides
    from these which way to move bytes (git-lfs style: adapters declare, the queue rules).

    - ``transfers``: parallel transfers when ``data.transfers`` does not say.
    - ``bulk``: ``put_many``/``get_many`` move many small objects as one round of
      concurrent requests (S3, on its event loop) instead of a thread each.
    - ``ranged_get``: ``download_to`` fetches a large object as concurrent ranged GETs.
    - ``local_path``: objects are files on this machine (``local_object_path``), so they can
      be hard-linked with the cache; the store is a folder that may not exist yet.
    - ``copy_service``: stores naming the same service copy objects between each other
      server-side (``copy_object``); None: never.
    """

    transfers: int = 8
    bulk: bool = False
    ranged_get: bool = False
    local_path: bool = False
    copy_service: str | None = None

    def copies_from(self, source: Capabilities) -> bool:
        """Whether this store can copy an object from ``source`` without the bytes passing
        through this machine."""
        return self.copy_service is not None and self.copy_service == source.copy_service


class Store:
    """One store: an fsspec filesystem and a root path inside it."""

    # parallel transfers when data.transfers does not say (disk-bound here)
    capabilities = Capabilities(transfers=8)

    def __init__(self, url: str, name: str = "", storage_options: dict[str, Any] | None = None
                 ) -> None:
        self.url = url
        self.name = name or url
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

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
        return held(oids, self.has, lambda prefix: {
            posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path(prefix),
                                                                  detail=False)})

    def list_oids(self) -> set[str]:
        """Every object in the store (for copy and gc tooling)."""
        try:
            paths = self.fs.find(self.path("objects"))
        except FileNotFoundError:
            return set()
        names = (posixpath.basename(path) for path in paths)
        return {oid for oid in map(oid_of_name, names) if oid is not None}

    def object_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """Size of each of ``oids`` that the store holds (one listing per prefix folder)."""
        found: dict[str, int] = {}
        by_prefix: dict[str, list[str]] = {}
        for oid in dict.fromkeys(oids):
            by_prefix.setdefault(object_folder(oid), []).append(oid)
        for prefix, group in by_prefix.items():
            try:
                entries = self.fs.ls(self.path(prefix), detail=True)
            except FileNotFoundError:
                continue
            sizes = {posixpath.basename(e["name"].rstrip("/")): e.get("size")
                     for e in entries if e.get("type", "file") == "file"}
            for oid in group:
                size = sizes.get(pointer.split_oid(oid)[1])
                if isinstance(size, int):
                    found[oid] = size
        return found

    def put_object(self, oid: str, local_path: str, link: bool = False) -> None:
        """Upload a cache object; never overwrites an object already present. ``link`` (a
        hard link instead of a copy) means something only to a local folder."""
        self.put_file(local_path, object_key(oid), overwrite=False)

    def hash_object(self, oid: str) -> tuple[str, int]:
        """Stream the store's copy of ``oid`` through its hasher (constant memory): its
        actual oid and size."""
        with self.open_object(oid) as stream:
            return hash_stream(stream, pointer.split_oid(oid)[0])

    def replace_object(self, oid: str, local_path: str,
                       still_bad: Callable[[], bool]) -> bool:
        """Replace the store's copy of ``oid`` (found corrupt or of the wrong size) with the
        local file ``local_path``, never putting unverified bytes in its place: the local
        file is hashed first, then written under a new name and checked there, and only if
        ``still_bad()`` (asked last, just before the swap) says the store's copy is still
        bad does the new copy take its name. False: nothing was replaced (the copy had been
        fixed meanwhile)."""
        actual, size = hash_file(local_path, pointer.split_oid(oid)[0])
        if actual != oid:
            raise BadObjectError(f"the local copy of {oid} at {local_path} hashes to {actual}; "
                                 "it cannot replace the store's copy (run `git data fsck "
                                 "--repair` to get a good one)")
        return self._replace(oid, local_path, size, still_bad)

    def _replace(self, oid: str, local_path: str, size: int,
                 still_bad: Callable[[], bool]) -> bool:
        """A temporary key, size-checked, copied onto the object's key, then removed."""
        tmp = f"tmp/{os.urandom(16).hex()}.{pointer.split_oid(oid)[1]}"
        self.put_file(local_path, tmp, overwrite=True)
        try:
            uploaded = self.fs.size(self.path(tmp))
            if uploaded != size:
                raise BadObjectError(f"the upload of {oid} to {self.describe()} arrived with "
                                     f"{uploaded} bytes, not {size}; the store's copy was left "
                                     "as it was")
            if not still_bad():
                return False
            self.fs.copy(self.path(tmp), self.path(object_key(oid)))
        finally:
            try:
                self.fs.rm_file(self.path(tmp))
            except FileNotFoundError:
                pass
        return True

    def local_object_path(self, oid: str) -> str | None:
        """The object's path when this store is a local folder (for hard-linking)."""
        return None

    def open_object(self, oid: str) -> BinaryIO:
        return self.fs.open(self.path(object_key(oid)), "rb", block_size=CHUNK)

    def check(self) -> None:
        """Raise a one-line StoreError when the store cannot be used at all (credentials,
        bucket, endpoint). A local folder is created on first write, so it always passes."""

    def abort_stale_uploads(self) -> int:
        """Abort uploads killed pushes left behind (S3: see S3Store); how many. Here: none."""
        return 0

    # ----- what only some stores can do (see capabilities) -------------------------------
    def put_many(self, objects: list[tuple[str, str]]) -> dict[str, BaseException | None]:
        """(``capabilities.bulk``) Upload small cache objects, (oid, path) pairs, in one
        round of concurrent requests: each oid's error, or None when stored."""
        raise NotImplementedError(f"{self.describe()} has no bulk upload")

    def get_many(self, oids: list[str], sizes: dict[str, int] | None = None
                 ) -> dict[str, bytes | BaseException]:
        """(``capabilities.bulk``) Download small objects in one round: each oid's bytes
        (unverified) or its error."""
        raise NotImplementedError(f"{self.describe()} has no bulk download")

    def download_to(self, oid: str, size: int, fd: int,
                    on_bytes: Callable[[int], None] | None = None) -> None:
        """(``capabilities.ranged_get``) Fetch a large object into the empty file ``fd``
        (owned and closed by this call) as concurrent ranges; ``on_bytes`` hears each
        chunk's length."""
        raise NotImplementedError(f"{self.describe()} has no ranged download")

    def copy_object(self, source: Store, oid: str, size: int) -> None:
        """(``capabilities.copies_from(source.capabilities)``) Copy server-side."""
        raise NotImplementedError(f"{self.describe()} cannot copy server-side")

    # ----- identity ----------------------------------------------------------------------
    def store_id(self) -> str | None:
        """The id in the store's ``gitdata-store.json``; None when it has none. Raises
        StoreError when the file is there but is not an id git-data wrote (the caller
        then trusts no local record of this store)."""
        key = STORE_ID_KEY
        try:
            raw = self._read_id(key)
        except FileNotFoundError:
            return None
        try:
            value = json.loads(raw) if len(raw) <= STORE_ID_MAX_BYTES else None
        except ValueError:
            value = None
        ident = value.get("id") if isinstance(value, dict) else None
        if not (isinstance(ident, str) and len(ident) == 32
                and all(c in "0123456789abcdef" for c in ident)):
            raise StoreIdError(f"store {self.describe()}: {key} is not a store id git-data "
                             "wrote; if nothing else uses this store, remove that file and "
                             "the next push writes a new one")
        return ident

    def _read_id(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(key), start=0, end=STORE_ID_MAX_BYTES + 1))

    def ensure_store_id(self) -> str:
        """The store's id, created first when it has none (once: a create-exclusive write,
        so concurrent first pushes agree on one id, read back from the store)."""
        ident = self.store_id()
        if ident is not None:
            return ident
        record = {"format": STORE_ID_FORMAT, "id": os.urandom(16).hex(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            self.create_exclusive(STORE_ID_KEY, json.dumps(record, indent=2).encode() + b"\n")
        except OSError as exc:  # a local folder that cannot be written (S3 maps its own)
            raise StoreIdError(f"store {self.describe()}: cannot write {STORE_ID_KEY} "
                             f"({exc.strerror or exc})") from exc
        ident = self.store_id()  # ours, or the one a concurrent first push wrote
        if ident is None:
            raise StoreIdError(f"store {self.describe()}: {STORE_ID_KEY} could not be written "
                             "(it is missing right after it was created)")
        return ident

    def put_stream(self, oid: str, source: BinaryIO) -> None:
        """Store an object read from ``source`` (another store), verifying its bytes against
        ``oid`` before anything becomes visible; never overwrites."""
        import tempfile  # off the start-up of every hook

        with tempfile.TemporaryDirectory(prefix="git-data-copy-") as folder:
            spool = os.path.join(folder, "object")
            _copy_verified(source, spool, oid)
            self.put_object(oid, spool)

    # ----- files -------------------------------------------------------------------------
    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        target = self.path(key)
        if not overwrite and self.fs.exists(target):
            return
        self.fs.put_file(local_path, target)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(key), data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if absent; True when this call created it (a conditional put
        where the server has one)."""
        target = self.path(key)
        if self.fs.exists(target):
            return False
        try:
            self.fs.pipe_file(target, data, IfNoneMatch="*")
        except TypeError:
            self.fs.pipe_file(target, data)
        except Exception as exc:
            if already_exists(exc) or "PreconditionFailed" in str(exc) or "412" in str(exc):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self.path(key)))
        except FileNotFoundError:
            return None

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of ``key`` (a log being followed)."""
        return bytes(self.fs.cat_file(self.path(key), start=start, end=end))

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

    def is_dir(self, key: str) -> bool:
        return bool(self.fs.isdir(self.path(key)))

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def sign(self, key: str, seconds: int) -> str:
        """A URL others can download ``key`` from for ``seconds``; NotImplementedError where
        the store has none."""
        return str(self.fs.sign(self.path(key), expiration=seconds))


class LocalStore(Store):
    """A store that is a folder on this machine: every call goes to the
    :class:`~git_data.folderstore.FolderStore` that the run host uses too; here only the
    hashing (xxhash) is added, which the host imports only when it needs it."""

    capabilities = Capabilities(transfers=8, local_path=True)

    def __init__(self, url: str, name: str = "", root: str | None = None) -> None:
        self.url = url
        self.name = name or url
        self.folder = FolderStore(root or local_root(url) or url, url, self.name)
        self.root = self.folder.root

    def path(self, key: str) -> str:
        return self.folder.path(key)

    # ----- objects -----------------------------------------------------------------------
    def has(self, oid: str) -> bool:
        return self.folder.has(oid)

    def has_many(self, oids: Iterable[str]) -> set[str]:
        return self.folder.has_many(oids)

    def list_oids(self) -> set[str]:
        return self.folder.list_oids()

    def object_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        return self.folder.object_sizes(oids)

    def put_object(self, oid: str, local_path: str, link: bool = False) -> None:
        self.folder.put_object(oid, local_path, link)

    def local_object_path(self, oid: str) -> str | None:
        return self.folder.object_path(oid)

    def open_object(self, oid: str) -> BinaryIO:
        return self.folder.open_object(oid)  # type: ignore[return-value]

    def hash_object(self, oid: str) -> tuple[str, int]:
        """As Store's; the object is opened without following a link."""
        try:
            stream = self.folder.open_object(oid)
        except safeio.UnsafePath as exc:
            raise BadObjectError(f"{self.folder.object_path(oid)} is not a plain file") from exc
        with stream:
            return hash_stream(stream, pointer.split_oid(oid)[0])  # type: ignore[arg-type]

    def _replace(self, oid: str, local_path: str, size: int,
                 still_bad: Callable[[], bool]) -> bool:
        """A new file, hashed as it is written, renamed over the object."""
        def write(fd: int) -> bool:
            with open(local_path, "rb") as source:
                _copy_verified(source, fd, oid, f"the local copy of {oid} at {local_path} "
                               "changed while it was copied; the store's copy was left as "
                               "it was")
            return still_bad()

        return self.folder.atomic(object_key(oid), write, read_only=True)

    def put_stream(self, oid: str, source: BinaryIO) -> None:
        self.folder.atomic(object_key(oid), lambda fd: _copy_verified(source, fd, oid),
                           read_only=True)

    def _read_id(self, key: str) -> bytes:
        return _read_local_head(self.path(key), STORE_ID_MAX_BYTES + 1)

    # ----- files -------------------------------------------------------------------------
    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        self.folder.put_file(local_path, key, overwrite)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.folder.write_bytes(key, data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        return self.folder.create_exclusive(key, data)

    def read_bytes(self, key: str) -> bytes | None:
        return self.folder.read_bytes(key)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        data = self.folder.read_bytes(key, start, end)
        if data is None:
            raise FileNotFoundError(self.path(key))
        return data

    def open(self, key: str, mode: str = "rb") -> BinaryIO:
        return self.folder.open(key, mode)  # type: ignore[return-value]

    def list(self, key: str) -> list[str]:
        return self.folder.list(key)

    def find(self, key: str) -> list[str]:
        return self.folder.find(key)

    def exists(self, key: str) -> bool:
        return self.folder.exists(key)

    def is_dir(self, key: str) -> bool:
        return self.folder.is_dir(key)

    def size(self, key: str) -> int:
        return self.folder.size(key)

    def sign(self, key: str, seconds: int) -> str:
        raise NotImplementedError("a local folder has no signed URLs")


def _read_local_head(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of a regular file in a local store, never through a link nor
    blocking on a FIFO planted at its name (a link or anything else raises StoreIdError)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise StoreIdError(f"cannot read {path}: {exc.strerror}; it must be a plain file") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreIdError(f"refusing to read {path}: not a plain file")
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _copy_verified(source: BinaryIO, target: int | str, oid: str, changed: str = "") -> None:
    """Copy ``source`` to ``target`` (a descriptor or a new file's path) hashing on the way;
    BadObjectError (``changed``, or a corrupt source) when the bytes are not ``oid``'s."""
    algo = pointer.split_oid(oid)[0]
    hasher = new_hasher(algo)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600) \
        if isinstance(target, str) else target
    try:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
            safeio.write_all(out, chunk)
    finally:
        if out is not target:
            os.close(out)
    if f"{algo}:{hasher.hexdigest()}" != oid:
        raise BadObjectError(changed or f"the bytes read for {oid} hash to {algo}:"
                             f"{hasher.hexdigest()}; the source copy is corrupt, nothing was "
                             "written")


def open_store(url: str, name: str = "", storage_options: dict[str, Any] | None = None,
               secrets: tuple[str, ...] = ()) -> Store:
    """The Store for ``url``: a folder on this machine gets :class:`LocalStore`, S3 URLs the
    tuned :class:`~git_data.store.s3.S3Store`, anything else fsspec's filesystem."""
    root = None if storage_options else local_root(url)
    if root is not None:
        return LocalStore(url, name, root)
    if url.startswith(("s3://", "s3a://")):
        from .s3 import S3Store

        return S3Store(url, name, storage_options, secrets)
    return Store(url, name, storage_options)
