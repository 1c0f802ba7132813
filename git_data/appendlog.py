"""Small local record files that several processes append lines to (the oids a store holds,
the blob memo, the record of written files).

Each append is one ``write(2)`` on a file opened with ``O_APPEND``, so concurrent appenders
never interleave inside each other's lines; readers keep only newline-terminated lines, so a
writer killed in the middle of an append costs at most its own last line.
"""

from __future__ import annotations

import os
from pathlib import Path


def append(path: Path, text: str, start_over_past: int | None = None) -> int:
    """Append ``text`` in one write and return the file's size after it. With
    ``start_over_past``, a file already larger than that is emptied first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    if start_over_past is not None and path.exists() and path.stat().st_size > start_over_past:
        flags |= os.O_TRUNC
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, text.encode(errors="surrogateescape"))
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def complete_lines(path: Path) -> list[str]:
    """The newline-terminated lines of ``path``; none when it is missing or unreadable."""
    try:
        text = path.read_bytes().decode(errors="surrogateescape")
    except OSError:
        return []
    return text.split("\n")[:-1]
