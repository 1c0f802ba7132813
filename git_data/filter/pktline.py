"""pkt-line framing as used by git's filter protocol: 4 hex digits of length (including the
4 header bytes) then the payload; ``0000`` is a flush packet.

Content moves without extra copies: payloads are read with ``readinto`` into one reused
buffer, and written with ``os.writev`` (header and payload in one system call).
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
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._header = bytearray(4)
        self._payload = bytearray(MAX_PAYLOAD)

    def _fill(self, view: memoryview) -> int:
        """Read exactly len(view) bytes (pipes return short reads); fewer only at EOF."""
        got = 0
        while got < len(view):
            n = self.stream.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                break
            got += n
        return got

    def read_view(self) -> memoryview | None:
        """One packet's payload as a view into a reused buffer (valid until the next call),
        or None for a flush. EOFError at a clean end of input."""
        got = self._fill(memoryview(self._header))
        if got == 0:
            raise EOFError
        if got != 4:
            raise ProtocolError("truncated pkt-line header")
        try:
            length = int(self._header, 16)
        except ValueError as exc:
            raise ProtocolError(f"bad pkt-line header {bytes(self._header)!r}") from exc
        if length == 0:
            return FLUSH
        if length < 4 or length - 4 > MAX_PAYLOAD:
            raise ProtocolError(f"bad pkt-line length {length}")
        view = memoryview(self._payload)[:length - 4]
        if self._fill(view) != length - 4:
            raise ProtocolError("truncated pkt-line payload")
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

    def write(self, payload: bytes | memoryview) -> None:
        view = memoryview(payload)
        for start in range(0, len(view), MAX_PAYLOAD):
            chunk = view[start:start + MAX_PAYLOAD]
            header = b"%04x" % (len(chunk) + 4)
            if len(chunk) < 4096 or self.fd is None:
                self._pending += header
                self._pending += chunk
            else:
                self._send_pending()
                self._writev(header, chunk)

    def _writev(self, header: bytes, chunk: memoryview) -> None:
        assert self.fd is not None
        total = len(header) + len(chunk)
        sent = os.writev(self.fd, [header, chunk])
        if sent < total:  # a pipe may take part of it
            rest = (header + bytes(chunk))[sent:]
            while rest:
                rest = rest[os.write(self.fd, rest):]

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

    def flush(self) -> None:
        self._pending += b"0000"
        self._send_pending()
        if self.fd is None:
            self.stream.flush()

    def text_list(self, *lines: str) -> None:
        self.text(*lines)
        self.flush()
