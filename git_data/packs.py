"""Packs: many small objects in one store file, found through a sorted index.

How data flows (docs/formats.md has the exact bytes):

- push: :class:`PackWriter` appends small objects to a local temporary pack file and
  records (oid, offset, length); :func:`publish` uploads ``packs/<name>.pack`` first and
  ``packs/<name>.idx`` second. ``<name>`` is the sha256 of the index, so a pack is never
  rewritten in place and a push killed between the two uploads leaves a pack that no
  reader trusts (it has no index).
- existence and fetch: :class:`PackSet` lists ``packs/`` once, fetches each ``.idx`` it has
  not seen, verifies it (checksum, name, sorted entries, every entry inside the pack's
  size) and caches it under ``$GIT_DIR/data/packs/`` (immutable: never fetched again).
- read: :func:`plan_ranges` coalesces the wanted entries of one pack into few ranged
  reads; :func:`read_pack_objects` splits them and hands each object to the cache only
  after its bytes hash to its oid.

Everything in a store is untrusted: offsets, lengths and counts are checked against the
bytes actually present before they are used.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from git_data import safeio
from git_data.errors import FatalError
from git_data.pointer import split_oid

if TYPE_CHECKING:
    from git_data.cache import Cache
    from git_data.store import Store

MAGIC = b"GDPI"
VERSION = 1
HEADER = struct.Struct(">4sIII")  # magic, version, count, algorithm
ENTRY = struct.Struct(">32sQQ")  # oid, offset, length
CHECKSUM_SIZE = 32
ALGORITHM_IDS = {"xxh128": 1, "sha256": 2}
DIGEST_BYTES = {"xxh128": 16, "sha256": 32}
PREFIX = "packs"
MAX_INDEX_BYTES = 1 << 30  # 22 million entries: far past any pack this code writes
GAP = 1 << 20  # wanted ranges closer than this are read as one
WHOLE_FRACTION = 0.5  # when more than this share of a pack is wanted, read all of it
_NAME_RE = re.compile(r"[0-9a-f]{64}")


class PackError(FatalError):
    """A pack or index in a store that cannot be trusted."""


@dataclass(frozen=True)
class Entry:
    oid: str
    offset: int
    length: int


@dataclass
class PackIndex:
    name: str
    algo: str
    entries: dict[str, Entry]


def pack_key(name: str) -> str:
    return f"{PREFIX}/{name}.pack"


def index_key(name: str) -> str:
    return f"{PREFIX}/{name}.idx"


def encode_oid(oid: str) -> bytes:
    algo, digest = split_oid(oid)
    return bytes.fromhex(digest).ljust(32, b"\0")


def build_index(entries: Iterable[Entry], algo: str) -> bytes:
    """The index bytes for ``entries`` (all of algorithm ``algo``), sorted by oid."""
    ordered = sorted(entries, key=lambda e: encode_oid(e.oid))
    body = bytearray(HEADER.pack(MAGIC, VERSION, len(ordered), ALGORITHM_IDS[algo]))
    for entry in ordered:
        body += ENTRY.pack(encode_oid(entry.oid), entry.offset, entry.length)
    return bytes(body) + hashlib.sha256(body).digest()


def parse_index(data: bytes, name: str, pack_size: int | None, where: str) -> PackIndex:
    """Verify and decode an index; ``pack_size`` (when known) bounds every entry.

    ``where`` names the store in the error, which says what to do."""
    def bad(why: str) -> PackError:
        return PackError(f"{where}: pack index {index_key(name)} {why}; it is ignored "
                         "(remove it, or push again to write a new pack)")

    if len(data) < HEADER.size + CHECKSUM_SIZE:
        raise bad("is truncated")
    if hashlib.sha256(data).hexdigest() != name:
        raise bad("does not match its name (sha256 of the index)")
    body, checksum = data[:-CHECKSUM_SIZE], data[-CHECKSUM_SIZE:]
    if hashlib.sha256(body).digest() != checksum:
        raise bad("fails its checksum")
    magic, version, count, algo_id = HEADER.unpack_from(body)
    algos = {v: k for k, v in ALGORITHM_IDS.items()}
    if magic != MAGIC or version != VERSION or algo_id not in algos:
        raise bad("has an unknown magic, version or algorithm")
    if len(body) != HEADER.size + count * ENTRY.size:
        raise bad("has a count that does not match its size")
    algo = algos[algo_id]
    pad = 32 - DIGEST_BYTES[algo]
    entries: dict[str, Entry] = {}
    previous = b""
    for raw, offset, length in ENTRY.iter_unpack(body[HEADER.size:]):
        if raw <= previous or (pad and raw[-pad:] != b"\0" * pad):
            raise bad("has unsorted, duplicate or malformed oids")
        previous = raw
        if pack_size is not None and (offset > pack_size or length > pack_size - offset):
            raise bad(f"has an entry outside the pack ({offset}+{length} > {pack_size})")
        oid = f"{algo}:{raw[:DIGEST_BYTES[algo]].hex()}"
        entries[oid] = Entry(oid, offset, length)
    return PackIndex(name, algo, entries)


class PackWriter:
    """Appends objects to a local temporary pack file (in ``folder``) and builds its index."""

    def __init__(self, folder: str | os.PathLike[str], algo: str) -> None:
        self.folder = Path(folder)
        self.algo = algo
        self.entries: list[Entry] = []
        self.size = 0
        dir_fd = _ensure_dir(self.folder)
        try:
            self._fd, tmp = safeio.create_tmp(dir_fd, "pack")
        finally:
            os.close(dir_fd)
        self.path = self.folder / tmp

    def add(self, oid: str, source: str | os.PathLike[str]) -> None:
        with open(source, "rb") as handle:
            before = self.size
            while chunk := handle.read(1 << 20):
                safeio.write_all(self._fd, chunk)
                self.size += len(chunk)
        self.entries.append(Entry(oid, before, self.size - before))

    def finish(self) -> tuple[str, bytes]:
        """(name, index bytes); the pack file stays at ``self.path`` until :meth:`discard`."""
        os.close(self._fd)
        self._fd = -1
        index = build_index(self.entries, self.algo)
        return hashlib.sha256(index).hexdigest(), index

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


def _ensure_dir(folder: Path) -> int:
    """A descriptor of ``folder``, created (no links followed) below its existing parent."""
    return safeio.open_dir(folder.parent, folder.name, create=True)


def publish(store: Store, pack_path: str | os.PathLike[str], name: str, index: bytes) -> None:
    """Upload the pack, then its index: a reader trusts a pack only once its index exists."""
    store.put_file(str(pack_path), pack_key(name), overwrite=True)
    store.write_bytes(index_key(name), index)


class PackSet:
    """The verified indexes of a store's packs, cached under ``cache_dir`` by name."""

    def __init__(self, store: Store, cache_dir: str | os.PathLike[str],
                 warn: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.warn = warn
        self.indexes: list[PackIndex] = []
        self.where: dict[str, tuple[str, Entry]] = {}  # oid -> (pack name, entry)
        self._loaded = False

    def load(self) -> PackSet:
        if self._loaded:
            return self
        self._loaded = True
        names = sorted({n[:-4] for n in self.store.list(PREFIX)
                        if n.endswith(".idx") and _NAME_RE.fullmatch(n[:-4])})
        for name in names:
            try:
                index = self._index(name)
            except PackError as exc:
                if self.warn:
                    self.warn(str(exc))
                continue
            self.indexes.append(index)
            for oid, entry in index.entries.items():
                self.where.setdefault(oid, (name, entry))
        return self

    def _index(self, name: str) -> PackIndex:
        cached = self.cache_dir / f"{name}.idx"
        data = safeio.read_head(cached, MAX_INDEX_BYTES)
        if data is not None:
            try:
                return parse_index(data, name, None, str(cached))  # bounds checked before
            except PackError:
                cached.unlink(missing_ok=True)
        where = self.store.describe()
        data = self.store.read_bytes(index_key(name))
        if data is None or len(data) > MAX_INDEX_BYTES:
            raise PackError(f"{where}: pack index {index_key(name)} is missing or too large; "
                            "it is ignored")
        try:
            pack_size = self.store.size(pack_key(name))
        except FileNotFoundError:
            raise PackError(f"{where}: pack {pack_key(name)} is missing; its index is "
                            "ignored") from None
        index = parse_index(data, name, pack_size, where)
        os.close(_ensure_dir(self.cache_dir))
        safeio.write_bytes(cached, data)
        return index

    def has_many(self, oids: Iterable[str]) -> set[str]:
        self.load()
        return {oid for oid in oids if oid in self.where}

    def group(self, oids: Iterable[str]) -> dict[str, list[Entry]]:
        """Pack name -> the wanted entries it holds (each oid from one pack only)."""
        self.load()
        groups: dict[str, list[Entry]] = {}
        for oid in oids:
            found = self.where.get(oid)
            if found is not None:
                groups.setdefault(found[0], []).append(found[1])
        return groups


def plan_ranges(entries: list[Entry], pack_size: int | None = None, gap: int = GAP
                ) -> list[tuple[int, int, list[Entry]]]:
    """Coalesce entries into (start, end, entries) reads: neighbours closer than ``gap``
    share one read; the whole pack in one read when most of it is wanted."""
    ordered = sorted(entries, key=lambda e: e.offset)
    if not ordered:
        return []
    wanted = sum(e.length for e in ordered)
    if pack_size and wanted > pack_size * WHOLE_FRACTION:
        return [(0, pack_size, ordered)]
    ranges: list[tuple[int, int, list[Entry]]] = []
    start, end, group = ordered[0].offset, ordered[0].offset + ordered[0].length, [ordered[0]]
    for entry in ordered[1:]:
        if entry.offset - end < gap:
            end = max(end, entry.offset + entry.length)
            group.append(entry)
            continue
        ranges.append((start, end, group))
        start, end, group = entry.offset, entry.offset + entry.length, [entry]
    ranges.append((start, end, group))
    return ranges


def read_pack_objects(store: Store, name: str, entries: list[Entry], cache: Cache,
                      pack_size: int | None = None) -> Iterator[tuple[str, str | None]]:
    """Read ``entries`` of pack ``name`` into ``cache``: (oid, None) for each object adopted,
    (oid, error line) for each refused (its bytes do not hash to its oid)."""
    for start, end, group in plan_ranges(entries, pack_size):
        data = store.read_range(pack_key(name), start, end) if end > start else b""
        for entry in group:
            lo = entry.offset - start
            piece = memoryview(data)[lo:lo + entry.length]
            if len(piece) != entry.length:
                yield entry.oid, (f"{store.describe()}: pack {pack_key(name)} is shorter than "
                                  f"its index says; {entry.oid} refused")
                continue
            yield entry.oid, _adopt(cache, entry.oid, piece, store, name)


def _adopt(cache: Cache, oid: str, piece: memoryview, store: Store, name: str) -> str | None:
    algo, _ = split_oid(oid)
    writer = cache.writer(algo)
    writer.write(piece)
    try:
        writer.commit(expected_oid=oid)
    except FatalError:
        return (f"{store.describe()}: object {oid} in pack {pack_key(name)} is corrupt "
                "(its bytes do not match its id); refused, not cached")
    return None
