"""``profile()``: open or peek at a stream, detect its format and hand it to the table,
Parquet or image profiler; anything else gets its size and a type from its magic bytes."""

from __future__ import annotations

import contextlib
import gc
import gzip
import os
import posixpath
from collections.abc import Iterator
from typing import BinaryIO, Union

from git_data.stats.columns import TextOptions
from git_data.stats.images import profile_image
from git_data.stats.model import Profile, StatsError
from git_data.stats.parquet import profile_parquet
from git_data.stats.sniff import (
    EXTENSIONS,
    IMAGES,
    TABULAR,
    detect,
    display_name,
    drain,
    peek,
    stream_size,
    utf16_encoding,
)
from git_data.stats.tabular import READ_ERRORS, profile_text_table

Source = Union[BinaryIO, str, "os.PathLike[str]"]


def profile(source: Source, name: str | None = None, size: int | None = None, *,
            sample_size: int = 10, options: TextOptions | None = None) -> Profile:
    """Profile one file in a single streaming pass, in bounded memory.

    ``source`` is a binary stream (a cache file, a stream from a remote store) or a path;
    ``name`` (a repository-relative path) picks the format by extension before the content
    is sniffed. Parquet needs a path or a seekable stream. Problems in the data become
    ``Profile.warnings``; a file that cannot be read at all raises :class:`StatsError`."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as stream:
                real_size = os.fstat(stream.fileno()).st_size
                return profile(stream, name or os.path.basename(path),
                               real_size if size is None else size, sample_size=sample_size,
                               options=options)
        except OSError as exc:
            raise StatsError(f"{name or path}: cannot open ({exc.strerror})") from None
    name = display_name(name or os.path.basename(str(getattr(source, "name", "stream"))))
    if size is None:
        size = stream_size(source)
    head, stream, counter = peek(source)
    check_encoding_and_magic(name, head)
    with gc_paused():
        result = _dispatch(stream, name, detect(name, head), size, head, sample_size,
                           options or TextOptions())
    if result.size is None and counter is not None:
        drain(stream)
        result.size = counter.bytes_read
    return result


def check_encoding_and_magic(name: str, head: bytes) -> None:
    """Refuse, in one line, what would otherwise be profiled as garbage: UTF-16 text
    without a byte-order mark ("n a m e") and a file named ``.parquet`` that is not one."""
    encoding = utf16_encoding(head)
    if encoding:
        raise StatsError(f"{name}: looks like {encoding} text without a byte-order mark; "
                         f"convert it to UTF-8 (iconv -f {encoding} -t UTF-8)")
    ext = posixpath.splitext(name.lower())[1]
    if EXTENSIONS.get(ext) == "parquet" and head and not head.startswith(b"PAR1"):
        raise StatsError(f"{name}: not a Parquet file (it does not start with PAR1); "
                         "rename it or check how it was written")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off for the pass: profiling allocates millions of short-lived,
    acyclic lists and strings, and full collections over them cost a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _dispatch(stream: BinaryIO, name: str, fmt: str, size: int | None, head: bytes,
              sample_size: int, options: TextOptions) -> Profile:
    if options.delimiter and fmt == "text":
        fmt = "csv"  # a delimiter was given: read it as delimited text whatever it looks like
    if fmt in TABULAR:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise StatsError(f"{name}: UTF-16 text is not supported; convert it to UTF-8")
        return profile_text_table(stream, name, fmt, size, sample_size, options)
    if fmt == "parquet":
        return profile_parquet(stream, name, size, sample_size)
    if fmt in IMAGES:
        return profile_image(stream, name, fmt, size)
    if fmt == "gzip":
        return _profile_gzip(stream, name, size, sample_size)
    warnings = [f"{name}: empty file"] if fmt == "empty" else []
    return Profile(name=name, kind="file", format=fmt, size=size, warnings=warnings)


def _profile_gzip(stream: BinaryIO, name: str, size: int | None, sample_size: int) -> Profile:
    """A gzip-compressed table (``data.csv.gz``) is profiled through the decompressor."""
    inner_name = name[:-3] if name.lower().endswith(".gz") else name
    ext_fmt = EXTENSIONS.get(posixpath.splitext(inner_name.lower())[1])
    gz = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        head = gz.peek(4096)[:4096]
    except READ_ERRORS + (OSError,) as exc:
        return Profile(name=name, kind="file", format="gzip", size=size,
                       warnings=[f"{name}: corrupt gzip data ({exc})"])
    fmt = ext_fmt if ext_fmt in TABULAR else detect(inner_name, head)
    if fmt not in TABULAR:
        return Profile(name=name, kind="file", format="gzip", size=size)
    result = profile_text_table(gz, name, fmt, size, sample_size)  # type: ignore[arg-type]
    result.format = f"{fmt}.gz"
    return result
