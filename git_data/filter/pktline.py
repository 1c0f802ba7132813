"""pkt-line framing as used by git's filter protocol: 4 hex digits of length (including the
4 header bytes) then the payload; ``0000`` is a flush packet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

MAX_PAYLOAD = 65516
FLUSH = None


class ProtocolError(Exception):
    pass


class PktReader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def read(self) -> bytes | None:
        """One packet's payload, or None for a flush. EOFError at a clean end of input."""
        header = self.stream.read(4)
        if not header:
            raise EOFError
        if len(header) != 4:
            raise ProtocolError("truncated pkt-line header")
        try:
            length = int(header, 16)
        except ValueError as exc:
            raise ProtocolError(f"bad pkt-line header {header!r}") from exc
        if length == 0:
            return FLUSH
        if length < 4:
            raise ProtocolError(f"bad pkt-line length {length}")
        payload = self.stream.read(length - 4)
        if len(payload) != length - 4:
            raise ProtocolError("truncated pkt-line payload")
        return payload

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

    def iter_content(self) -> Iterator[bytes]:
        """Binary packets up to the next flush."""
        while True:
            packet = self.read()
            if packet is FLUSH:
                return
            yield packet


class PktWriter:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, payload: bytes | memoryview) -> None:
        for start in range(0, len(payload), MAX_PAYLOAD):
            chunk = payload[start:start + MAX_PAYLOAD]
            self.stream.write(b"%04x" % (len(chunk) + 4))
            self.stream.write(chunk)

    def text(self, *lines: str) -> None:
        for line in lines:
            self.write(line.encode() + b"\n")

    def flush(self) -> None:
        self.stream.write(b"0000")
        self.stream.flush()

    def text_list(self, *lines: str) -> None:
        self.text(*lines)
        self.flush()
