"""Remote object stores over fsspec (file://, s3://, gs://, memory://, ...).

Layout under a store URL::

    gitdata-store.json                    the store's identity: a random id, written once
    objects/<hex[0:2]>/<hex[2:4]>/<hex>   content, written once; only a copy found corrupt or
                                          of the wrong size is ever replaced (replace_object)
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
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from .. import pointer
from ..hashing import hash_file, hash_stream, new_hasher
from .errors import BadObjectError, StoreError, TransientStoreError, already_exists
from .localfs import LocalFS, local_root

__all__ = ["CHUNK", "STORE_ID_KEY", "BadObjectError", "Store", "StoreError", "StoreIdError",
           "TransientStoreError", "object_key", "open_store"]

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

    def object_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """Size of each of ``oids`` that the store holds (a regular file, for a local
        folder: a link or folder planted at an object's name counts as absent)."""
        found: dict[str, int] = {}
        if self.local:
            import stat

            for oid in dict.fromkeys(oids):
                try:
                    info = os.lstat(self.path(object_key(oid)))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if stat.S_ISREG(info.st_mode):
                    found[oid] = info.st_size
            return found
        by_prefix: dict[str, list[str]] = {}
        for oid in dict.fromkeys(oids):
            by_prefix.setdefault(posixpath.dirname(object_key(oid)), []).append(oid)
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

    def hash_object(self, oid: str) -> tuple[str, int]:
        """Stream the store's copy of ``oid`` through its hasher (constant memory): its
        actual oid and size. A local folder's object is opened without following a link."""
        algo = pointer.split_oid(oid)[0]
        if not self.local:
            with self.open_object(oid) as stream:
                return hash_stream(stream, algo)
        path = self.path(object_key(oid))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BadObjectError(f"{path} is not a plain file")
        with os.fdopen(fd, "rb", buffering=0) as stream:
            return hash_stream(stream, algo)  # type: ignore[arg-type]

    def replace_object(self, oid: str, local_path: str,
                       still_bad: Callable[[], bool]) -> bool:
        """Replace the store's copy of ``oid`` (found corrupt or of the wrong size) with the
        local file ``local_path``, never putting unverified bytes in its place: the local
        file is hashed first, then written under a new name and checked there, and only if
        ``still_bad()`` (asked last, just before the swap) says the store's copy is still
        bad does the new copy take its name. False: nothing was replaced (the copy had been
        fixed meanwhile). Local folder: a temporary file renamed over the object. Other
        stores: a temporary key, size-checked, copied onto the object's key, then removed."""
        actual, size = hash_file(local_path, pointer.split_oid(oid)[0])
        if actual != oid:
            raise BadObjectError(f"the local copy of {oid} at {local_path} hashes to {actual}; "
                                 "it cannot replace the store's copy (run `git data fsck "
                                 "--repair` to get a good one)")
        if self.local:
            return self._replace_local(oid, local_path, still_bad)
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

    def _replace_local(self, oid: str, local_path: str, still_bad: Callable[[], bool]) -> bool:
        from .. import safeio  # (ctypes) off the start-up of every hook

        folder = posixpath.dirname(object_key(oid))
        dir_fd = safeio.open_dir(self.root, folder, create=True)
        try:
            with open(local_path, "rb") as source, safeio.AtomicFile(
                    dir_fd, posixpath.basename(object_key(oid)), mode=0o444) as out:
                algo = pointer.split_oid(oid)[0]
                hasher = new_hasher(algo)
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                if f"{algo}:{hasher.hexdigest()}" != oid:  # changed since it was hashed
                    raise BadObjectError(f"the local copy of {oid} at {local_path} changed while "
                                         "it was copied; the store's copy was left as it was")
                if not still_bad():
                    return False
                out.commit()
        finally:
            os.close(dir_fd)
        return True

    def local_object_path(self, oid: str) -> str | None:
        """The object's path when this store is a local folder (for hard-linking)."""
        return self.path(object_key(oid)) if self.local else None

    def open_object(self, oid: str) -> BinaryIO:
        return self.fs.open(self.path(object_key(oid)), "rb", block_size=CHUNK)

    def check(self) -> None:
        """Raise a one-line StoreError when the store cannot be used at all (credentials,
        bucket, endpoint). A local folder is created on first write, so it always passes."""

    # ----- identity ----------------------------------------------------------------------
    def store_id(self) -> str | None:
        """The id in the store's ``gitdata-store.json``; None when it has none. Raises
        StoreError when the file is there but is not an id git-data wrote (the caller
        then trusts no local record of this store)."""
        key = STORE_ID_KEY
        try:
            raw = (_read_local_head(self.path(key), STORE_ID_MAX_BYTES + 1) if self.local else
                   bytes(self.fs.cat_file(self.path(key), start=0, end=STORE_ID_MAX_BYTES + 1)))
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
