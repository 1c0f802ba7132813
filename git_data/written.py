"""A record of work-tree files written from cache objects, so git's later re-reads are cheap.

    smudge (filter) / materialize  --path, oid-->  record(path, oid, stat after writing)
    clean of that path later: stat unchanged and object cached  -->  hash only, store nothing

git re-reads a file through the clean filter whenever its index entry cannot be trusted:
after ``git data pull`` rewrites it, and for every file written in the same second as the
index ("racily clean"), which after a checkout is most of the large ones. Without the record
each such re-read would copy the whole file into the cache again although the object is
already there. The record only saves work: the clean filter still hashes the stream git sends
and answers with the pointer of those bytes, so a stale or wrong entry can never produce a
wrong pointer.

Format: ``$GIT_DIR/data/written``, one line per file, appended (whole lines in one write):
``oid<TAB>size<TAB>mtime_ns<TAB>inode<TAB>path``; the last line for a path wins. It is
rewritten compactly once it grows past ``COMPACT_BYTES``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "written"
COMPACT_BYTES = 8 << 20


@dataclass(frozen=True)
class Written:
    oid: str
    size: int
    mtime_ns: int
    inode: int

    def matches(self, stat: os.stat_result) -> bool:
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (self.size, self.mtime_ns,
                                                                  self.inode)


def record_path(git_dir: Path | str) -> Path:
    return Path(git_dir) / "data" / FILE_NAME


def load(git_dir: Path | str) -> dict[str, Written]:
    try:
        text = record_path(git_dir).read_text(errors="surrogateescape")
    except OSError:
        return {}
    entries = {}
    for line in text.splitlines():
        fields = line.split("\t", 4)
        if len(fields) != 5:
            continue  # a torn line from a killed writer
        try:
            entries[fields[4]] = Written(fields[0], int(fields[1]), int(fields[2]),
                                         int(fields[3]))
        except ValueError:
            continue
    return entries


def record(git_dir: Path | str, worktree: Path | str, files: Iterable[tuple[str, str]]) -> None:
    """Stat each (path, oid) just written and append it; files gone or unreadable are skipped."""
    lines = []
    for path, oid in files:
        try:
            stat = os.stat(os.path.join(worktree, path))
        except OSError:
            continue
        lines.append(f"{oid}\t{stat.st_size}\t{stat.st_mtime_ns}\t{stat.st_ino}\t{path}\n")
    if not lines:
        return
    target = record_path(git_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(lines).encode(errors="surrogateescape")
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)  # one append: concurrent writers never interleave within it
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > COMPACT_BYTES:
        _compact(git_dir)


def _compact(git_dir: Path | str) -> None:
    entries = load(git_dir)
    target = record_path(git_dir)
    tmp = target.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{w.oid}\t{w.size}\t{w.mtime_ns}\t{w.inode}\t{p}\n"
                           for p, w in entries.items()), errors="surrogateescape")
    os.replace(tmp, target)  # appends racing with this are lost: they were only hints
