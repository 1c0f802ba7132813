"""Format detection (name, then magic bytes, then a look at text) and stream plumbing:
peeking at the head of a non-seekable stream, counting bytes, decoding lines."""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Iterator
from typing import BinaryIO

from git_data.stats.model import StatsError, WarningLog

HEAD_BYTES = 64 * 1024
MAX_LINE = 16 * 1024 * 1024
TABULAR = ("csv", "tsv", "jsonl")
IMAGES = ("png", "jpeg", "gif", "bmp", "webp", "tiff", "ico")

EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg",
    ".gif": "gif", ".bmp": "bmp", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff",
    ".ico": "ico",
}
MAGIC = [
    (0, b"\x89PNG\r\n\x1a\n", "png"), (0, b"\xff\xd8\xff", "jpeg"), (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"), (0, b"II*\x00", "tiff"), (0, b"MM\x00*", "tiff"),
    (0, b"PAR1", "parquet"), (0, b"\x1f\x8b", "gzip"), (0, b"PK\x03\x04", "zip"),
    (0, b"%PDF-", "pdf"), (0, b"\x89HDF\r\n\x1a\n", "hdf5"), (0, b"\x93NUMPY", "npy"),
    (0, b"SQLite format 3\x00", "sqlite"), (0, b"(\xb5/\xfd", "zstd"), (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"), (0, b"7z\xbc\xaf\x27\x1c", "7z"), (0, b"\x7fELF", "elf"),
    (0, b"ARROW1", "arrow"), (0, b"Obj\x01", "avro"), (0, b"OggS", "ogg"), (0, b"fLaC", "flac"),
    (0, b"ID3", "mp3"), (4, b"ftyp", "mp4"), (257, b"ustar", "tar"),
    (0, b"\x00\x00\x01\x00", "ico"),
]


def display_name(name: str) -> str:
    """The name as stored in a profile: repository-relative, never an absolute path."""
    name = name.replace(os.sep, "/")
    return posixpath.basename(name) if posixpath.isabs(name) else name


def sniff_magic(head: bytes) -> str | None:
    for offset, magic, fmt in MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return fmt
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}[head[8:12]]
    if head[:2] == b"BM" and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "bmp"
    return None


def utf16_encoding(head: bytes) -> str | None:
    """``UTF-16LE``/``UTF-16BE`` when ``head`` looks like UTF-16 text without a byte-order
    mark (ASCII text with a zero byte beside every character), else None."""
    sample = head[:4096 - 4096 % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "UTF-16LE"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "UTF-16BE"
    return None


def is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 or _mostly_text(head)
    return True


def _mostly_text(head: bytes) -> bool:
    printable = sum(1 for b in head if b >= 32 or b in (9, 10, 13))
    return printable >= 0.95 * len(head)


def detect(name: str, head: bytes) -> str:
    """``csv``, ``tsv``, ``jsonl``, ``parquet``, an image format, a container or binary
    format from its magic bytes, ``json``, ``text``, ``binary`` or ``empty``."""
    ext = posixpath.splitext(name.lower())[1]
    fmt = EXTENSIONS.get(ext)
    if not head:
        return fmt if fmt in TABULAR else "empty"
    magic = sniff_magic(head)
    if magic and not (magic == "ico" and ext != ".ico"):
        return magic
    if fmt in TABULAR:
        return fmt
    if not is_text(head):
        return "binary"
    return _detect_text(ext, head)


def _detect_text(ext: str, head: bytes) -> str:
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"{") and first.endswith(b"}"):
        return "jsonl"
    if ext == ".json" or first.startswith((b"{", b"[")):
        return "json"
    lines = head.split(b"\n")[:2]
    for delim, fmt in ((b"\t", "tsv"), (b",", "csv"), (b";", "csv"), (b"|", "csv")):
        if len(lines) == 2 and lines[0].count(delim) and lines[0].count(delim) == lines[
                1].count(delim):
            return fmt
    return "text"


class _Source(io.RawIOBase):
    """A raw stream that serves ``prefix`` first, then ``stream``, counting bytes read."""

    def __init__(self, stream: BinaryIO, prefix: bytes = b"") -> None:
        self._stream = stream
        self._prefix = prefix
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            data = self._stream.read(len(buffer))
            n = len(data)
            buffer[:n] = data
        self.bytes_read += n
        return n


def peek(stream: BinaryIO, n: int = HEAD_BYTES) -> tuple[bytes, BinaryIO, _Source | None]:
    """The first ``n`` bytes and a stream to read everything from the start.

    Seekable streams are rewound; others are wrapped so the head is served again."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        pos = stream.tell()
        head = stream.read(n)
        stream.seek(pos)
        return head, stream, None
    head = _read_exactly(stream, n)
    source = _Source(stream, head)
    return head, io.BufferedReader(source, 1 << 20), source  # type: ignore[return-value]


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def stream_size(stream: BinaryIO) -> int | None:
    seekable = getattr(stream, "seekable", None)
    if seekable is None or not seekable():
        return None
    pos = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(pos)
    return end - pos


def drain(stream: BinaryIO) -> int:
    """Read to the end in chunks, returning how many bytes there were."""
    total = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return total
        total += len(chunk)


def decoded_lines(stream: BinaryIO, name: str, log: WarningLog) -> Iterator[str]:
    """Text lines with their endings (split like a file opened with ``newline=""``, as the
    csv module wants), a leading BOM dropped. Chunks are decoded whole; a chunk that is not
    valid UTF-8 is decoded line by line, with U+FFFD for bad bytes and a warning per line."""
    lineno = 0
    for chunk in _line_chunks(stream, name):
        if lineno == 0 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            yield from _decode_each(chunk, lineno, name, log)
        else:
            yield from io.StringIO(text, newline="")
        lineno += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")


def _decode_each(chunk: bytes, lineno: int, name: str, log: WarningLog) -> Iterator[str]:
    for raw in chunk.splitlines(keepends=True):
        lineno += 1
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            log.add(f"{name}: line {lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"column {exc.start + 1}); undecodable bytes replaced with U+FFFD")
            yield raw.decode("utf-8", "replace")


def _line_chunks(stream: BinaryIO, name: str, size: int = 1 << 20) -> Iterator[bytes]:
    """Chunks of about ``size`` bytes that each end at a line break (but the last)."""
    rest = b""
    lines_before = 0
    while True:
        data = stream.read(size)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1
        if not cut:
            if len(data) > MAX_LINE:
                raise StatsError(f"{name}: line {lines_before + 1} is longer than "
                                 f"{MAX_LINE >> 20} MiB; is this really a text table?")
            rest = data
            continue
        chunk, rest = data[:cut], data[cut:]
        lines_before += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        yield chunk
