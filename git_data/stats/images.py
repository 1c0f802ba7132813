"""Images: width and height from the file header (PNG, JPEG, GIF, BMP, WebP parsed here,
reading only the first bytes; other formats through Pillow when it is installed), and
folders of images profiled as a table with one row per image."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Union

from git_data.stats.model import Profile, StatsError, WarningLog
from git_data.stats.sniff import IMAGES, detect, display_name, drain, peek, stream_size
from git_data.stats.tabular import TableBuilder

JPEG_SCAN_LIMIT = 16 * 1024 * 1024
PNG_COLOR = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
FOLDER_COLUMNS = ["format", "bytes", "width", "height"]

Opener = Callable[[], BinaryIO]
Entry = Union[tuple[str, Opener], tuple[str, Opener, int]]


def image_info(stream: BinaryIO, fmt: str) -> dict[str, Any]:
    """``{"format", "width", "height", ...}`` read from the header; ValueError if it is not
    readable (truncated or corrupt)."""
    head = stream.read(64)
    parser = {"png": _png, "gif": _gif, "bmp": _bmp, "webp": _webp}.get(fmt)
    try:
        if parser is not None:
            info = parser(head)
        elif fmt == "jpeg":
            info = _jpeg(head, stream)
        else:
            info = _pillow(head, stream)
    except (struct.error, IndexError):
        raise ValueError(f"{fmt} header is truncated") from None
    if info.get("width", 1) <= 0 or info.get("height", 1) <= 0:
        raise ValueError(f"{fmt} header has an invalid size")
    return {"format": fmt, **info}


def _png(head: bytes) -> dict[str, Any]:
    if head[12:16] != b"IHDR":
        raise ValueError("PNG without an IHDR chunk")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    return {"width": width, "height": height, "mode": PNG_COLOR.get(color, str(color)),
            "bit_depth": depth}


def _gif(head: bytes) -> dict[str, Any]:
    width, height = struct.unpack("<HH", head[6:10])
    return {"width": width, "height": height, "mode": "P"}


def _bmp(head: bytes) -> dict[str, Any]:
    if struct.unpack("<I", head[14:18])[0] == 12:
        width, height, _, bpp = struct.unpack("<HHHH", head[18:26])
    else:
        width, height, _, bpp = struct.unpack("<iiHH", head[18:30])
    return {"width": width, "height": abs(height), "bit_depth": bpp}


def _webp(head: bytes) -> dict[str, Any]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return {"width": width, "height": height, "mode": "RGBA" if head[20] & 0x10 else "RGB"}
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            raise ValueError("bad WebP lossless signature")
        bits = int.from_bytes(head[21:25], "little")
        alpha = "RGBA" if bits >> 28 & 1 else "RGB"
        return {"width": (bits & 0x3FFF) + 1, "height": (bits >> 14 & 0x3FFF) + 1, "mode": alpha}
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad WebP lossy start code")
        width, height = struct.unpack("<HH", head[26:30])
        return {"width": width & 0x3FFF, "height": height & 0x3FFF, "mode": "RGB"}
    raise ValueError(f"unknown WebP chunk {chunk!r}")


def _jpeg(head: bytes, stream: BinaryIO) -> dict[str, Any]:
    """Walk the JPEG segments up to the first start-of-frame marker."""
    reader = _Buffered(head, stream)
    reader.take(2)  # SOI
    while reader.pos < JPEG_SCAN_LIMIT:
        if reader.take(1) != b"\xff":
            continue
        marker = reader.take(1)[0]
        while marker == 0xFF:
            marker = reader.take(1)[0]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue
        if marker in (0xD9, 0xDA):
            break
        length = struct.unpack(">H", reader.take(2))[0]
        if marker in JPEG_SOF:
            depth, height, width, channels = struct.unpack(">BHHB", reader.take(6))
            mode = {1: "L", 3: "RGB", 4: "CMYK"}.get(channels, str(channels))
            return {"width": width, "height": height, "mode": mode, "bit_depth": depth}
        reader.skip(length - 2)
    raise ValueError("JPEG without a start-of-frame segment")


class _Buffered:
    """Sequential reads over ``head`` then ``stream`` (no seeking needed)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.data, self.stream, self.pos = head, stream, 0

    def take(self, n: int) -> bytes:
        while len(self.data) < n:
            more = self.stream.read(max(n - len(self.data), 65536))
            if not more:
                raise IndexError("end of file")
            self.data += more
        out, self.data = self.data[:n], self.data[n:]
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        while n > 0:
            n -= len(self.take(min(n, 65536)))


def _pillow(head: bytes, stream: BinaryIO) -> dict[str, Any]:
    try:
        from PIL import Image
    except ImportError:
        return {}
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        stream.seek(-len(head), io.SEEK_CUR)
        source: BinaryIO = stream
    else:
        source = io.BytesIO(head + stream.read(JPEG_SCAN_LIMIT))
    try:
        with Image.open(source) as img:
            return {"width": img.width, "height": img.height, "mode": img.mode}
    except Exception as exc:  # Pillow raises many types for bad files
        raise ValueError(f"Pillow cannot read it ({exc})") from None


def profile_image(stream: BinaryIO, name: str, fmt: str, size: int | None) -> Profile:
    """One image: format, size in bytes, width, height (and mode / bit depth if known)."""
    try:
        info = image_info(stream, fmt)
    except ValueError as exc:
        raise StatsError(f"{name}: cannot read the image: {exc}") from None
    return Profile(name=name, kind="image", format=fmt, size=size, image=info)


def profile_folder(entries: Iterable[Entry] | str | os.PathLike[str], name: str = ".",
                   sample_size: int = 10) -> Profile:
    """Profile many images as one table: a row per image with its format, bytes, width and
    height. ``entries`` are ``(name, opener)`` or ``(name, opener, size)`` tuples, where
    ``opener()`` returns a binary stream (local cache file or remote store stream), or a
    directory path. Files that are not images are counted in the warnings."""
    if isinstance(entries, (str, os.PathLike)):
        entries = _directory_entries(os.fspath(entries))
    log = WarningLog()
    builder = TableBuilder(FOLDER_COLUMNS, sample_size, log)
    batch: list[list[Any]] = []
    skipped = 0
    for entry in entries:
        row = _folder_row(entry, log)
        if row is None:
            skipped += 1
        else:
            batch.append(row)
        if len(batch) >= 1024:
            _flush(builder, batch)
    _flush(builder, batch)
    if skipped:
        log.add(f"{name}: {skipped:,} files are not images and were skipped")
    profile = builder.result(display_name(name), "images", None)
    profile.kind = "images"
    if profile.sample is not None:
        profile.sample["header"] = ["name", *FOLDER_COLUMNS]
    return profile


def _flush(builder: TableBuilder, batch: list[list[Any]]) -> None:
    if batch:
        columns = [[row[i + 1] for row in batch] for i in range(len(FOLDER_COLUMNS))]
        builder.add_value_columns(columns, list(batch))
        batch.clear()


def _folder_row(entry: Entry, log: WarningLog) -> list[Any] | None:
    name, opener = entry[0], entry[1]
    size = entry[2] if len(entry) > 2 else None  # type: ignore[misc]
    original = opener()
    try:
        head, stream, source = peek(original, 64)
        fmt = detect(name, head)
        if fmt not in IMAGES:
            return None
        if size is None:
            size = stream_size(stream)
        try:
            info = image_info(stream, fmt)
        except ValueError as exc:
            log.add(f"{name}: cannot read the image: {exc}")
            info = {}
        if size is None and source is not None:
            drain(stream)
            size = source.bytes_read
        return [name, fmt, size, info.get("width"), info.get("height")]
    finally:
        close = getattr(original, "close", None)
        if close is not None:
            close()


def _directory_entries(root: str) -> Iterable[Entry]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            yield rel, (lambda p=path: open(p, "rb")), os.path.getsize(path)
