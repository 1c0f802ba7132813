"""Pack index codec: round trip, and every untrusted field refused."""

import hashlib
import struct

import pytest

from git_data import packs
from git_data.hashing import new_hasher


def _pack(blobs: list[bytes]) -> tuple[bytes, list[packs.Entry]]:
    entries, at = [], 0
    for b in blobs:
        h = new_hasher("xxh128")
        h.update(b)
        entries.append(packs.Entry(h.hexdigest(), at, len(b)))
        at += len(b)
    return b"".join(blobs), entries


def test_round_trip_and_split() -> None:
    data, entries = _pack([b"a" * 10, b"bb" * 7, b"", b"xyz"])
    index = packs.encode_index(entries)
    back = packs.decode_index(index, len(data), "p")
    assert sorted(back, key=lambda e: e.offset) == sorted(entries, key=lambda e: e.offset)
    got = packs.split(data, 0, back, "xxh128", "p")
    assert got[entries[1].oid] == b"bb" * 7
    assert len(packs.index_name(index)) == 64


def test_corrupt_byte_refused() -> None:
    data, entries = _pack([b"hello world", b"second"])
    bad = bytearray(data)
    bad[3] ^= 1
    with pytest.raises(packs.PackError, match="corrupt"):
        packs.split(bytes(bad), 0, entries, "xxh128", "p")


def test_out_of_range_offset_refused() -> None:
    data, entries = _pack([b"hello"])
    index = packs.encode_index([packs.Entry(entries[0].oid, 3, 5)])
    with pytest.raises(packs.PackError, match="out of range"):
        packs.decode_index(index, len(data), "p")


def test_checksum_and_header_refused() -> None:
    data, entries = _pack([b"hello"])
    index = bytearray(packs.encode_index(entries))
    index[20] ^= 1
    with pytest.raises(packs.PackError, match="checksum"):
        packs.decode_index(bytes(index), len(data), "p")
    body = struct.pack(">4sIIQ", b"XXXX", 1, 16, 0)
    with pytest.raises(packs.PackError, match="unknown format"):
        packs.decode_index(body + hashlib.sha256(body).digest(), 0, "p")
    with pytest.raises(packs.PackError, match="truncated"):
        packs.decode_index(b"GD", 0, "p")


def test_ranges_coalesce_and_whole() -> None:
    e = [packs.Entry("00" * 16, 0, 10), packs.Entry("01" * 16, 15, 5),
         packs.Entry("02" * 16, 1000, 10)]
    assert packs.ranges(e, 10_000, gap=100) == [(0, 20), (1000, 1010)]
    assert packs.ranges(e, 40, gap=100) == [(0, 40)]
    assert packs.ranges([], 10) == []
