"""pkt-line framing: payloads survive the block reader whatever the read sizes."""

from __future__ import annotations

import io
import random

import pytest
from conftest import OneWay

from git_data.filter.pktline import MAX_PAYLOAD, PktReader, PktWriter, ProtocolError


def _encode(messages: list[list[bytes]]) -> bytes:
    sink = io.BytesIO()
    writer = PktWriter(sink)
    for message in messages:
        for payload in message:
            writer.write(payload)
        writer.flush()
    return sink.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 4096, MAX_PAYLOAD + 3, None])
def test_payloads_survive_any_read_size(chunk: int | None) -> None:
    rng = random.Random(chunk or 0)
    sizes = [1, 3, MAX_PAYLOAD, MAX_PAYLOAD - 1, 100_000, 3 << 20]
    messages = [[rng.randbytes(size)] for size in sizes]
    reader = PktReader(OneWay(_encode(messages), chunk))  # type: ignore[arg-type]
    for message in messages:
        received = b"".join(bytes(view) for view in reader.iter_content())
        assert received == message[0]
    with pytest.raises(EOFError):
        reader.read_view()


def test_truncated_payload_is_a_protocol_error() -> None:
    data = _encode([[b"x" * 1000]])[:500]
    reader = PktReader(io.BytesIO(data))
    with pytest.raises(ProtocolError, match="truncated"):
        reader.read_view()


def test_bad_header_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="bad pkt-line header"):
        PktReader(io.BytesIO(b"zz10hello")).read_view()


def test_large_writes_through_a_pipe_arrive_whole() -> None:
    """Big payloads go out as many packets per writev; a pipe may take part of each call."""
    import os
    import threading

    payload = random.Random(5).randbytes(5 << 20)
    read_fd, write_fd = os.pipe()
    received: list[bytes] = []

    def drain() -> None:
        with open(read_fd, "rb", buffering=0) as stream:
            reader = PktReader(stream)  # type: ignore[arg-type]
            received.append(b"".join(bytes(v) for v in reader.iter_content()))

    thread = threading.Thread(target=drain)
    thread.start()
    with open(write_fd, "wb", buffering=0) as stream:
        writer = PktWriter(stream)  # type: ignore[arg-type]
        writer.write(b"small")
        writer.write(payload)
        writer.flush()
    thread.join(timeout=60)
    assert received == [b"small" + payload]


def test_a_small_response_goes_out_in_one_write() -> None:
    """flush(send=False) keeps the flush packet pending: status, content and status reach
    the pipe together at the last flush, in order."""
    import os
    import select

    read_fd, write_fd = os.pipe()
    try:
        writer = PktWriter(os.fdopen(write_fd, "wb", buffering=0))  # type: ignore[arg-type]
        writer.text("status=success")
        writer.flush(send=False)
        writer.write(b"version https://git-data/spec/v1\n")
        writer.flush(send=False)
        assert select.select([read_fd], [], [], 0)[0] == []  # nothing sent yet
        writer.flush()
        data = os.read(read_fd, 1 << 16)
        assert data == (b"0013status=success\n0000"
                        b"0025version https://git-data/spec/v1\n00000000")
    finally:
        os.close(read_fd)
