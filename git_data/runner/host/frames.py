"""The byte stream between the host agent and the client (standard library only).

A stream starts with :data:`MAGIC` (anything a login shell prints before it is skipped), then
frames of ``kind (1 byte) | length (4 bytes, big-endian) | payload``:

    o  the command's output          s  set-up notes (data, environment, GPUs)
    i  JSON: run started (rundir)    x  JSON: run ended (status, exit_code, error)
    e  an error message: nothing was started
    m  JSON: modules the agent lacks on this host (nothing was started; ship them, retry)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

MAGIC = b"\x00GIT-DATA-FRAMES-1\n"
OUTPUT, SETUP, INFO, EXIT, ERROR, MISSING = b"o", b"s", b"i", b"x", b"e", b"m"


def write(stream: IO[bytes], kind: bytes, payload: bytes) -> None:
    stream.write(kind + len(payload).to_bytes(4, "big") + payload)
    stream.flush()


def write_json(stream: IO[bytes], kind: bytes, value: Any) -> None:
    write(stream, kind, json.dumps(value).encode())


def read(stream: IO[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Frames until the end of the stream; the bytes before the magic line are dropped."""
    seen = b""
    while not seen.endswith(MAGIC):
        byte = stream.read(1)
        if not byte:
            return
        seen = (seen + byte)[-len(MAGIC):]
    while True:
        head = _exactly(stream, 5)
        if head is None:
            return
        payload = _exactly(stream, int.from_bytes(head[1:], "big"))
        if payload is None:
            return
        yield head[:1], payload


def _exactly(stream: IO[bytes], n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
