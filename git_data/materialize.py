"""Writing data files into the work tree from the cache.

Only files whose work-tree copy is the pointer text (or absent) are written, so local edits are
never overwritten. Each file is written to a temporary name beside it and renamed into place
(reflink where the file system supports it, else a copy), then git's index is refreshed so
`git status` stays clean.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .cache import Cache
from .commands.status import _worktree_state
from .gitrepo import PointerEntry, Repo, run_git
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
    """Write each pointer-only file whose object is cached; returns (written, still missing)."""
    written: dict[str, PointerEntry] = {}
    missing = 0
    index = _index_entries(repo)
    for entry in entries:
        if _worktree_state(repo, entry) != "pointer":  # real bytes, local edits or deleted
            continue
        if not cache.has(entry.oid):
            missing += 1
            continue
        dest = repo.root / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.git-data-tmp")
        try:
            reflink_or_copy(cache.path(entry.oid), tmp)
            mode = index.get(entry.path, ("100644", ""))[0]
            os.chmod(tmp, 0o755 if mode == "100755" else 0o644)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written[entry.path] = entry
    if written:
        refresh(repo, written, index)
    return len(written), missing


def refresh(repo: Repo, written: dict[str, PointerEntry],
            index: dict[str, tuple[str, str]]) -> None:
    """Make git record the new files as unchanged.

    git trusts a size change without looking at content, so the entries' stat data is dropped
    first (``--index-info``); the refresh then runs the clean filter on each file. The record
    of written files (see written.py) tells the filter which object each path was written
    from, so it only compares and hashes the stream instead of storing a second copy.
    """
    info = b"".join(f"{index[p][0]} {index[p][1]}\t".encode()
                    + p.encode(errors="surrogateescape") + b"\0" for p in written if p in index)
    repo.git("update-index", "-z", "--index-info", input=info)
    record_written(repo.git_dir, repo.root, ((p, e.oid) for p, e in written.items()))
    run_git(["update-index", "-q", "--refresh"], cwd=repo.root, check=False)


def _index_entries(repo: Repo) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob sha) for every index entry, from one `git ls-files -s`."""
    entries = {}
    for item in repo.git("ls-files", "-z", "-s").split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            mode, sha = meta.split()[:2]
            entries[path.decode(errors="surrogateescape")] = (mode.decode(), sha.decode())
    return entries
