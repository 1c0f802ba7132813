"""Writing data files into the work tree from the cache.

Only files whose work-tree copy is exactly the pointer text of their entry are written, so
local edits (and deletions) are never overwritten. Each file is written to a temporary name
beside it and renamed into place (reflink where the file system supports it, else a copy);
then the new stat data goes into git's index so `git status` stays clean without git
reading the files again (see indexfile.py).
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from . import pointer
from .cache import Cache
from .errors import FatalError
from .gitrepo import PointerEntry, Repo, run_git
from .hashing import hash_file
from .indexfile import racy_entries, set_stat, stage0_entries, stat_fields
from .safeio import AT_FDCWD, RENAME_EXCHANGE, _renameat2
from .written import record as record_written

FICLONE = 0x40049409


def select(entries: Iterable[PointerEntry], include: list[str] | None,
           exclude: list[str] | None) -> list[PointerEntry]:
    def matches(path: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p.rstrip("/") + "/*")
                   or path.startswith(p.rstrip("/") + "/") for p in patterns)

    return [e for e in entries
            if (not include or matches(e.path, include))
            and not (exclude and matches(e.path, exclude))]


def reflink_or_copy(source: Path, dest: Path) -> None:
    """A reflink where the file system can share extents (btrfs, XFS), else an in-kernel
    copy (copy_file_range: no trip through this process's memory), else a plain copy."""
    with open(source, "rb") as src, open(dest, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return
        except OSError:
            pass
        try:
            _copy_in_kernel(src.fileno(), dst.fileno(), os.fstat(src.fileno()).st_size)
            return
        except OSError:  # not supported here (e.g. across some file systems): copy
            src.seek(0)
            dst.seek(0)
            dst.truncate()
        shutil.copyfileobj(src, dst, 1 << 20)


def _copy_in_kernel(src: int, dst: int, size: int) -> None:
    left = size
    while left > 0:
        copied = os.copy_file_range(src, dst, min(left, 1 << 30))
        if copied == 0:  # the source shrank: the caller's copy would be short too
            raise OSError("source ended early")
        left -= copied


def materialize(repo: Repo, cache: Cache, entries: Iterable[PointerEntry]) -> tuple[int, int]:
    """Write each file that is the pointer text of its entry and whose object is cached;
    returns (written, still missing). Any other file (edited, deleted, real bytes) is left
    exactly as it is."""
    written: dict[str, PointerEntry] = {}
    missing = 0
    _refuse_locked_index(repo)
    index = _index_entries(repo)
    others: list[PointerEntry] = []
    for entry in entries:
        if not holds_pointer(repo.root / entry.path, entry.oid):
            others.append(entry)
            continue
        if not cache.has(entry.oid):
            missing += 1
            continue
        dest = repo.root / entry.path
        tmp = dest.with_name(f".{dest.name}.git-data-tmp")
        try:
            reflink_or_copy(cache.path(entry.oid), tmp)
            mode = index.get(entry.path, ("100644", ""))[0]
            os.chmod(tmp, 0o755 if mode == "100755" else 0o644)
            swap_into_place(tmp, dest)
            _backdate(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written[entry.path] = entry
    unindexed = written_not_indexed(repo, others)  # by a run killed before its index update
    if written or unindexed:
        refresh(repo, {**unindexed, **written}, index)
    return len(written), missing


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


def swap_into_place(tmp: Path, dest: Path) -> None:
    """Atomically put ``tmp`` where ``dest`` (the pointer file) is.

    Exchanging the two names (renameat2 RENAME_EXCHANGE) and then deleting the pointer is as
    atomic as a rename over ``dest``, but ext4 does not flush a file renamed over another one
    (its auto_da_alloc): a plain rename cost 0.5 s per GiB here waiting for the disk."""
    if _renameat2 is not None and _renameat2(AT_FDCWD, os.fsencode(tmp), AT_FDCWD,
                                             os.fsencode(dest), RENAME_EXCHANGE) == 0:
        os.unlink(tmp)  # now the pointer
        return
    os.replace(tmp, dest)  # no renameat2 here, or the file system cannot exchange




def _refuse_locked_index(repo: Repo) -> None:
    """Written files must reach the index, or git would see them all as modified: stop
    before writing anything while another git command holds the index."""
    lock = repo.index_path.with_name(repo.index_path.name + ".lock")
    if lock.exists():
        raise FatalError(f"git's index is locked ({lock}): another git command is running; "
                         "wait for it (or remove the lock if none is) and run this again")


def holds_pointer(path: Path, oid: str) -> bool:
    """Whether the work-tree file is exactly the pointer text for ``oid`` (what checkout
    leaves when the data is not there): only such a file may be replaced by the data."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(pointer.MAX_POINTER_SIZE + 1)
    except OSError:  # deleted, or a directory now: the user's doing, left alone
        return False
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
