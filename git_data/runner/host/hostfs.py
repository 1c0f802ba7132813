"""Host side of the store and the host's shared data cache (standard library only).

A store that is a local directory (``file://``) is the client's own local-folder store,
:class:`git_data.folderstore.FolderStore` (``tmp/`` then rename, never following a link);
any other URL goes through :func:`git_data.store.open_store`, which needs fsspec (and s3fs
for S3) on the host. The cache has the layout of every cache and store (git_data.layout);
objects are verified against their oid while they are written and renamed into place
read-only, so a run never sees a partial object; downloads are retried under the one retry
policy (git_data.retry).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import hashlib
import itertools
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from git_data import safeio  # absolute: these four survive the module's move unchanged
from git_data.errors import FatalError
from git_data.folderstore import FolderStore, local_root
from git_data.layout import object_key
from git_data.retry import Policy, is_transient

from . import sitepath

CHUNK = 1 << 20
PLACE_WORKERS = 8
OPEN_FOLDERS = 256  # folders held open at once while their files are placed
FICLONE = 0x40049409
DOWNLOADS = Policy(attempts=3, base_s=0.5)  # each object: 3 tries, ~0.5 s then ~1 s apart


def _worth_retry(exc: BaseException) -> bool:
    """A download failure worth another try: a transient one (network, a store's 5xx), or
    any I/O error but a missing object; not a corrupt copy (FatalError)."""
    if is_transient(exc):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, FatalError))


def clone_into(src: int, dst: int) -> None:
    """``src``'s bytes into the empty ``dst``: a reflink where the file system shares extents
    (btrfs, XFS), else an in-kernel copy (copy_file_range), else a copy through memory."""
    try:
        fcntl.ioctl(dst, FICLONE, src)
        return
    except OSError:
        pass
    size = os.fstat(src).st_size
    try:
        done = 0
        while done < size:
            step = os.copy_file_range(src, dst, min(size - done, 1 << 30), done, done)
            if step == 0:
                break
            done += step
        if done == size:
            return
    except (OSError, AttributeError):  # not here (some file systems; Python < 3.8 on Linux)
        pass
    os.lseek(src, 0, os.SEEK_SET)
    os.ftruncate(dst, 0)
    os.lseek(dst, 0, os.SEEK_SET)
    while chunk := os.read(src, CHUNK):
        safeio.write_all(dst, chunk)


def open_store(url: str, name: str, options: dict[str, Any] | None) -> Any:
    """The store at ``url`` as this host sees it."""
    root = local_root(url)
    if root is not None:
        return FolderStore(root, url, name)
    sitepath.load()
    from git_data.store import open_store as opener  # needs fsspec, xxhash (shipped to the
    # host when it lacks them)

    secrets = tuple(str(v) for k, v in (options or {}).items() if k in ("key", "secret", "token"))
    return opener(url, name, options or {}, secrets)


def new_hasher(algo: str) -> Any:
    if algo == "sha256":
        return hashlib.sha256()
    if algo == "xxh128":
        sitepath.load()
        import xxhash  # shipped to the host when it lacks it

        return xxhash.xxh3_128()
    raise FatalError(f"unknown hash algorithm '{algo}'")


class HostCache:
    """``<root>/objects/..`` shared by every run on the host.

    A run never gets a name of a cached object: its data files are reflinks or copies
    (:meth:`place`), so a command that writes to its input (as root, which ignores mode 0444)
    changes only its own copy. Still, before an object is reused it is checked: its size,
    mtime and inode were recorded when it was adopted (``<root>/adopted/ab/cd/<hex>``); on a
    mismatch (or no record, as for the objects of the ``local`` host's repository cache) it
    is hashed again, and an object whose bytes no longer match its oid is downloaded anew.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, oid: str) -> Path:
        return self.root / object_key(oid)

    def _adopted(self, oid: str) -> Path:
        return self.root / "adopted" / object_key(oid).split("/", 1)[1]

    def usable(self, oid: str, size: int) -> bool:
        """Whether the cached object is there, a regular file and still the bytes of ``oid``
        (hashed again unless its stat matches what was recorded when it was adopted)."""
        try:
            st = os.lstat(self.path(oid))
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return self._discard(oid)
        try:
            if self._adopted(oid).read_text() == _signature(st):
                return True
        except (FileNotFoundError, NotADirectoryError):
            pass
        with safeio.open_nofollow(None, self.path(oid)) as source:
            hasher = new_hasher(oid.split(":", 1)[0])
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
            st = os.fstat(source.fileno())
        if f"{oid.split(':', 1)[0]}:{hasher.hexdigest()}" != oid:
            return self._discard(oid)
        self._adopt(oid, st)
        return True

    def _discard(self, oid: str) -> bool:
        """Remove a cached object that is not what its name says (it is fetched again)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(oid))
        return False

    def _adopt(self, oid: str, st: os.stat_result) -> None:
        safeio.write_text(self._adopted(oid), _signature(st), root=self.root)

    def download(self, store: Any, oid: str, size: int) -> None:
        """Stream one object from the store, verify it, rename it into place read-only."""
        algo = oid.split(":", 1)[0]
        hasher = new_hasher(algo)
        parent, _, name = object_key(oid).rpartition("/")
        self.root.mkdir(parents=True, exist_ok=True)  # the root itself is trusted
        dir_fd = safeio.open_dir(self.root, parent, create=True)
        try:
            with safeio.AtomicFile(dir_fd, name, 0o444) as out, \
                    store.open_object(oid) as source:
                got = 0
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
                actual = f"{algo}:{hasher.hexdigest()}"
                if actual != oid:
                    raise FatalError(f"bytes of {oid} in {store.describe()} hash to {actual} "
                                     f"({got} of {size} bytes); the store copy is corrupt")
                out.commit()
            self._adopt(oid, os.stat(name, dir_fd=dir_fd, follow_symlinks=False))
        finally:
            os.close(dir_fd)

    def fetch(self, store: Any, entries: list[list[Any]], note: Callable[[str], None],
              workers: int = 8) -> tuple[int, int]:
        """Download what the cache lacks or holds damaged (in parallel, 3 tries each);
        (downloaded, cached)."""
        unique = {e[1]: e for e in entries}
        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            ok = dict(zip(unique, pool.map(lambda e: self.usable(e[1], int(e[2])),
                                           unique.values())))
        todo = {oid: e for oid, e in unique.items() if not ok[oid]}
        cached = len(unique) - len(todo)
        if todo:
            total = sum(int(e[2]) for e in todo.values())
            note(f"downloading {len(todo)} data object(s), {total} bytes, into the host cache")
        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            futures = {pool.submit(DOWNLOADS.run, lambda e=e: self.download(store, e[1], int(e[2])),
                                   _worth_retry): e
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

    def place(self, checkout: Path, entries: list[list[Any]]) -> None:
        """Put each data file at its path in the checkout as the run's own file: a reflink
        or a copy of the cached object (never a hard link: a run that writes to its input
        must not change the cache, nor the store or clones that share its inode). Folders
        in the checkout are opened without following links (the commit may hold some)."""
        by_folder: dict[str, list[tuple[str, str]]] = {}
        for path, oid, _size in entries:
            parent, _, name = "/".join(safeio.relative_parts(path)).rpartition("/")
            by_folder.setdefault(parent, []).append((name, oid))
        folders = list(by_folder.items())
        # Creating a file costs this machine's ext4 ~1.6 ms under load (2,000 files: 2.0 s in
        # one thread, 0.9 s in eight): the syscalls run outside the GIL, so files are made
        # in parallel, a bounded number of folders open at a time.
        with cf.ThreadPoolExecutor(PLACE_WORKERS) as pool:
            for start in range(0, len(folders), OPEN_FOLDERS):
                group = folders[start:start + OPEN_FOLDERS]
                fds: list[int] = []
                try:
                    for parent, _ in group:
                        fds.append(safeio.open_dir(checkout, parent, create=True))
                    # round-robin over the folders: creates in one folder queue on its lock
                    rows = [[(fd, name, oid) for name, oid in files]
                            for fd, (_, files) in zip(fds, group)]
                    jobs = [job for batch in itertools.zip_longest(*rows) for job in batch
                            if job is not None]
                    list(pool.map(lambda job: self._place_one(*job), jobs))
                finally:
                    for fd in fds:
                        os.close(fd)

    def _place_one(self, dir_fd: int, name: str, oid: str) -> None:
        """Replace the pointer file ``name`` with a new file (O_EXCL | O_NOFOLLOW: nothing
        planted there is written through; no rename needed in a checkout no command uses
        yet) holding the object's bytes."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)  # the pointer file from the archive
        with safeio.open_nofollow(None, self.path(oid)) as source:
            fd = safeio.create_new(dir_fd, name, 0o600)
            try:
                clone_into(source.fileno(), fd)
                os.fchmod(fd, 0o444)
            except BaseException:
                os.unlink(name, dir_fd=dir_fd)
                raise
            finally:
                os.close(fd)


def _signature(st: os.stat_result) -> str:
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n"
