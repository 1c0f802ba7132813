"""Recording new stat data for work-tree files in git's index, without a refresh.

    materialize writes path from the cache  -->  os.stat(path)
    set_stat(index, {path: (pointer blob id, stat)})  -->  entries patched in place,
    checksum recomputed, written through ``index.lock`` and renamed over the index

After ``git data pull`` or a direct checkout replaces a pointer file with its data, the
content still cleans to the staged pointer; only the stat data in the index is stale. git's
own ``update-index --refresh`` would find that out by sending every such file through the
clean filter (a full read per file); this module instead writes the stat git would have
recorded. An entry is patched only where it is at stage 0 and still names the expected
pointer blob, so anything that changed meanwhile keeps its old (stale) stat data and git
simply re-reads it.

``entries`` reads every entry with the work-tree size git recorded for it, for `git data
status`: after git's refresh that size answers, for each clean file, what a stat of it would.

Formats 2, 3 and 4 are understood. An index that uses a split index, a sparse index or an
fsmonitor extension is left alone (the caller falls back to git's refresh), as is one that
is locked by a running git command or whose checksum does not verify.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from . import safeio

HEADER = struct.Struct(">4sII")
STAT_FIELDS = struct.Struct(">6I")  # ctime s/ns, mtime s/ns, dev, ino
OWNER_SIZE = struct.Struct(">3I")  # uid, gid, size (mode, between them, is left as it is)
FLAG_ASSUME_VALID = 0x8000
FLAG_EXTENDED = 0x4000
FLAG_SKIP_WORKTREE = 0x4000  # in the extended flags
FLAG_STAGE = 0x3000
NAME_MASK = 0x0FFF
UNSAFE_EXTENSIONS = (b"link", b"sdir", b"FSMN")
HASHES = {"sha1": (20, hashlib.sha1), "sha256": (32, hashlib.sha256)}


class Unsupported(Exception):
    """An index this module does not patch; git's own refresh has to do it."""


def set_stat(index: Path, object_format: str,
             updates: dict[bytes, tuple[bytes, os.stat_result]]) -> set[bytes]:
    """Write each path's stat into its index entry where the entry holds the expected blob.

    ``updates`` maps a path (bytes, as git stores it) to (raw blob id, stat). Returns the
    paths patched; an empty set when the index could not be patched at all."""
    if object_format not in HASHES or not updates:
        return set()
    lock = index.with_name(index.name + ".lock")
    try:
        dir_fd = os.open(index.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return set()
    try:  # git's own lock name (O_EXCL is the lock), never through a link
        fd = safeio.create_new(dir_fd, lock.name, 0o666)
    except FileExistsError:  # a git command is writing the index: let git refresh later
        os.close(dir_fd)
        return set()
    try:
        data = bytearray(index.read_bytes())
        patched = _patch(data, HASHES[object_format], updates)
        if patched:
            with os.fdopen(fd, "wb") as stream:
                fd = -1
                stream.write(data)
            os.replace(lock.name, index.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return patched
        return set()
    except (Unsupported, OSError):
        return set()
    finally:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(lock.name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        os.close(dir_fd)


def racy_entries(index: Path, object_format: str) -> list[tuple[str, str, tuple[int, ...]]]:
    """Stage-0 entries git will re-read because their mtime is not older than the index file
    (whole seconds, as git compares them): (path, blob id hex, raw stat fields)."""
    try:
        index_second = int(index.stat().st_mtime)
    except OSError:
        return []
    return [(path, blob, fields) for path, (blob, fields) in stage0_entries(
        index, object_format).items() if fields[2] >= index_second]


def stage0_entries(index: Path, object_format: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every stage-0 entry: path -> (blob id hex, raw stat fields in ``stat_fields``' order);
    empty when the index cannot be read."""
    if object_format not in HASHES:
        return {}
    try:
        data = bytearray(index.read_bytes())
        signature, version, count = HEADER.unpack_from(data)
    except (OSError, struct.error):
        return {}
    if signature != b"DIRC" or version not in (2, 3, 4):
        return {}
    hash_size = HASHES[object_format][0]
    found, offset, previous = {}, HEADER.size, b""
    try:
        for _ in range(count):
            path, end = _entry_path(data, offset, version, hash_size, previous)
            if _is_stage0(data, offset, hash_size):
                fields = STAT_FIELDS.unpack_from(data, offset) + OWNER_SIZE.unpack_from(
                    data, offset + 28)
                blob = bytes(data[offset + 40:offset + 40 + hash_size]).hex()
                found[path.decode(errors="surrogateescape")] = (blob, fields)
            offset, previous = end, path
    except (ValueError, IndexError, struct.error):
        return {}
    return found


# One index entry as `git ls-files -s` lists it, with the work-tree size git recorded:
# (path, blob hex, stage, st_size in 32 bits (0 for an entry git smudged as racy),
# unchecked: assume-unchanged or skip-worktree, so git does not look at the file)
Entry = tuple[str, str, int, int, bool]


def entries(index: Path, object_format: str) -> list[Entry] | None:
    """Every entry, in the index's order; None when this module cannot read the index
    (missing, garbled, another format, or a split or sparse index whose entries are not all
    in this file): the caller asks git instead."""
    if object_format not in HASHES:
        return None
    try:
        data = index.read_bytes()
        signature, version, count = HEADER.unpack_from(data)
    except (OSError, struct.error):
        return None
    if signature != b"DIRC" or version not in (2, 3, 4):
        return None
    hash_size = HASHES[object_format][0]
    try:
        found, offset = _read_entries(data, version, hash_size, count)
        _check_extensions(data, offset, len(data) - hash_size)
    except (Unsupported, ValueError, IndexError, struct.error):
        return None
    return found


def _read_entries(data: bytes, version: int, hash_size: int, count: int
                  ) -> tuple[list[Entry], int]:
    """The entries and the offset after them. This runs 100,000 times for a large
    repository, so the common case (formats 2 and 3) is unrolled: one unpack per entry."""
    fixed = struct.Struct(f">36xI{hash_size}sH")  # size, blob, flags
    flags_at = 40 + hash_size
    found: list[Entry] = []
    offset, previous = HEADER.size, b""
    for _ in range(count):
        size, blob, flags = fixed.unpack_from(data, offset)
        name_at = offset + flags_at + 2
        unchecked = flags & FLAG_ASSUME_VALID
        if flags & FLAG_EXTENDED:
            unchecked |= data[name_at] << 8 & FLAG_SKIP_WORKTREE
            name_at += 2
        if version == 4:
            path, end = _entry_path(data, offset, version, hash_size, previous)
            previous = path
        else:
            length = flags & NAME_MASK
            if length == NAME_MASK:  # long names are NUL-terminated instead
                length = data.index(0, name_at) - name_at
            path = data[name_at:name_at + length]
            end = offset + ((name_at - offset + length + 8) & ~7)
        found.append((path.decode(errors="surrogateescape"), blob.hex(),
                      (flags & FLAG_STAGE) >> 12, size, bool(unchecked)))
        offset = end
    return found, offset


def stat_fields(st: os.stat_result) -> tuple[int, ...]:
    """What an entry records for ``st``, in racy_entries' order."""
    data = bytearray(40)
    _write_stat(data, 0, st)
    return STAT_FIELDS.unpack_from(data, 0) + OWNER_SIZE.unpack_from(data, 28)


def _patch(data: bytearray, hashing: tuple[int, type], updates: dict[bytes, tuple[bytes,
           os.stat_result]]) -> set[bytes]:
    hash_size, new_hash = hashing
    signature, version, count = HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        raise Unsupported(f"index version {version}")
    body, checksum = memoryview(data)[:-hash_size], bytes(data[-hash_size:])
    skip_hash = checksum == bytes(hash_size)  # index.skipHash: git wrote no checksum
    if not skip_hash and new_hash(body).digest() != checksum:
        raise Unsupported("index checksum does not verify")
    offset, previous, patched = HEADER.size, b"", set()
    for _ in range(count):
        path, end = _entry_path(data, offset, version, hash_size, previous)
        wanted = updates.get(path)
        if wanted is not None and _is_stage0(data, offset, hash_size) and bytes(
                data[offset + 40:offset + 40 + hash_size]) == wanted[0]:
            _write_stat(data, offset, wanted[1])
            patched.add(path)
        offset, previous = end, path
    _check_extensions(data, offset, len(data) - hash_size)
    if patched and not skip_hash:
        data[-hash_size:] = new_hash(memoryview(data)[:-hash_size]).digest()
    return patched


def _entry_path(data: bytes | bytearray, offset: int, version: int, hash_size: int,
                previous: bytes) -> tuple[bytes, int]:
    """The entry's path and the offset of the next entry."""
    flags_at = offset + 40 + hash_size
    (flags,) = struct.unpack_from(">H", data, flags_at)
    name_at = flags_at + (4 if flags & FLAG_EXTENDED else 2)
    if version == 4:
        strip, name_at = _varint(data, name_at)
        nul = data.index(0, name_at)
        return previous[:len(previous) - strip] + bytes(data[name_at:nul]), nul + 1
    length = flags & NAME_MASK
    if length == NAME_MASK:  # long names are NUL-terminated instead
        length = data.index(0, name_at) - name_at
    size = (name_at - offset + length + 8) & ~7  # padded with 1 to 8 NULs
    return bytes(data[name_at:name_at + length]), offset + size


def _varint(data: bytearray, at: int) -> tuple[int, int]:
    """git's offset varint (as in pack files' OFS_DELTA)."""
    byte = data[at]
    value = byte & 0x7F
    while byte & 0x80:
        at += 1
        byte = data[at]
        value = ((value + 1) << 7) | (byte & 0x7F)
    return value, at + 1


def _is_stage0(data: bytearray, offset: int, hash_size: int) -> bool:
    (flags,) = struct.unpack_from(">H", data, offset + 40 + hash_size)
    return not flags & FLAG_STAGE


def _write_stat(data: bytearray, offset: int, st: os.stat_result) -> None:
    """The fields git's fill_stat_data() records, truncated to 32 bits as git does."""
    mask = 0xFFFFFFFF
    STAT_FIELDS.pack_into(data, offset, int(st.st_ctime) & mask, st.st_ctime_ns % 10**9,
                          int(st.st_mtime) & mask, st.st_mtime_ns % 10**9,
                          st.st_dev & mask, st.st_ino & mask)
    size = st.st_size & mask
    if not size and st.st_size:  # git's munge_st_size(): a multiple of 4 GiB is not empty
        size = 0x80000000
    OWNER_SIZE.pack_into(data, offset + 28, st.st_uid & mask, st.st_gid & mask, size)


def _check_extensions(data: bytes | bytearray, offset: int, end: int) -> None:
    while offset + 8 <= end:
        signature, size = struct.unpack_from(">4sI", data, offset)
        if signature in UNSAFE_EXTENSIONS:
            raise Unsupported(f"index extension {signature.decode(errors='replace')}")
        offset += 8 + size
