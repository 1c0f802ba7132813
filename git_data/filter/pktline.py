"""pkt-line framing as used by git's filter protocol: 4 hex digits of length (including the
4 header bytes) then the payload; ``0000`` is a flush packet.

Content moves without extra copies: payloads are read in blocks of up to 1 MiB with
``readinto`` into one reused buffer and handed out as views, and written with ``os.writev``
(header and payload in one system call).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

MAX_PAYLOAD = 65516
FLUSH = None


class ProtocolError(Exception):
    pass


class PktReader:
    """Reads large blocks (up to ``BLOCK`` bytes per system call) and hands out payloads as
    views into that block, so a 64 KiB packet costs no system call of its own."""

    BLOCK = 1 << 20

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._buf = bytearray(self.BLOCK + MAX_PAYLOAD + 4)
        self._start = 0  # first unread byte
        self._end = 0  # end of the bytes read so far

    def _ensure(self, count: int) -> bool:
        """Make ``count`` unread bytes available at ``_start``; False at end of input."""
        if self._end - self._start >= count:
            return True
        if self._start and len(self._buf) - self._start < max(count, MAX_PAYLOAD + 4):
            # move the unread tail to the front; views handed out earlier are dead by now
            tail = self._end - self._start
            self._buf[:tail] = self._buf[self._start:self._end]
            self._start, self._end = 0, tail
        view = memoryview(self._buf)
        while self._end - self._start < count:
            n = self.stream.readinto(view[self._end:])  # type: ignore[attr-defined]
            if not n:
                return False
            self._end += n
        return True

    def read_view(self) -> memoryview | None:
        """One packet's payload as a view into the read buffer (valid until the next call),
        or None for a flush. EOFError at a clean end of input."""
        if not self._ensure(4):
            if self._end == self._start:
                raise EOFError
            raise ProtocolError("truncated pkt-line header")
        header = self._buf[self._start:self._start + 4]
        try:
            length = int(header, 16)
        except ValueError as exc:
            raise ProtocolError(f"bad pkt-line header {bytes(header)!r}") from exc
        if length == 0:
            self._start += 4
            return FLUSH
        if length < 4 or length - 4 > MAX_PAYLOAD:
            raise ProtocolError(f"bad pkt-line length {length}")
        if not self._ensure(length):
            raise ProtocolError("truncated pkt-line payload")
        view = memoryview(self._buf)[self._start + 4:self._start + length]
        self._start += length
        return view

    def read(self) -> bytes | None:
        view = self.read_view()
        return None if view is None else bytes(view)

    def read_text_list(self) -> list[str]:
        """Text packets up to the next flush."""
        items = []
        while True:
            packet = self.read()
            if packet is FLUSH:
                return items
            text = packet.decode(errors="surrogateescape")
            items.append(text[:-1] if text.endswith("\n") else text)

    def read_keyvals(self) -> dict[str, str]:
        return dict(item.partition("=")[::2] for item in self.read_text_list())

    def iter_content(self) -> Iterator[memoryview]:
        """Binary packets up to the next flush, as views valid until the next iteration."""
        while True:
            view = self.read_view()
            if view is FLUSH:
                return
            yield view


class PktWriter:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self._pending = bytearray()  # small packets, sent at the next flush or payload
        self.sent = 0  # calls that added to the stream: tells whether a response began

    def write(self, payload: bytes | memoryview) -> None:
        self.sent += 1
        view = memoryview(payload)
        if len(view) < 4096 or self.fd is None:
            for start in range(0, len(view), MAX_PAYLOAD):
                chunk = view[start:start + MAX_PAYLOAD]
                self._pending += b"%04x" % (len(chunk) + 4)
                self._pending += chunk
            return
        self._send_pending()
        parts: list[bytes | memoryview] = []
        for start in range(0, len(view), MAX_PAYLOAD):
            chunk = view[start:start + MAX_PAYLOAD]
            parts += [b"%04x" % (len(chunk) + 4), chunk]
        self._writev(parts)  # up to a MiB of packets per system call

    def _writev(self, parts: list[bytes | memoryview]) -> None:
        assert self.fd is not None
        while parts:
            sent = os.writev(self.fd, parts)
            while parts and sent >= len(parts[0]):  # a pipe may take only part of it
                sent -= len(parts[0])
                parts.pop(0)
            if parts and sent:
                parts[0] = memoryview(parts[0])[sent:]

    def _send_pending(self) -> None:
        if not self._pending:
            return
        if self.fd is None:
            self.stream.write(self._pending)
        else:
            data = memoryview(self._pending)
            while data:
                data = data[os.write(self.fd, data):]
        self._pending = bytearray()

    def text(self, *lines: str) -> None:
        for line in lines:
            self.write(line.encode(errors="surrogateescape") + b"\n")

    def flush(self, send: bool = True) -> None:
        """A flush packet; ``send=False`` keeps it pending with what came before, so a whole
        small response goes to git in one system call (git reads it only once complete)."""
        self.sent += 1
        self._pending += b"0000"
        if not send:
            return
        self._send_pending()
        if self.fd is None:
            self.stream.flush()

    def text_list(self, *lines: str) -> None:
        self.text(*lines)
        self.flush()
