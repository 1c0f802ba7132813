"""A record of work-tree files written from cache objects, so git's later re-reads are cheap.

    smudge (filter) / materialize  --path, oid-->  record(path, oid, stat after writing)
    clean of that path later: stat unchanged and object cached  -->  hash only, store nothing

git re-reads a file through the clean filter whenever its index entry cannot be trusted:
after ``git data pull`` rewrites it, and for every file written in the same second as the
index ("racily clean"), which after a checkout is most of the large ones. Without the record
each such re-read would copy the whole file into the cache again although the object is
already there. The record only saves work: the clean filter compares the stream git sends
with the recorded object, hashes it, and answers with the pointer of those bytes (storing
them if they differ), so a stale or wrong entry can never produce a wrong pointer.

Format: ``$GIT_DIR/data/written``, one line per file, appended (see appendlog.py):
``oid<TAB>size<TAB>mtime_ns<TAB>inode<TAB>path``; the last line for a path wins. It is
rewritten compactly once it grows past ``COMPACT_BYTES``. Paths are escaped (``escape``), so
a name with a newline, a tab, a backslash or any byte that is not UTF-8 keeps one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import appendlog, safeio

FILE_NAME = "written"
COMPACT_BYTES = 8 << 20
_NAMED = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNNAMED = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_SPECIAL = re.compile(r"[\x00-\x1f\x7f\\\udc80-\udcff]")
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|.)")


def escape(path: str) -> str:
    """``path`` (a str from git, bytes that are not UTF-8 as surrogate escapes) as one line
    of printable text: backslash, newline, tab and CR as ``\\\\ \\n \\t \\r``, any other
    control character or raw byte as ``\\xHH``. ``unescape`` gives the path back exactly."""
    if not _SPECIAL.search(path):
        return path
    return _SPECIAL.sub(lambda m: _NAMED.get(m[0]) or "\\x%02x" % (ord(m[0]) & 0xFF), path)


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape_one, text)


def _unescape_one(match: re.Match[str]) -> str:
    code = match[1]
    if code.startswith("x") and len(code) == 3:
        value = int(code[1:], 16)
        return chr(value) if value < 0x80 else chr(0xDC00 + value)  # a raw byte, as git's
    return _UNNAMED.get(code, code)


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
    entries = {}
    for line in appendlog.complete_lines(record_path(git_dir)):
        fields = line.split("\t", 4)
        if len(fields) != 5:
            continue
        try:
            entries[unescape(fields[4])] = Written(fields[0], int(fields[1]), int(fields[2]),
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
        lines.append(f"{oid}\t{stat.st_size}\t{stat.st_mtime_ns}\t{stat.st_ino}\t{escape(path)}\n")
    if lines and appendlog.append(record_path(git_dir), "".join(lines)) > COMPACT_BYTES:
        _compact(git_dir)


def _compact(git_dir: Path | str) -> None:
    entries = load(git_dir)
    text = "".join(f"{w.oid}\t{w.size}\t{w.mtime_ns}\t{w.inode}\t{escape(p)}\n"
                   for p, w in entries.items())
    # appends racing with this are lost: they were only hints
    safeio.write_bytes(record_path(git_dir), text.encode(errors="surrogateescape"))
