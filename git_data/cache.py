"""The local object cache: ``<cache>/objects/<hex[0:2]>/<hex[2:4]>/<hex>`` (git_data.layout).

Objects are written to a temporary name first (``<cache>/tmp/``, or beside the final name for
objects under a MiB, see ObjectWriter), hashed while they are written, and renamed into place
only when complete, so a reader never sees a partial object and a killed writer leaves at
most a temporary file (``.obj-*``, removed by ``git data gc``). Objects are read-only and never
modified once present; two writers racing on the same oid both rename identical bytes.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from . import hashing, pointer, safeio
from .errors import FatalError
from .layout import OBJECTS, object_folder, object_key

TMP_MAX_AGE_S = 3600


class CorruptObject(FatalError):
    def __init__(self, oid: str, path: Path, actual: str) -> None:
        super().__init__(f"cache object {oid} at {path} is corrupt (its bytes hash to {actual}); "
                         "run `git data fsck --repair`")
        self.oid = oid


class ObjectWriter:
    """Streams bytes into a temporary file while hashing them; ``commit`` renames into place.

    The first MiB is gathered in memory and no file exists until more arrives, so an object
    smaller than that is written only once its oid is known: not at all when the cache
    already holds it, else to a temporary name in its final folder. Creating files is what
    costs most for many small objects (a file system allocates an inode for each)."""

    def __init__(self, cache: Cache, algo: str) -> None:
        self.cache = cache
        self.hasher = hashing.new_hasher(algo)
        self.algo = algo
        self.size = 0
        self.tmp_path: str | None = None
        self.file: BinaryIO | None = None
        self._buffer = _take_buffer()  # small writes gathered into one system call per MiB
        self._filled = 0

    def write(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        size = len(data)
        self.size += size
        if self._filled + size > len(self._buffer):
            self._flush()
        if size >= len(self._buffer):
            self._write_all(data)
            return
        self._buffer[self._filled:self._filled + size] = data
        self._filled += size

    def _open(self, folder: str) -> BinaryIO:
        fd, self.tmp_path = self.cache.new_tmp_file(folder)
        self.file = os.fdopen(fd, "wb", buffering=0)
        return self.file

    def _flush(self) -> None:
        if self._filled:
            self._write_all(memoryview(self._buffer)[:self._filled])
            self._filled = 0

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        file = self.file or self._open(self.cache.tmp_dir_str)
        view = memoryview(data)
        while view:
            view = view[file.write(view):]

    def commit(self, expected_oid: str | None = None) -> str:
        """Finish: returns the oid. With ``expected_oid`` a mismatch discards the bytes."""
        oid = f"{self.algo}:{self.hasher.hexdigest()}"
        if expected_oid is not None and oid != expected_oid:
            self.abort()
            raise FatalError(f"downloaded bytes for {expected_oid} hash to {oid}; rejected")
        try:
            if self.file is None and self.cache.has(oid):
                return oid  # small and already cached: nothing to write
            if self.file is None:
                self._open(self.cache.folder_of(oid))
            self._flush()
            assert self.file is not None and self.tmp_path is not None
            self.file.close()
            self.cache.adopt(self.tmp_path, oid, read_only=True, hashed=True)
        except BaseException:
            self.abort()
            raise
        finally:
            self._release()
        return oid

    def abort(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()
        if self.tmp_path is not None:
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass
        self._release()

    def _release(self) -> None:
        if self._buffer:
            _give_back(self._buffer)
            self._buffer = bytearray()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


_local = threading.local()


def _take_buffer() -> bytearray:
    """A write buffer kept per thread and reused by every object it writes: allocating a
    fresh MiB per object costs a mapping and page faults each time. A writer opened while
    another is open in the same thread gets a fresh one."""
    spare: bytearray | None = getattr(_local, "spare", None)
    _local.spare = None
    return spare if spare is not None else bytearray(hashing.CHUNK)


def _give_back(buffer: bytearray) -> None:
    _local.spare = buffer  # one kept per thread is enough


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self._root = str(root)
        self.tmp_dir = root / "tmp"
        self.tmp_dir_str = str(self.tmp_dir)
        self._folders: set[str] = set()  # folders this process made or found: no mkdir again
        self._dir_fds: dict[str, int] = {}  # parent folder -> descriptor (see _parent_fd)
        # oid -> identity (inode, size, mtime, ctime) of the object when this process hashed
        # it: an object unchanged since needs no second hash before it is copied out
        self._hashed: dict[str, tuple[int, int, int, int]] = {}

    def path(self, oid: str) -> Path:
        return Path(self._path_str(oid))

    def has(self, oid: str) -> bool:
        return os.path.isfile(self._path_str(oid))

    def held(self, oids: Iterable[str]) -> set[str]:
        """Those of ``oids`` the cache holds, as ``has`` tells of each. For status, which asks
        about every tracked file: each stat starts from the objects folder (a shorter path
        for the kernel to walk), opened once."""
        try:
            fd = os.open(self.objects_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return set()
        found, stat_at, regular, skip = set(), os.stat, stat.S_ISREG, len(OBJECTS) + 1
        try:
            for oid in oids:
                try:  # object_key validates the oid: no "/" or ".." reaches a name
                    st = stat_at(object_key(oid)[skip:], dir_fd=fd)
                except OSError:
                    continue
                if regular(st.st_mode):
                    found.add(oid)
        finally:
            os.close(fd)
        return found

    def _path_str(self, oid: str) -> str:
        # a string, not a Path: status asks `has` for every tracked file
        return f"{self._root}/{object_key(oid)}"

    def folder_of(self, oid: str) -> str:
        return f"{self._root}/{object_folder(oid)}"

    def ensure_folder(self, folder: str, again: bool = False) -> None:
        """Make ``folder`` unless this process made or found it before (``again``: it may
        been removed since, by hand or by another tool). Below the cache root each folder is
        made through its parent's descriptor, opened once without following links."""
        if not again and folder in self._folders:
            return
        root = str(self.root)
        if folder.startswith(root + "/"):
            parent, _, name = folder.rpartition("/")
            safeio.make_dir_at(self._parent_fd(root, parent, again), name)
        else:
            os.makedirs(folder, exist_ok=True)
        self._folders.add(folder)

    def _parent_fd(self, root: str, parent: str, again: bool) -> int:
        """A descriptor of ``parent`` (objects/ or objects/aa), kept for the process: at most
        257 of them. Making each object folder by walking from the root instead cost 20,000
        small files 2.1 times the open calls of the add (strace)."""
        fd = None if again else self._dir_fds.get(parent)
        if fd is None:
            os.makedirs(root, exist_ok=True)  # the trusted root (data.cacheDir) itself
            rel = parent[len(root) + 1:] if parent != root else ""
            fd = safeio.open_dir(root, rel, create=True)
            if self._dir_fds.setdefault(parent, fd) != fd:  # another thread was first
                if again:
                    self._dir_fds[parent] = fd  # the old one may name a removed folder
                else:
                    os.close(fd)
                    fd = self._dir_fds[parent]
        return fd

    def new_tmp_file(self, folder: str) -> tuple[int, str]:
        """A new read-only temporary file ``.obj-*`` in ``folder`` (made when missing), open
        for writing. Read-only from the start, so adopting it needs no chmod."""
        for attempt in range(3):
            self.ensure_folder(folder, again=attempt > 0)
            name = f"{folder}/.obj-{os.getpid()}-{os.urandom(6).hex()}"
            try:
                return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o444), name
            except (FileExistsError, FileNotFoundError):  # a name taken; a folder removed
                continue
        raise FatalError(f"cannot create a temporary file in {folder}")

    def writer(self, algo: str = hashing.DEFAULT_ALGORITHM) -> ObjectWriter:
        return ObjectWriter(self, algo)

    def adopt(self, tmp_path: str | Path, oid: str, read_only: bool = False,
              hashed: bool = False) -> Path:
        """Rename a complete temporary file into place as ``oid`` (read-only; ``read_only``:
        it already is). ``hashed``: the caller hashed these very bytes to ``oid``."""
        final = self._path_str(oid)
        if not read_only and os.stat(tmp_path).st_mode & 0o777 != 0o444:  # a hard-linked
            # store object already is read-only, and chmod would need its owner
            os.chmod(tmp_path, 0o444)
        folder = final.rsplit("/", 1)[0]
        self.ensure_folder(folder)
        try:
            os.replace(tmp_path, final)
        except FileNotFoundError:  # the folder was removed after this process saw it
            if not os.path.exists(tmp_path):
                raise
            self.ensure_folder(folder, again=True)
            os.replace(tmp_path, final)
        if hashed:
            self._hashed[oid] = _identity(os.stat(final))
        return Path(final)

    def hashed_since_written(self, oid: str, stat: os.stat_result) -> bool:
        """Whether this process hashed the object and it is unchanged since (same inode,
        size, mtime and ctime: a chmod or a write changes the ctime)."""
        return self._hashed.get(oid) == _identity(stat)

    def insert_file(self, source: Path, algo: str = hashing.DEFAULT_ALGORITHM) -> str:
        """Copy a file into the cache (hashing it on the way); returns its oid."""
        with open(source, "rb") as stream, self.writer(algo) as writer:
            copy_stream(stream, writer)
            return writer.commit()

    def open(self, oid: str) -> BinaryIO:
        fd = os.open(self._path_str(oid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        return os.fdopen(fd, "rb")

    def verify(self, oid: str) -> str | None:
        """Re-hash an object; returns the actual oid when it differs, None when it is sound."""
        algo, _ = pointer.split_oid(oid)
        actual, _ = hashing.hash_file(str(self.path(oid)), algo)
        return None if actual == oid else actual

    def iter_oids(self) -> Iterator[str]:
        if not self.objects_dir.is_dir():
            return
        for first in sorted(os.listdir(self.objects_dir)):
            for second in sorted(os.listdir(self.objects_dir / first)):
                for name in sorted(os.listdir(self.objects_dir / first / second)):
                    algo = {32: "xxh128", 64: "sha256"}.get(len(name))
                    if algo:
                        yield f"{algo}:{name}"

    def remove(self, oid: str) -> None:
        self.path(oid).unlink(missing_ok=True)

    def quarantine(self, oid: str) -> Path:
        """Move a corrupt object aside (never deleted) so a good copy can take its place."""
        qdir = self.root / "quarantine"
        qdir.mkdir(parents=True, exist_ok=True)
        dest = qdir / f"{pointer.split_oid(oid)[1]}.{int(time.time())}"
        import shutil

        shutil.move(str(self.path(oid)), dest)
        return dest

    def stale_tmp_files(self, max_age_s: float = TMP_MAX_AGE_S) -> list[Path]:
        """Temporary files of writers long gone: in tmp/, and ``.obj-*`` beside objects."""
        cutoff = time.time() - max_age_s
        found = list(self.tmp_dir.iterdir()) if self.tmp_dir.is_dir() else []
        found += self.objects_dir.glob("*/*/.obj-*")
        return [p for p in found if p.is_file() and p.stat().st_mtime < cutoff]


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def copy_stream(source: BinaryIO, writer: ObjectWriter, chunk: int = hashing.CHUNK) -> None:
    buf = bytearray(chunk)
    view = memoryview(buf)
    while True:
        n = source.readinto(view)  # type: ignore[attr-defined]
        if not n:
            return
        writer.write(view[:n])
