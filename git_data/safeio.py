"""The one way git-data creates a file: atomically, never through a symlink.

Repository content is untrusted: a clone may carry a symlink at any name it likes, in the
work tree or in a folder git-data writes into. So every file git-data creates (work-tree
files, cache and store objects, records, host folders) comes from here:

- the folder is opened without following links, one component at a time under a root the
  caller trusts (``open_dir``): a symlinked folder inside the root is refused;
- the temporary file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under an
  unpredictable name (``.<name>.<random>.git-data-tmp``) relative to that folder's
  descriptor, so nothing planted in advance can be written through;
- its mode is set on the descriptor (``fchmod``), never by name;
- it is renamed into place relative to the same descriptor (optionally after ``fsync``),
  and removed again if anything fails before that.

A temporary file left by a killed process carries ``TMP_SUFFIX``; ``sweep`` removes those
older than a given age, and `git data install` keeps them out of `git add` (info/exclude).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from .errors import FatalError

TMP_SUFFIX = ".git-data-tmp"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(FatalError):
    """A path that would leave its root or pass through a symlink."""


def relative_parts(rel: str | os.PathLike[str]) -> list[str]:
    """The components of a relative path read from untrusted content, checked: no absolute
    path, no ``..``, no empty or NUL component."""
    text = os.fspath(rel)
    if not text or text.startswith("/") or "\0" in text:
        raise UnsafePath(f"refusing path {text!r}: it must be relative and non-empty")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafePath(f"refusing path {text!r}: it leaves its folder")
    return parts


def inside(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> Path:
    """``root/rel`` after checking that ``rel`` stays inside ``root`` (lexically)."""
    return Path(root, *relative_parts(rel))


def open_dir(root: str | os.PathLike[str], rel: str | os.PathLike[str] = "",
             create: bool = False) -> int:
    """A descriptor of the folder ``root/rel``, opened one component at a time without
    following a link (``root`` itself is trusted and may be a link). ``create``: make
    missing folders. Raises UnsafePath when a component is a symlink or not a folder."""
    fd = os.open(os.fspath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in relative_parts(rel) if os.fspath(rel) not in ("", ".") else []:
            fd = _step(fd, part, create, root, rel)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(fd: int, part: str, create: bool, root: str | os.PathLike[str],
          rel: str | os.PathLike[str]) -> int:
    try:
        child = os.open(part, _DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(part, 0o777, dir_fd=fd)
        except FileExistsError:
            pass
        child = os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            where = os.path.join(os.fspath(root), os.fspath(rel))
            raise UnsafePath(f"refusing to use {where}: {part!r} in it is a symlink or "
                             "not a folder") from None
        raise
    os.close(fd)
    return child


def make_dir_at(dir_fd: int, name: str) -> None:
    """Make the folder ``name`` in ``dir_fd`` when missing; UnsafePath when that name is a
    symlink or not a folder. The parent descriptor stays open (callers keep it for many
    children: one system call per new folder)."""
    try:
        os.mkdir(name, 0o777, dir_fd=dir_fd)
        return  # made just now, by this call: a folder
    except FileExistsError:
        pass
    try:
        os.close(os.open(name, _DIR_FLAGS, dir_fd=dir_fd))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(f"refusing to use {name!r}: a symlink or not a folder") from None
        raise


def tmp_name(name: str) -> str:
    """An unpredictable temporary name beside ``name``."""
    return f".{name[:60]}.{os.urandom(8).hex()}{TMP_SUFFIX}"


def create_new(dir_fd: int, name: str, mode: int = 0o644) -> int:
    """Create ``name`` in ``dir_fd``; fails (FileExistsError) if anything, a link included,
    already has that name."""
    return os.open(name, _NEW_FLAGS, mode, dir_fd=dir_fd)


def create_tmp(dir_fd: int, name: str, mode: int = 0o600) -> tuple[int, str]:
    """A new temporary file for ``name`` in ``dir_fd``: (descriptor, its name). The
    descriptor holds an exclusive flock until it is closed, so ``sweep`` can tell the file
    of a live writer from one a killed writer left (the kernel drops a dead one's lock)."""
    for _ in range(8):
        tmp = tmp_name(name)
        try:
            fd = create_new(dir_fd, tmp, mode)
        except FileExistsError:
            continue
        if _lock_still_named(fd, dir_fd, tmp):
            return fd, tmp
        os.close(fd)  # a sweep took it between its creation and our lock: another name
    raise FatalError(f"cannot create a temporary file for {name}")


def _lock_still_named(fd: int, dir_fd: int, tmp: str) -> bool:
    """Lock a just-made temporary file and check that ``tmp`` still names it. A sweep that
    opened it before this lock took the lock first and removed it (see ``sweep``): the
    blocking flock waits for that sweep, and the check sees the name gone. Where the file
    system has no flock, the file stays unlocked and only age lets a sweep take it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        return True
    return _same_file(fd, dir_fd, tmp)


def _same_file(fd: int, dir_fd: int | None, name: str) -> bool:
    try:
        named = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


class AtomicFile:
    """A file written under a temporary name and renamed to ``name`` in ``dir_fd`` on
    ``commit``. ``exchange``: swap it with an existing file (renameat2 RENAME_EXCHANGE,
    where the system has it) and remove that file, instead of renaming over it.
    ``tmp_dir_fd``: make the temporary file in that folder instead (on the same file
    system), e.g. a store's ``tmp/``, so a killed writer leaves nothing beside the objects."""

    def __init__(self, dir_fd: int, name: str, mode: int = 0o644, fsync: bool = False,
                 tmp_dir_fd: int | None = None) -> None:
        if "/" in name or name in ("", ".", ".."):
            raise UnsafePath(f"refusing file name {name!r}")
        self.dir_fd, self.name, self.mode, self.fsync = dir_fd, name, mode, fsync
        self.tmp_dir_fd = dir_fd if tmp_dir_fd is None else tmp_dir_fd
        self.fd, self.tmp = create_tmp(self.tmp_dir_fd, name, 0o600)
        self.done = False

    def write(self, data: bytes | memoryview) -> None:
        write_all(self.fd, data)

    def commit(self, exchange: bool = False) -> None:
        os.fchmod(self.fd, self.mode)
        if self.fsync:
            os.fsync(self.fd)
        # renamed while still open and locked: a sweep never takes it for a dead writer's
        if not (exchange and _exchange(self.dir_fd, self.tmp, self.name, self.tmp_dir_fd)):
            os.replace(self.tmp, self.name, src_dir_fd=self.tmp_dir_fd, dst_dir_fd=self.dir_fd)
        self.done = True
        os.close(self.fd)
        self.fd = -1
        if self.fsync:
            os.fsync(self.dir_fd)

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self.done:
            try:
                os.unlink(self.tmp, dir_fd=self.tmp_dir_fd)
            except FileNotFoundError:
                pass
            self.done = True

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None or not self.done:
            self.abort()


def _exchange(dir_fd: int, tmp: str, name: str, tmp_dir_fd: int | None = None) -> bool:
    """Swap ``tmp`` and ``name`` and remove the old file (now ``tmp``); False where the
    system cannot (no renameat2, a file system without RENAME_EXCHANGE, no ``name``)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    tmp_dir_fd = dir_fd if tmp_dir_fd is None else tmp_dir_fd
    if renameat2(tmp_dir_fd, os.fsencode(tmp), dir_fd, os.fsencode(name),
                  RENAME_EXCHANGE) != 0:
        return False
    try:
        os.unlink(tmp, dir_fd=tmp_dir_fd)  # now the old file (a sweep may have taken it)
    except FileNotFoundError:
        pass
    return True


@lru_cache(maxsize=1)
def _renameat2() -> Callable[..., int] | None:
    """libc's renameat2, loaded on first use: ctypes costs every hook and filter start
    about 12 ms, and most of them write no file."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


RENAME_EXCHANGE = 2


@contextmanager
def atomic_path(path: str | os.PathLike[str], mode: int = 0o644, fsync: bool = False,
                root: str | os.PathLike[str] | None = None) -> Iterator[AtomicFile]:
    """An AtomicFile for ``path``, committed when the block ends without an error.
    ``root``: ``path`` lies under this trusted folder and every folder between is opened
    without following links (made when missing); without it only the last folder is
    trusted as it is."""
    path = Path(path)
    if root is not None:
        rel = os.path.relpath(path.parent, root)
        dir_fd = open_dir(root, "" if rel == "." else rel, create=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with AtomicFile(dir_fd, path.name, mode, fsync) as out:
            yield out
            out.commit()
    finally:
        os.close(dir_fd)


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644,
                fsync: bool = False, root: str | os.PathLike[str] | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (see ``atomic_path``)."""
    with atomic_path(path, mode, fsync, root) as out:
        out.write(data)


def write_text(path: str | os.PathLike[str], text: str, mode: int = 0o644,
               fsync: bool = False, root: str | os.PathLike[str] | None = None) -> None:
    write_bytes(path, text.encode(), mode, fsync, root)


FICLONE = 0x40049409


def copy_fd(src: int, dst: int) -> None:
    """Copy the whole of ``src`` into the (empty) ``dst``: a reflink where the file system
    can share extents (btrfs, XFS), else an in-kernel copy (copy_file_range: no trip
    through this process's memory), else a plain copy."""
    try:
        fcntl.ioctl(dst, FICLONE, src)
        return
    except OSError:
        pass
    try:
        _copy_in_kernel(src, dst, os.fstat(src).st_size)
        return
    except OSError:  # not supported here (e.g. across some file systems): copy
        os.ftruncate(dst, 0)
        os.lseek(dst, 0, os.SEEK_SET)
    offset = 0
    while chunk := os.pread(src, 1 << 20, offset):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]
        offset += len(chunk)


def _copy_in_kernel(src: int, dst: int, size: int) -> None:
    left, offset = size, 0
    while left > 0:
        copied = os.copy_file_range(src, dst, min(left, 1 << 30), offset)
        if copied == 0:  # the source shrank: the caller's size check catches it
            return
        left -= copied
        offset += copied


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to ``fd`` (os.write may take less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def open_nofollow(dir_fd: int | None, name: str | os.PathLike[str]) -> BinaryIO:
    """Open an existing regular file for reading (``name`` in ``dir_fd``, or a path when
    ``dir_fd`` is None) without following a link, and without blocking on a FIFO planted
    at its name."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"refusing to read {os.fspath(name)!r}: not a regular file")
    return os.fdopen(fd, "rb")


def read_head(path: str | os.PathLike[str], limit: int = 4096) -> bytes | None:
    """Up to ``limit`` bytes of a file: None when there is none, b"" for a link or anything
    that is not a readable file (never followed, never blocking on a FIFO)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError:
        return b""
    try:
        return os.read(fd, limit)
    except OSError:
        return b""
    finally:
        os.close(fd)


def sweep(folder: str | os.PathLike[str] | int, max_age_s: float = 3600.0) -> int:
    """Remove temporary files (``*TMP_SUFFIX``) that killed processes left directly in
    ``folder`` (a path, or a descriptor from ``open_dir``): those whose writer's lock is
    gone (see ``create_tmp``), and any older than ``max_age_s`` (a file system without
    flock); returns how many. Never follows a link. No grace period: a file is removed
    only while this sweep holds its lock, and a writer that locks after that sees its
    name gone and makes another (``_lock_still_named``)."""
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    dir_fd = folder if isinstance(folder, int) else None
    for entry in entries:
        if not entry.name.endswith(TMP_SUFFIX) or not entry.is_file(follow_symlinks=False):
            continue
        name = entry.name if dir_fd is not None else entry.path
        try:
            if entry.stat(follow_symlinks=False).st_mtime < now - max_age_s:
                os.unlink(name, dir_fd=dir_fd)
                removed += 1
            elif _remove_if_abandoned(name, dir_fd):
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def _remove_if_abandoned(name: str, dir_fd: int | None) -> bool:
    """Remove the temporary file if no live process holds its lock, holding it meanwhile."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: a writer is at work (or flock is not supported here)
        os.close(fd)
        return False
    try:
        # the name may have moved on (renamed into place) since it was listed
        if not _same_file(fd, dir_fd, name):
            return False
        os.unlink(name, dir_fd=dir_fd)
        return True
    finally:
        os.close(fd)
