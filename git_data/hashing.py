"""Streaming content hashes. xxh3-128 by default (fast, not cryptographic); sha256 for stores
shared with parties you do not trust (``data.hashAlgorithm``)."""

from __future__ import annotations

from typing import BinaryIO, Protocol

import xxhash

CHUNK = 1 << 20
DEFAULT_ALGORITHM = "xxh128"


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def new_hasher(algo: str = DEFAULT_ALGORITHM) -> Hasher:
    if algo == "xxh128":
        return xxhash.xxh3_128()
    if algo == "sha256":
        import hashlib  # rare: keep OpenSSL out of every process's start-up

        return hashlib.sha256()
    raise ValueError(f"unknown hash algorithm '{algo}' (known: xxh128, sha256)")


def hash_stream(stream: BinaryIO, algo: str = DEFAULT_ALGORITHM) -> tuple[str, int]:
    """Hash a stream to its end in constant memory; returns (``algo:hex``, size)."""
    hasher = new_hasher(algo)
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = stream.readinto(view)
        if not n:
            break
        hasher.update(view[:n])
        size += n
    return f"{algo}:{hasher.hexdigest()}", size


def hash_file(path: str, algo: str = DEFAULT_ALGORITHM) -> tuple[str, int]:
    with open(path, "rb", buffering=0) as stream:
        return hash_stream(stream, algo)  # type: ignore[arg-type]


def hash_bytes(data: bytes, algo: str = DEFAULT_ALGORITHM) -> str:
    hasher = new_hasher(algo)
    hasher.update(data)
    return f"{algo}:{hasher.hexdigest()}"
