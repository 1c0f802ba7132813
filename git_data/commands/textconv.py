"""`git-data textconv FILE` (diff.data.textconv) and `git-data merge-driver` (merge.data).

textconv turns a pointer, or the real bytes it stands for, into the same one-line summary,
so `git diff` shows which object and size changed instead of binary noise.
"""

from __future__ import annotations

import sys

from .. import hashing, pointer


def textconv(path: str) -> int:
    with open(path, "rb") as stream:
        head = stream.read(pointer.MAX_POINTER_SIZE + 1)
        try:
            parsed = pointer.parse(head) or pointer.parse_lfs(head)
        except pointer.PointerError:
            parsed = None
        if parsed is None:
            stream.seek(0)
            oid, size = hashing.hash_stream(stream)  # type: ignore[arg-type]
            parsed = pointer.Pointer(oid, size)
    sys.stdout.write(f"git-data object {parsed.oid}\nsize {parsed.size}\n")
    return 0


def merge_driver(base: str, ours: str, theirs: str, path: str) -> int:
    """Three-way merge of pointers: one side changed -> take it; both changed differently ->
    conflict, keeping ours in place (resolve with `git checkout --theirs/--ours`)."""
    def read(name: str) -> bytes:
        with open(name, "rb") as stream:
            return stream.read()

    base_b, ours_b, theirs_b = read(base), read(ours), read(theirs)
    if ours_b == theirs_b or theirs_b == base_b:
        return 0
    if ours_b == base_b:
        with open(ours, "wb") as stream:
            stream.write(theirs_b)
        return 0
    sys.stderr.write(f"git-data: {path}: both sides changed this data file; keeping ours. "
                     f"Pick one with `git checkout --ours -- {path}` or `--theirs`, then "
                     "`git add` it\n")

    return 1
