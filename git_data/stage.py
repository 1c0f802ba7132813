"""Staging many files at once (`git data add PATH...`) without a clean filter per file.

    git ls-files -o -m --exclude-standard -- PATHS    the files to stage (what `git add` would)
    git check-attr --stdin -z filter                  one call: which are data
    data files  --thread pool-->  read once, hashed while written (cache ObjectWriter),
                                  stat before and after: a file that changed is read again
    pointer blobs  -->  one pack (built here, indexed by `git index-pack --stdin`)
    git update-index -z --index-info                  one call: mode, blob, path
    indexfile.set_stat                                the stat recorded after hashing, so
                                                      `git status` need not clean them again
    git add -- the rest                               plain files, symlinks, deletions

The result is what `git add` through the filter records: the same pointer blobs, the same
modes. A file that keeps changing while it is read is refused in one line; one changed after
it was hashed keeps the stat seen while hashing, so git notices the change and re-reads it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import indexfile, pointer
from .cache import Cache
from .errors import FatalError
from .gitrepo import Repo

READS = 3  # a file read this often and changing each time is refused
CHUNK = 1 << 20
BATCH = 256
EMPTY: bytes = b""


def stage(repo: Repo, cache: Cache, algo: str, pathspecs: list[str],
          threads: int | None = None) -> tuple[int, int]:
    """Stage ``pathspecs`` (literal paths relative to the work tree, ``.`` for all of it);
    returns (data files, other paths) staged."""
    root = repo.root
    files = _changed_files(repo, pathspecs)
    data, plain = _split_by_filter(repo, root, files)
    results = _store_all(root, cache, algo, data, threads)
    executable = _file_mode_matters(repo)
    blobs = write_blobs(repo, {content for content, _ in results})
    entries = [(path, blobs[content],
                0o100755 if executable and st.st_mode & stat.S_IXUSR else 0o100644, st)
               for path, (content, st) in zip(data, results)]
    _write_index(repo, entries)
    if plain:
        repo.git("--literal-pathspecs", "add", "-A", "--pathspec-from-file=-",
                 "--pathspec-file-nul", input=_nul_joined(plain))
    return len(entries), len(plain)


def _nul_joined(paths: Iterable[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def _changed_files(repo: Repo, pathspecs: list[str]) -> list[str]:
    """Untracked (not ignored), modified and deleted files under ``pathspecs``."""
    out = repo.git("--literal-pathspecs", "ls-files", "-z", "-o", "-m", "--exclude-standard",
                   "--", *pathspecs)
    return list(dict.fromkeys(os.fsdecode(p) for p in out.split(b"\0") if p))


def _split_by_filter(repo: Repo, root: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """(regular files git-data's filter cleans, everything else) in one check-attr call."""
    if not files:
        return [], []
    out = repo.git("check-attr", "--stdin", "-z", "filter", input=_nul_joined(files))
    fields = out.split(b"\0")
    data, plain = [], []
    for i in range(0, len(fields) - 2, 3):
        path = os.fsdecode(fields[i])
        try:
            regular = stat.S_ISREG(os.lstat(root / path).st_mode)
        except OSError:  # deleted: `git add` records the removal
            regular = False
        (data if regular and fields[i + 2] == b"data" else plain).append(path)
    return data, plain


def _file_mode_matters(repo: Repo) -> bool:
    value = repo.git("config", "--type=bool", "--get", "core.filemode", check=False)
    return value.strip() != b"false"


def _store_all(root: Path, cache: Cache, algo: str, paths: list[str],
               threads: int | None) -> list[tuple[bytes, os.stat_result]]:
    """Each file's blob content (its pointer, or the file itself where the filter keeps it as
    it is) and its stat while it was read. Threads: hashing and writing release the GIL."""
    if not paths:
        return []
    # threads: the work is system calls (creating cache files and folders), which release
    # the GIL. On 2 cores, 20,000 x 4 KiB: 1 thread 14.3 s, 2 threads 11.7 s, 4 threads
    # 13.7 s, 2 processes 10.6 s (within the noise of a shared machine; no pickling needed)
    workers = threads or max(2, min(8, os.cpu_count() or 1))
    # batches, not one task per file: a future per 4 KiB file cost more than its hashing
    step = max(1, min(BATCH, len(paths) // workers))
    batches = [paths[i:i + step] for i in range(0, len(paths), step)]
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(lambda batch: [store_file(root, p, cache, algo) for p in batch],
                        batches)
        return [result for batch in done for result in batch]


def store_file(root: Path, rel: str, cache: Cache, algo: str) -> tuple[bytes, os.stat_result]:
    """Read ``rel`` into the cache; retried while it changes under the read."""
    full = os.path.join(root, rel)
    for _ in range(READS):
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise FatalError(f"{rel} cannot be read ({exc.strerror}); check it and add "
                             "again") from None
        try:
            before = os.fstat(fd)
            content = read_in(fd, cache, algo)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if _same(before, after) and _same(after, os.lstat(full)):
            return content, after
    raise FatalError(f"{rel} kept changing while it was read; add it again once it is "
                     "written completely")


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)


def read_in(fd: int, cache: Cache, algo: str) -> bytes:
    """What the clean filter answers for these bytes: an empty file and a file that already
    is a pointer (of any version) stay as they are; other content goes into the cache."""
    head = os.read(fd, CHUNK)
    if not head:
        return EMPTY
    if len(head) <= pointer.MAX_POINTER_SIZE and pointer.looks_like_pointer(head):
        rest = os.read(fd, CHUNK)
        if not rest and _kept_as_is(head):
            return head
        head += rest
    writer = cache.writer(algo)
    try:
        chunk = head
        while chunk:
            writer.write(chunk)
            chunk = os.read(fd, CHUNK)
        oid = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return pointer.Pointer(oid, writer.size).render()


def _kept_as_is(content: bytes) -> bool:
    """A pointer already, or one of a version this one cannot read: as the filter does."""
    try:
        return pointer.parse(content) is not None or pointer.parse_lfs(content) is not None
    except pointer.PointerError:
        return True


def write_blobs(repo: Repo, contents: set[bytes]) -> dict[bytes, str]:
    """Each content's blob id, all written as one pack that `git index-pack` indexes: one
    file in .git/objects instead of a loose object (a file creation and a rename) per
    pointer, which is most of what the filter's per-file path costs the file system."""
    algo = "sha256" if repo.object_format == "sha256" else "sha1"
    ordered = sorted(contents)
    ids = {c: hashlib.new(algo, b"blob %d\0" % len(c) + c).hexdigest() for c in ordered}
    if ordered:
        repo.git("index-pack", "--stdin", input=_pack(ordered, algo))
    return ids


def _pack(contents: list[bytes], algo: str) -> bytes:
    """A version 2 pack of ``contents`` as blobs, undeltified (git's gitformat-pack):
    header, per object its type-and-size varint and zlib data, then the checksum."""
    parts = [b"PACK", struct.pack(">II", 2, len(contents))]
    for content in contents:
        size = len(content)
        head = bytearray([(3 << 4) | (size & 0x0F)])  # 3: blob
        size >>= 4
        while size:
            head[-1] |= 0x80
            head.append(size & 0x7F)
            size >>= 7
        parts += [bytes(head), zlib.compress(content, 1)]
    body = b"".join(parts)
    return body + hashlib.new(algo, body).digest()


def _write_index(repo: Repo, entries: list[tuple[str, str, int, os.stat_result]]) -> None:
    """One update-index call for the entries, then their stat data written in place; where
    the index cannot be patched, git's refresh (which cleans each file once more)."""
    if not entries:
        return
    info = b"".join(f"{mode:o} {blob}\t".encode() + os.fsencode(path) + b"\0"
                    for path, blob, mode, _ in entries)
    repo.git("update-index", "-z", "--index-info", input=info)
    updates = {os.fsencode(path): (bytes.fromhex(blob), st) for path, blob, _, st in entries}
    patched = indexfile.set_stat(repo.index_path, repo.object_format, updates)
    if len(patched) < len(updates):
        repo.git("update-index", "-q", "--refresh", check=False)
