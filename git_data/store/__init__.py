"""Remote object stores over fsspec (file://, s3://, gs://, memory://, ...).

Layout under a store URL::

    gitdata-store.json                    the store's identity: a random id, written once
    objects/<hex[0:2]>/<hex[2:4]>/<hex>   content, written once; only a copy found corrupt or
                                          of the wrong size is ever replaced (replace_object)
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
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from .. import pointer, safeio
from ..hashing import hash_file, hash_stream, new_hasher
from .errors import BadObjectError, StoreError, TransientStoreError, already_exists
from .localfs import LocalFS, local_root

__all__ = ["CHUNK", "STORE_ID_KEY", "BadObjectError", "Store", "StoreError", "StoreIdError",
           "TransientStoreError", "object_key", "open_store"]

CHUNK = 1 << 20
TMP_MAX_AGE_S = 3600  # a partial copy in a local store's tmp/ older than this is swept
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
        elif not (link and link_into(local_path, target, self.root)) \
                and not os.path.exists(target):
            self._local_atomic(target, lambda fd: _copy_file(local_path, fd), read_only=True)

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
            self._local_atomic(target, lambda fd: safeio.write_all(fd, data))
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
                    safeio.write_all(fd, data)
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
        safeio.write_all(fd, chunk)
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
