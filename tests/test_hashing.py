from __future__ import annotations

import hashlib
import io

import xxhash

from git_data import hashing


def test_stream_hash_matches_one_shot() -> None:
    data = bytes(range(256)) * 10000 + b"tail"
    oid, size = hashing.hash_stream(io.BytesIO(data))
    assert size == len(data)
    assert oid == "xxh128:" + xxhash.xxh3_128_hexdigest(data)
    assert hashing.hash_bytes(data) == oid


def test_sha256_option() -> None:
    data = b"x" * 3_000_000
    oid, _ = hashing.hash_stream(io.BytesIO(data), "sha256")
    assert oid == "sha256:" + hashlib.sha256(data).hexdigest()
