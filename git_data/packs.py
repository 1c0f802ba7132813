"""Pack and pack-index codec: many small objects in one store file.

Data flow: a writer concatenates raw object bytes into a pack and records each object's
(oid, offset, length); ``encode_index`` turns those entries into the binary index
(docs/formats.md, "Packs"). A reader parses an index with ``decode_index``, which trusts
nothing: magic, version, checksum, sort order, and every offset/length against the pack's
size and ``MAX_OBJECT`` are checked. ``split`` cuts fetched pack bytes into objects and
verifies each against its oid before a caller may adopt it. This module only encodes and
checks; publishing (pack first, index after) belongs to the transfer layer.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from .errors import FatalError
from .hashing import new_hasher

MAGIC = b"GDPI"
VERSION = 1
MAX_OBJECT = 64 << 20  # no packed object is larger; anything beyond is a corrupt index
MAX_ENTRIES = 10_000_000
_HEAD = struct.Struct(">4sIIQ")  # magic, version, oid bytes, count
_TAIL = 32  # sha256 of all preceding bytes


class PackError(FatalError):
    """A pack or pack index that fails a check; never adopted."""


@dataclass(frozen=True)
class Entry:
    oid: str  # lower-case hex
    offset: int
    length: int


def encode_index(entries: list[Entry]) -> bytes:
    """The index bytes for ``entries`` (sorted by oid here, so callers need not)."""
    items = sorted(entries, key=lambda e: e.oid)
    width = len(items[0].oid) // 2 if items else 16
    out = [_HEAD.pack(MAGIC, VERSION, width, len(items))]
    for e in items:
        raw = bytes.fromhex(e.oid)
        if len(raw) != width:
            raise ValueError("pack entries mix oid widths")
        out.append(raw + struct.pack(">QQ", e.offset, e.length))
    body = b"".join(out)
    return body + hashlib.sha256(body).digest()


def index_name(index: bytes) -> str:
    """Content-addressed pack name: the sha256 hex of its index."""
    return hashlib.sha256(index).hexdigest()


def decode_index(data: bytes, pack_size: int, where: str) -> list[Entry]:
    """Entries of an index for a pack of ``pack_size`` bytes; PackError on any bad field."""
    def bad(why: str) -> PackError:
        return PackError(f"git-data: pack index {where}: {why}; run "
                         "'git data fsck --remote' and push again")
    if len(data) < _HEAD.size + _TAIL:
        raise bad("truncated")
    body, tail = data[:-_TAIL], data[-_TAIL:]
    if hashlib.sha256(body).digest() != tail:
        raise bad("checksum mismatch")
    magic, version, width, count = _HEAD.unpack_from(body)
    if magic != MAGIC or version != VERSION:
        raise bad(f"unknown format {magic!r} version {version}")
    if width not in (16, 32) or count > MAX_ENTRIES:
        raise bad("implausible header")
    size = width + 16
    if len(body) != _HEAD.size + count * size:
        raise bad("length does not match entry count")
    entries, last = [], b""
    for i in range(count):
        at = _HEAD.size + i * size
        raw = body[at:at + width]
        offset, length = struct.unpack_from(">QQ", body, at + width)
        if raw <= last:
            raise bad("entries not sorted or duplicated")
        if length > MAX_OBJECT or offset > pack_size or length > pack_size - offset:
            raise bad(f"entry {raw.hex()} out of range")
        entries.append(Entry(raw.hex(), offset, length))
        last = raw
    return entries


def split(chunk: bytes, start: int, entries: list[Entry], algo: str,
          where: str) -> dict[str, bytes]:
    """Objects of ``entries`` cut from ``chunk`` (pack bytes from offset ``start``), each
    verified against its oid; PackError names the first that is not what it claims."""
    out: dict[str, bytes] = {}
    for e in entries:
        lo = e.offset - start
        if lo < 0 or lo + e.length > len(chunk):
            raise PackError(f"git-data: pack {where}: object {e.oid} outside fetched range")
        data = chunk[lo:lo + e.length]
        h = new_hasher(algo)
        h.update(data)
        if h.hexdigest() != e.oid:
            raise PackError(f"git-data: pack {where}: object {e.oid} is corrupt (hash "
                            "mismatch); not adopted; run 'git data fsck --remote'")
        out[e.oid] = data
    return out


def ranges(wanted: list[Entry], pack_size: int, gap: int = 256 << 10,
           whole: float = 0.5) -> list[tuple[int, int]]:
    """(start, end) byte ranges that cover ``wanted``: neighbours closer than ``gap`` are
    merged into one GET, and the whole pack is one range once over ``whole`` of it is
    wanted (fewer requests beat a few wasted bytes)."""
    if not wanted:
        return []
    if sum(e.length for e in wanted) > whole * pack_size:
        return [(0, pack_size)]
    out: list[tuple[int, int]] = []
    for e in sorted(wanted, key=lambda e: e.offset):
        end = e.offset + e.length
        if out and e.offset - out[-1][1] <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((e.offset, end))
    return out
