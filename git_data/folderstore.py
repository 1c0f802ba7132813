"""A store that is a folder on this machine: the one implementation that the client's local
stores (``store.LocalStore``) and the host side of ``git data run`` both use. Standard library
only (with safeio and layout), since the run host imports it.

    key (``objects/ab/cd/<hex>``, ``branches/main.json``, ``runs/3/log``: untrusted text,
    checked by safeio.relative_parts) -> the folder opened from the store's root one
    component at a time without following a link (safeio.open_dir)
      write: a new file in the store's ``tmp/`` (O_EXCL|O_NOFOLLOW, unpredictable name,
             flocked), filled, renamed into place (objects read-only, never overwritten);
             with ``link``, a cache object is hard-linked instead (same file system)
      read:  opened O_NOFOLLOW, a regular file only

The store's root itself is trusted (the user's configuration names it) and made on first
write. fsspec's LocalFileSystem would do the bytes, but importing fsspec costs about 56 ms,
paid by every pre-push hook and pull on a local store (the embedded default).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import stat
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from . import safeio
from .layout import OBJECTS, held, object_key, oid_of_name

TMP_MAX_AGE_S = 3600  # a partial copy in a store's tmp/ older than this is swept


def local_root(url: str) -> str | None:
    """The folder a local store URL names (a path or ``file://``); None for any other URL."""
    if url.startswith("file://"):
        from urllib.request import url2pathname  # off the start-up of every hook

        path = url2pathname(url[len("file://"):])
    elif "://" in url or "::" in url or url.startswith(("local:", "file:")):
        return None
    else:
        path = url
    return os.path.abspath(os.path.expanduser(path)) if path else None


class FolderStore:
    """The store at ``root`` (a folder of this machine): objects and keyed files."""

    def __init__(self, root: str, url: str = "", name: str = "") -> None:
        self.root = root.rstrip("/") or "/"
        self.url = url or root
        self.name = name or self.url
        self._swept = False

    def describe(self) -> str:
        return f"{self.name} ({self.url})" if self.name != self.url else self.url

    def path(self, key: str) -> str:
        """The file of ``key`` (checked: no absolute path, no ``..``)."""
        return posixpath.join(self.root, *safeio.relative_parts(key)) if key else self.root

    # ----- objects -----------------------------------------------------------------------
    def object_path(self, oid: str) -> str:
        return f"{self.root}/{object_key(oid)}"

    def has(self, oid: str) -> bool:
        return os.path.exists(self.object_path(oid))

    def has_many(self, oids: Iterable[str]) -> set[str]:
        """Which of ``oids`` the store holds: one listing per prefix folder that several
        share, instead of a stat each."""
        return held(oids, self.has, lambda folder: set(os.listdir(f"{self.root}/{folder}")))

    def object_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """Size of each of ``oids`` that the store holds as a regular file (a link or folder
        planted at an object's name counts as absent)."""
        found: dict[str, int] = {}
        for oid in dict.fromkeys(oids):
            try:
                info = os.lstat(self.object_path(oid))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(info.st_mode):
                found[oid] = info.st_size
        return found

    def list_oids(self) -> set[str]:
        """Every object in the store (for copy and gc tooling)."""
        names = (posixpath.basename(key) for key in self.find(OBJECTS))
        return {oid for oid in map(oid_of_name, names) if oid is not None}

    def open_object(self, oid: str) -> IO[bytes]:
        """The object for reading: a regular file, not opened through a link at its name.
        Its folders are not walked one by one (a keyed file's are, see ``open``): whatever
        they lead to, the bytes are hashed against the oid before anything uses them, and
        one open per object keeps a download of many small ones cheap."""
        return safeio.open_nofollow(None, self.object_path(oid))

    def put_object(self, oid: str, local_path: str, link: bool = False) -> None:
        """Store a cache object; never overwrites one already present. With ``link`` a hard
        link where the file system allows (both names are read-only and never rewritten in
        place, so sharing the inode is safe), else a copy (a reflink where it can be)."""
        target = self.object_path(oid)
        if link and link_into(local_path, target, self.root) or os.path.exists(target):
            return
        with safeio.open_nofollow(None, local_path) as source:
            self.atomic(object_key(oid), lambda fd: safeio.copy_fd(source.fileno(), fd),
                        read_only=True)

    # ----- keyed files -------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return os.path.lexists(self.path(key))

    def is_dir(self, key: str) -> bool:
        return os.path.isdir(self.path(key)) and not os.path.islink(self.path(key))

    def size(self, key: str) -> int:
        return os.lstat(self.path(key)).st_size

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """A store file for reading, never through a link (a store is shared: anyone with
        write access could plant one)."""
        if mode != "rb":
            raise ValueError(f"a store's files open for reading only, not {mode!r}")
        parent, _, name = "/".join(safeio.relative_parts(key)).rpartition("/")
        dir_fd = safeio.open_dir(self.root, parent)
        try:
            return safeio.open_nofollow(dir_fd, name)
        finally:
            os.close(dir_fd)

    def read_bytes(self, key: str, start: int = 0, end: int | None = None) -> bytes | None:
        """The bytes of ``key`` (from ``start`` to ``end``), None when it does not exist."""
        try:
            with self.open(key) as source:
                if start:
                    source.seek(start)
                return source.read() if end is None else source.read(max(end - start, 0))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_json(self, key: str) -> Any:
        raw = self.read_bytes(key)
        return None if raw is None else json.loads(raw)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.atomic(key, lambda fd: safeio.write_all(fd, data))

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")

    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        if not overwrite and self.exists(key):
            return
        with safeio.open_nofollow(None, local_path) as source:
            self.atomic(key, lambda fd: safeio.copy_fd(source.fileno(), fd))

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if absent; True when this call created it (a hard link from
        ``tmp/``: a link never follows one at the name, and a name taken is taken)."""
        parent, _, name = "/".join(safeio.relative_parts(key)).rpartition("/")
        tmp_fd = self._tmp_dir()
        dir_fd = -1
        try:
            dir_fd = open_under(self.root, parent)
            fd, tmp = safeio.create_tmp(tmp_fd, name, 0o644)
            try:
                safeio.write_all(fd, data)
            finally:
                os.close(fd)
            try:
                os.link(tmp, name, src_dir_fd=tmp_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp, dir_fd=tmp_fd)
        finally:
            os.close(tmp_fd)
            if dir_fd >= 0:
                os.close(dir_fd)

    def list(self, key: str) -> list[str]:
        """Names directly under ``key`` (no paths), empty when it does not exist."""
        path = self.path(key)
        if os.path.isfile(path):
            return [posixpath.basename(path)]
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def find(self, key: str) -> list[str]:
        """Keys of the regular files at or below ``key`` (links are neither followed nor
        listed, nor are temporary files)."""
        base = self.path(key)
        if os.path.islink(base):
            return []
        if os.path.isfile(base):
            return [key]
        found = []
        start = len(self.root.rstrip("/")) + 1
        for folder, _dirs, files in os.walk(base):
            for name in files:
                full = os.path.join(folder, name)
                if not name.endswith(safeio.TMP_SUFFIX) and not os.path.islink(full):
                    found.append(full[start:])
        return sorted(found)

    # ----- atomic writes -----------------------------------------------------------------
    def atomic(self, key: str, write: Callable[[int], object], read_only: bool = False) -> bool:
        """Write ``key``: ``write(fd)`` fills a new temporary file in ``tmp/``, which is then
        renamed into place (over what was there), unless ``write`` returns False. Every folder
        from the root on is opened without following a link. True when published."""
        parent, _, name = "/".join(safeio.relative_parts(key)).rpartition("/")
        tmp_fd = self._tmp_dir()
        dir_fd = -1
        try:
            dir_fd = open_under(self.root, parent)
            with safeio.AtomicFile(dir_fd, name, 0o444 if read_only else 0o644,
                                   tmp_dir_fd=tmp_fd) as out:
                if write(out.fd) is False:
                    return False
                out.commit()
                return True
        finally:
            os.close(tmp_fd)
            if dir_fd >= 0:
                os.close(dir_fd)

    def _tmp_dir(self) -> int:
        """A descriptor of the store's ``tmp/`` (made when missing). The first use by this
        object sweeps it of partial copies that killed writers left (older than an hour),
        so the next push cleans up after an interrupted one."""
        fd = open_under(self.root, "tmp")
        if not self._swept:
            self._swept = True
            _sweep_all(fd, TMP_MAX_AGE_S)
        return fd


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
            dir_fd = open_under(root, "" if rel == "." else rel)
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


def open_under(root: str, rel: str) -> int:
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
        with contextlib.suppress(FileNotFoundError):  # another push swept it first
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.name, dir_fd=dir_fd)
