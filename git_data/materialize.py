"""Writing data files into the work tree from the cache.

Only files whose work-tree copy is exactly the pointer text of their entry are written, so
local edits (and deletions) are never overwritten. Each file is written through safeio: its
folder opened from the work tree's root without following a link, a new temporary file
(O_EXCL|O_NOFOLLOW, unpredictable name) beside it filled from the cache (reflink where the
file system supports it, else a copy) and checked against the pointer (size, and hash unless
this process just hashed the object), then exchanged with the pointer file. The new stat
data goes into git's index so `git status` stays clean without git reading the files again
(see indexfile.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import pointer, safeio
from .cache import TMP_MAX_AGE_S, Cache
from .errors import FatalError, is_fault
from .gitrepo import PointerEntry, Repo, run_git
from .hashing import hash_file, new_hasher
from .indexfile import racy_entries, set_stat, stage0_entries, stat_fields
from .written import record as record_written


def materialize(repo: Repo, cache: Cache, entries: Iterable[PointerEntry]) -> tuple[int, int]:
    """Write each file that is the pointer text of its entry and whose object is cached;
    returns (written, still missing). Any other file (edited, deleted, real bytes, a link)
    is left exactly as it is. A file under a symlinked folder, or whose cache object fails
    its check, is left a pointer; after the others are written, one line names it.

    Files are written by a few threads, each taking a run of up to ``_RUN`` entries of one
    folder at a time: creating, copying and renaming a small file is mostly kernel time
    (the GIL is released), and runs in different folders do not wait on one another's
    folder lock. 20,000 files x 50 KB on 2 busy cores: 11.4-11.7 s one after another,
    7.9-9.2 s in two threads (more threads only added kernel time there)."""
    _refuse_locked_index(repo)
    index = _index_entries(repo)
    runs = list(_runs(list(entries)))
    job = _Job(repo, cache, index)
    workers = min(_WORKERS, len(runs)) if sum(map(len, runs)) >= _PARALLEL_FROM else 1
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="git-data-write") as pool:
            results = list(pool.map(job.run, runs))
    else:
        results = [job.run(run) for run in runs]
    written: dict[str, PointerEntry] = {}
    others: list[PointerEntry] = []
    refused: list[str] = []
    missing = 0
    for result in results:
        written.update(result.written)
        others += result.others
        refused += result.refused
        missing += result.missing
    unindexed = written_not_indexed(repo, others)  # by a run killed before its index update
    if written or unindexed:
        refresh(repo, {**unindexed, **written}, index)
    if job.fault is not None:
        raise job.fault
    if refused:
        more = f" (and {len(refused) - 1} more such file(s))" if len(refused) > 1 else ""
        raise FatalError(refused[0] + more)
    return len(written), missing


_WORKERS = min(8, os.cpu_count() or 1)
_PARALLEL_FROM = 64  # fewer files: threads cost more than they save
_RUN = 256


def _runs(entries: list[PointerEntry]) -> Iterator[list[PointerEntry]]:
    """Consecutive entries of one folder, at most ``_RUN`` at a time (entries come sorted)."""
    run: list[PointerEntry] = []
    folder = None
    for entry in entries:
        parent = entry.path.rpartition("/")[0]
        if run and (parent != folder or len(run) >= _RUN):
            yield run
            run = []
        folder = parent
        run.append(entry)
    if run:
        yield run


@dataclass
class _RunResult:
    written: dict[str, PointerEntry] = field(default_factory=dict)
    others: list[PointerEntry] = field(default_factory=list)  # not the pointer text
    refused: list[str] = field(default_factory=list)
    missing: int = 0


class _Job:
    """What the writing threads share: the first fault (a full disk, a read-only folder)
    stops them all, as the next file would fail too; the CLI says what to do after the
    index update."""

    def __init__(self, repo: Repo, cache: Cache, index: dict[str, tuple[str, str]]) -> None:
        self.repo, self.cache, self.index = repo, cache, index
        self.fault: OSError | None = None
        self._lock = threading.Lock()
        self._excluded = False

    def _exclude_once(self) -> None:
        with self._lock:
            if not self._excluded:
                exclude_temporary_files(self.repo)
                self._excluded = True

    def run(self, entries: list[PointerEntry]) -> _RunResult:
        out = _RunResult()
        with _Folders(self.repo.root) as folders:
            for entry in entries:
                if self.fault is not None:
                    break
                try:
                    self._one(entry, folders, out)
                except FileNotFoundError:  # its folder is gone: the user's doing, left alone
                    continue
                except FatalError as exc:  # a symlinked folder, a corrupt cache object
                    out.refused.append(str(exc))
                except OSError as exc:  # nothing half-written: that file stays a pointer
                    if is_fault(exc):
                        with self._lock:
                            self.fault = self.fault or exc
                        break
                    out.refused.append(f"cannot write {entry.path} ({exc.strerror}); it stays "
                                       "a pointer: fix that and run `git data checkout`")
        return out

    def _one(self, entry: PointerEntry, folders: _Folders, out: _RunResult) -> None:
        dir_fd, name = folders.open(entry.path)
        if not _holds_pointer_at(dir_fd, name, entry.oid):
            out.others.append(entry)
            return
        if not self.cache.has(entry.oid):
            out.missing += 1
            return
        mode = 0o755 if self.index.get(entry.path, ("100644", ""))[0] == "100755" else 0o644
        self._exclude_once()
        if not _write_from_cache(self.cache, entry, dir_fd, name, mode):
            out.missing += 1  # removed from the cache meanwhile (gc)
            return
        out.written[entry.path] = entry


def written_not_indexed(repo: Repo, entries: list[PointerEntry]) -> dict[str, PointerEntry]:
    """Files a killed writer left: the data is in place, but the index still holds the
    pointer file's stat data. git trusts a size change without reading the file, so it would
    show each as modified for good; one whose size is its entry's and whose bytes hash to its
    oid is recorded like a file just written. Only entries whose index size is the pointer's
    and whose file has the data's size are hashed: after an uninterrupted run there are none,
    so this costs one read of the index."""
    if not entries:
        return {}
    staged = stage0_entries(repo.index_path, repo.object_format)
    found: dict[str, PointerEntry] = {}
    for entry in entries:
        text = pointer.Pointer(entry.oid, entry.size).render()
        recorded = staged.get(entry.path)
        if recorded is None or recorded[1][8] != len(text) or entry.size == len(text):
            continue  # git will compare contents itself, or it is not a pointer's stat
        if recorded[0] != _blob_id(text, repo.object_format).hex():
            continue
        full = repo.root / entry.path
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
                continue
            if hash_file(str(full), entry.oid.split(":")[0])[0] != entry.oid:
                continue  # edited: it stays modified
            if st.st_mtime_ns // 10**9 >= time.time_ns() // 10**9 - 1:
                _backdate(full)  # killed before its backdating: it would look racily clean
        except OSError:
            continue
        found[entry.path] = entry
    return found


def exclude_temporary_files(repo: Repo) -> None:
    """Keep the work-tree files a killed pull leaves half-written (``*.git-data-tmp``) out
    of `git add -A`: a line in ``$GIT_COMMON_DIR/info/exclude`` (never committed, unlike
    .gitignore), added by `git data install` and by the first write of a repository
    installed before (one read of a small file). The next command that writes into that
    folder sweeps them."""
    path = repo.common_dir / "info" / "exclude"
    pattern = f"*{safeio.TMP_SUFFIX}"
    try:
        text = path.read_text() if path.is_file() and not path.is_symlink() else ""
        if pattern in text.splitlines():
            return
        if text and not text.endswith("\n"):
            text += "\n"
        safeio.write_text(path, f"{text}# git-data: half-written files\n{pattern}\n",
                          root=repo.common_dir)
    except OSError as exc:
        raise FatalError(f"cannot write {path} ({exc.strerror}); check its permissions and "
                         "run `git data install` again") from exc


class _Folders:
    """Descriptors of the work-tree folders files are written into, each opened from the
    root one component at a time without following a link (a committed symlink such as
    ``data -> /home/user`` is refused, never written through). The last one is kept open:
    entries come sorted, so neighbours share it. Each folder is swept once of temporary
    files a killed writer left (older than an hour)."""

    def __init__(self, root: Path, sweep: bool = True) -> None:
        self.root = root
        self.parent: str | None = None
        self.fd = -1
        self.swept: set[str] = set()
        self.sweep = sweep

    def open(self, path: str) -> tuple[int, str]:
        parts = safeio.relative_parts(path)
        parent = "/".join(parts[:-1])
        if parent != self.parent:
            self.close()
            try:
                self.fd = safeio.open_dir(self.root, parent)
            except safeio.UnsafePath:
                raise safeio.UnsafePath(f"refusing to write {path}: a folder on its way is a "
                                        "symlink (committed to the repository?); the file "
                                        "stays a pointer") from None
            except NotADirectoryError:
                raise FileNotFoundError(path) from None
            self.parent = parent
            if self.sweep and parent not in self.swept:
                self.swept.add(parent)
                safeio.sweep(self.fd, TMP_MAX_AGE_S)
        return self.fd, parts[-1]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.parent = -1, None

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _write_from_cache(cache: Cache, entry: PointerEntry, dir_fd: int, name: str,
                      mode: int) -> bool:
    """Copy the object into a new temporary file (O_EXCL|O_NOFOLLOW, unpredictable name) in
    the folder, check it, backdate it and exchange it with the pointer file.

    The check: the size always; the hash of the bytes written unless this process hashed
    the object and it is unchanged since (a download, just now). Exchanging the two names
    (renameat2 RENAME_EXCHANGE) and then deleting the pointer is as atomic as a rename over
    it, but ext4 does not flush a file renamed over another one (its auto_da_alloc): a plain
    rename cost 0.5 s per GiB here waiting for the disk. False: the object is gone."""
    try:
        source = cache.open(entry.oid)
    except FileNotFoundError:
        return False
    except OSError as exc:  # a link or something unreadable in place of the object
        raise FatalError(f"{entry.path}: cannot read cache object {entry.oid} at "
                         f"{cache.path(entry.oid)} ({exc.strerror}); the file stays a "
                         "pointer: run `git data fsck --repair`, then pull") from None
    with source:
        src = source.fileno()
        st = os.fstat(src)
        with safeio.AtomicFile(dir_fd, name, mode) as out:
            if st.st_size == entry.size:
                safeio.copy_fd(src, out.fd)
            written = os.fstat(out.fd)
            problem = _check(cache, entry, st, out, written)
            if problem:
                raise FatalError(f"{entry.path}: cache object {entry.oid} at "
                                 f"{cache.path(entry.oid)} is corrupt ({problem}); the file "
                                 "stays a pointer: run `git data fsck --repair`, then pull")
            # a second back (see _backdate), on the descriptor: a rename keeps the mtime
            os.utime(out.fd, ns=(written.st_atime_ns, written.st_mtime_ns - 1_000_000_000))
            out.commit(exchange=True)
    return True


def _check(cache: Cache, entry: PointerEntry, st: os.stat_result, out: safeio.AtomicFile,
           written: os.stat_result) -> str | None:
    """Why the copy ``out`` (whose stat is ``written``) is not the object ``entry`` names;
    None when it is."""
    if st.st_size != entry.size or written.st_size != entry.size:
        return f"{st.st_size} bytes, the pointer says {entry.size}"
    if cache.hashed_since_written(entry.oid, st):
        return None
    # the copy itself is hashed (the bytes that land), read back through a second descriptor
    # of the very file written (the first is write-only)
    fd = os.open(out.tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=out.tmp_dir_fd)
    try:
        if os.fstat(fd).st_ino != written.st_ino:
            return "its temporary copy was replaced"
        actual = _hash_fd(fd, pointer.split_oid(entry.oid)[0], entry.size)
    finally:
        os.close(fd)
    return None if actual == entry.oid else f"its bytes hash to {actual}"


def _hash_fd(fd: int, algo: str, size: int) -> str:
    hasher = new_hasher(algo)
    buf = bytearray(min(size + 1, 4 << 20))  # a small file: no 4 MiB to zero-fill
    view = memoryview(buf)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        hasher.update(view[:n])
        offset += n
    return f"{algo}:{hasher.hexdigest()}"


def _refuse_locked_index(repo: Repo) -> None:
    """Written files must reach the index, or git would see them all as modified: stop
    before writing anything while another git command holds the index."""
    lock = repo.index_path.with_name(repo.index_path.name + ".lock")
    if lock.exists():
        raise FatalError(f"git's index is locked ({lock}): another git command is running; "
                         "wait for it (or remove the lock if none is) and run this again")


def holds_pointer(path: Path, oid: str, root: Path | None = None) -> bool:
    """Whether the work-tree file is exactly the pointer text for ``oid`` (what checkout
    leaves when the data is not there): only such a file may be replaced by the data. A
    symlink is never read through: not the file itself, nor, with ``root`` (the work
    tree), any folder between it and ``root``."""
    try:
        rel = os.path.relpath(path.parent, root) if root is not None else None
        dir_fd = (safeio.open_dir(root, "" if rel == "." else rel) if root is not None
                  else os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except (OSError, FatalError):
        return False
    try:
        return _holds_pointer_at(dir_fd, path.name, oid)
    finally:
        os.close(dir_fd)


def holding_pointers(root: Path, entries: Iterable[PointerEntry]) -> list[PointerEntry]:
    """The entries whose work-tree file is exactly their pointer text (``holds_pointer``
    for many files: each folder opened once, never through a link)."""
    found = []
    with _Folders(root, sweep=False) as folders:
        for entry in entries:
            try:
                dir_fd, name = folders.open(entry.path)
            except (OSError, FatalError):
                continue
            if _holds_pointer_at(dir_fd, name, entry.oid):
                found.append(entry)
    return found


def _holds_pointer_at(dir_fd: int, name: str, oid: str) -> bool:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:  # deleted, a link, unreadable: the user's doing (or a trap), left alone
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, pointer.MAX_POINTER_SIZE + 1)
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(head) > pointer.MAX_POINTER_SIZE or not pointer.looks_like_pointer(head):
        return False
    try:
        parsed = pointer.parse(head)
    except pointer.PointerError:
        return False
    return parsed is not None and parsed.oid == oid


def refresh(repo: Repo, written: dict[str, PointerEntry],
            index: dict[str, tuple[str, str]]) -> None:
    """Make git record the new files as unchanged.

    The files' stat data is written into the index directly (indexfile.py); the files were
    backdated by a second so that none of them looks racily clean to git. Where
    that cannot be done (a locked or unusual index), the entries' stat data is dropped
    (``--index-info``: git trusts a size change without looking at content) and git's
    refresh runs the clean filter on each file; the record of written files (written.py)
    makes that a compare and a hash instead of a second copy.
    """
    left = _record_stat(repo, written, {p: index[p][1] for p in written if p in index})
    if not left:
        return
    info = b"".join(f"{index[p][0]} {index[p][1]}\t".encode()
                    + p.encode(errors="surrogateescape") + b"\0" for p in left if p in index)
    repo.git("update-index", "-z", "--index-info", input=info)
    run_git(["update-index", "-q", "--refresh"], cwd=repo.root, check=False)


def settle_racy(repo: Repo) -> int:
    """After a checkout, the data files git wrote in the same second as the index: git would
    send each through the clean filter again on every command until the index is rewritten
    in a later second. Each such file that still has the stat git recorded and whose bytes
    hash to its pointer's oid is backdated and its new stat data recorded; returns how many."""
    racy = racy_entries(repo.index_path, repo.object_format)
    if not racy or repo.workdir is None:
        return 0
    recorded = {path: fields for path, _, fields in racy}
    settled: dict[str, PointerEntry] = {}
    for entry in repo.blob_pointers([(path, blob) for path, blob, _ in racy]):
        full = repo.root / entry.path
        try:
            st = os.lstat(full)
            unchanged = stat_fields(st) == recorded[entry.path] and st.st_size == entry.size
            if not unchanged or hash_file(str(full), entry.oid.split(":")[0])[0] != entry.oid:
                continue  # a pointer left in place, or edited since git wrote it
        except OSError:
            continue
        _backdate(full)
        settled[entry.path] = entry
    if settled:
        _record_stat(repo, settled, {path: blob for path, blob, _ in racy})
    return len(settled)


def _record_stat(repo: Repo, written: dict[str, PointerEntry],
                 staged: dict[str, str]) -> list[str]:
    """Record the files written from the cache (written.py) and patch their index entries,
    whose staged blob ids ``staged`` holds; returns the paths left for git's refresh."""
    record_written(repo.git_dir, repo.root, ((p, e.oid) for p, e in written.items()))
    updates: dict[bytes, tuple[bytes, os.stat_result]] = {}
    for path, entry in written.items():
        # the file cleans to this entry's pointer; only an index entry holding exactly that
        # blob may be marked unchanged (any other staged content must keep showing)
        blob = _blob_id(pointer.Pointer(entry.oid, entry.size).render(), repo.object_format)
        if staged.get(path) == blob.hex():
            st = os.stat(repo.root / path)
            updates[path.encode(errors="surrogateescape")] = (blob, st)
    if not updates:
        return list(written)
    done = set_stat(repo.index_path, repo.object_format, updates)
    return [p for p in written if p.encode(errors="surrogateescape") not in done]


def _blob_id(content: bytes, object_format: str) -> bytes:
    """The id git gives a blob of ``content``."""
    digest = hashlib.sha256() if object_format == "sha256" else hashlib.sha1()
    digest.update(b"blob %d\0" % len(content))
    digest.update(content)
    return digest.digest()


def _backdate(path: Path) -> None:
    """Set the file's mtime one second back. git (built without USE_NSEC, the default)
    compares whole seconds and re-reads every file whose mtime is not older than the index
    file, i.e. each file written in the same second as the index would be read through the
    clean filter again by every git command. A second earlier, the index written next is
    newer; and any later edit still gives the file a new mtime that differs from the one
    recorded."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def _index_entries(repo: Repo) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob sha) for every merged (stage 0) index entry, from one `git
    ls-files -s`. A path in conflict is left out: writing its file must not stage it, which
    would resolve the conflict behind the user's back."""
    entries: dict[str, tuple[str, str]] = {}
    for item in repo.git("ls-files", "-z", "-s").split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            mode, sha, stage = meta.split()[:3]
            if stage == b"0":  # a path has stage 0 or stages 1-3, never both
                entries[path.decode(errors="surrogateescape")] = (mode.decode(), sha.decode())
    return entries
