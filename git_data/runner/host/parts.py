"""Files of a run sent in parts while they grow (standard library only; see docs/formats.md).

A log or an append-only output (``metrics.jsonl``) is not uploaded whole again and again while
the run goes on: each round sends only the bytes added since the last, as one new store file
named by the offset it starts at, and then rewrites a small manifest::

    runs/<id>/parts/<path>/manifest.json      {"mode": "parts"|"whole", "generation": G, ...}
    runs/<id>/parts/<path>/<G>/<offset:020d>  bytes offset .. offset+len of the file

``<path>`` is the file's path in the run (``logs/output.log``, ``outputs/metrics.jsonl``).
While the manifest says ``parts``, the file is the concatenation of generation G's parts
from offset 0 (a rewritten file starts a new generation); once it says ``whole`` (the final
sync uploads the whole file), ``runs/<id>/<path>`` itself is the file. Parts are written
before the manifest that counts them, so a manifest never names bytes the store lacks; it is
rewritten with a generation's first part and then at most every upload interval, so its
``size`` and ``parts`` are a lower bound: a reader reads on while the next part is there.

This module is used on both sides: the uploader writes with :func:`manifest_value`, and the
host's mounts and the client's ``logs``, ``cp`` read with :func:`read_from` and
:func:`open_file`. Everything read is checked: names must be 20-digit offsets, contiguous
from 0; a manifest that is not one is ignored (the whole file is read).
"""

from __future__ import annotations

import io
import re
from typing import Any

from .paths import split_run_path

FORMAT = "git-data-parts"
PART_RE = re.compile(r"[0-9]{20}")


def base(key: str) -> str | None:
    """``runs/<id>/parts/<path>`` for the run file ``runs/<id>/<path>``, None for a key that
    is not inside a run (or is itself inside parts/)."""
    parsed = split_run_path(key)
    if parsed is None or not parsed[1] or parsed[1].split("/", 1)[0] == "parts":
        return None
    return f"runs/{parsed[0]}/parts/{parsed[1]}"


def part_name(offset: int) -> str:
    return f"{offset:020d}"


def manifest_value(path: str, mode: str, generation: int, size: int, parts: int,
                   updated: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": 1, "path": path, "mode": mode,
            "generation": generation, "size": size, "parts": parts, "updated": updated}


def manifest(store: Any, key: str) -> dict[str, Any] | None:
    """The checked manifest of the run file ``key`` in parts mode, else None (no manifest,
    ``whole``, or not a manifest: the file itself is then what to read)."""
    root = base(key)
    if root is None:
        return None
    try:
        value = store.read_json(f"{root}/manifest.json")
    except (ValueError, OSError):
        return None
    if not isinstance(value, dict) or value.get("format") != FORMAT \
            or value.get("mode") != "parts":
        return None
    generation, size = value.get("generation"), value.get("size")
    if not _count(generation) or generation < 1 or not _count(size):
        return None
    return value


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_from(store: Any, key: str, offset: int) -> bytes | None:
    """The bytes of the run file ``key`` from ``offset`` on, assembled from its parts; None
    when the file is not in parts mode (read ``key`` itself). A reader that keeps its offset
    (``logs --follow``) asks for the part named by it directly: one manifest read and one
    part read per round, however many parts there are."""
    found = manifest(store, key)
    if found is None:
        return None
    folder = f"{base(key)}/{found['generation']}"
    first = store.read_bytes(f"{folder}/{part_name(offset)}")
    if first is not None:
        return b"".join(_chain(store, folder, offset, first))
    starts = [s for s in _offsets(store, folder) if s <= offset]  # ``offset`` is inside one
    if not starts:
        return b""
    data = store.read_bytes(f"{folder}/{part_name(starts[-1])}") or b""
    if starts[-1] + len(data) <= offset:
        return b""
    return b"".join(_chain(store, folder, starts[-1], data))[offset - starts[-1]:]


def _chain(store: Any, folder: str, at: int, data: bytes | None = None) -> Any:
    """The parts from offset ``at`` on, each named by where the one before ends, until one
    is missing (or empty)."""
    if data is None:
        data = store.read_bytes(f"{folder}/{part_name(at)}")
    while data:
        yield data
        at += len(data)
        data = store.read_bytes(f"{folder}/{part_name(at)}")


def _offsets(store: Any, folder: str) -> list[int]:
    return sorted(int(n) for n in store.list(folder) if PART_RE.fullmatch(n))


def files_under(store: Any, prefix: str) -> list[str]:
    """Run files at or below ``prefix`` that are (still) only in parts: their keys as the
    whole file will have them."""
    parsed = split_run_path(prefix)
    if parsed is None or parsed[1].split("/", 1)[0] == "parts":
        return []
    run_root = f"runs/{parsed[0]}/parts/"
    found = []
    for key in store.find(f"{run_root}{parsed[1]}".rstrip("/")):
        if not key.startswith(run_root) or not key.endswith("/manifest.json"):
            continue
        path = key[len(run_root):-len("/manifest.json")]
        whole = f"runs/{parsed[0]}/{path}"
        if split_run_path(whole) == (parsed[0], path) and manifest(store, whole) is not None:
            found.append(whole)
    return sorted(found)


def open_file(store: Any, key: str) -> Any:
    """A binary stream of the run file ``key``: its parts one after another while it is in
    parts mode (one part in memory at a time), else the store file itself."""
    found = manifest(store, key)
    if found is None:
        return store.open(key, "rb")
    return io.BufferedReader(_Parts(_chain(store, f"{base(key)}/{found['generation']}", 0)))


class _Parts(io.RawIOBase):
    """The bytes of a sequence of parts, read one part at a time."""

    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks
        self.current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not len(self.current):
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.current = memoryview(chunk)
        step = min(len(buffer), len(self.current))
        buffer[:step] = self.current[:step]
        self.current = self.current[step:]
        return step


def listing(store: Any, prefix: str) -> list[str]:
    """Keys of the run files at or below ``prefix`` as a reader should see them: the whole
    files there and those still only in parts (never the parts themselves)."""
    parsed = split_run_path(prefix)
    hidden = f"runs/{parsed[0]}/parts/" if parsed else None
    keys = {k for k in store.find(prefix) if not (hidden and k.startswith(hidden))}
    return sorted(keys | set(files_under(store, prefix)))
