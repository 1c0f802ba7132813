"""Packs (git_data/packs.py) on a real folder store and a real cache: the index format,
its checks, coalesced ranged reads and per-object verification."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from git_data import hashing, packs
from git_data.cache import Cache
from git_data.store import LocalStore


def _objects(count: int, size: int = 4096) -> dict[str, bytes]:
    out = {}
    for i in range(count):
        data = (b"%06d" % i) * (size // 6)
        out[hashing.hash_bytes(data)] = data
    return out


def _write_pack(tmp_path: Path, store: LocalStore, objects: dict[str, bytes]) -> str:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    writer = packs.PackWriter(tmp_path / "work", "xxh128")
    for oid, data in objects.items():
        path = src / oid.replace(":", "_")
        path.write_bytes(data)
        writer.add(oid, path)
    name, index = writer.finish()
    packs.publish(store, writer.path, name, index)
    writer.discard()
    return name


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    (tmp_path / "store").mkdir()
    return LocalStore(str(tmp_path / "store"))


def test_pack_round_trip_and_index_cached(tmp_path: Path, store: LocalStore) -> None:
    objects = _objects(200)
    name = _write_pack(tmp_path, store, objects)
    assert sorted(store.list("packs")) == [f"{name}.idx", f"{name}.pack"]
    data = store.read_bytes(packs.index_key(name))
    assert data is not None and data[:4] == b"GDPI"
    assert struct.unpack(">I", data[8:12])[0] == 200
    found = packs.PackSet(store, tmp_path / "idx").load()
    assert found.has_many(list(objects) + ["xxh128:" + "0" * 32]) == set(objects)
    assert (tmp_path / "idx" / f"{name}.idx").read_bytes() == data
    cache = Cache(tmp_path / "cache")
    results = dict(packs.read_pack_objects(store, name, found.group(objects)[name], cache))
    assert results == dict.fromkeys(objects)
    for oid, content in objects.items():
        assert cache.path(oid).read_bytes() == content


def test_flipped_pack_byte_refuses_that_object_only(tmp_path: Path, store: LocalStore
                                                    ) -> None:
    objects = _objects(10)
    name = _write_pack(tmp_path, store, objects)
    index = packs.PackSet(store, tmp_path / "idx").load()
    victim = next(iter(objects))
    entry = index.where[victim][1]
    pack = Path(store.path(packs.pack_key(name)))
    raw = bytearray(pack.read_bytes())
    raw[entry.offset + 5] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    cache = Cache(tmp_path / "cache")
    results = dict(packs.read_pack_objects(store, name, index.group(objects)[name], cache))
    assert results[victim] is not None and "corrupt" in results[victim]
    assert name in results[victim]
    assert not cache.has(victim)
    assert all(results[o] is None and cache.has(o) for o in objects if o != victim)


def test_index_entry_out_of_range_is_refused(tmp_path: Path, store: LocalStore) -> None:
    objects = _objects(3)
    writer = packs.PackWriter(tmp_path / "work", "xxh128")
    for oid, data in objects.items():
        (tmp_path / "f").write_bytes(data)
        writer.add(oid, tmp_path / "f")
    # a hand-built index whose last entry reaches past the pack's end
    entries = list(writer.entries)
    entries[-1] = packs.Entry(entries[-1].oid, entries[-1].offset, entries[-1].length + 1)
    writer.finish()
    index = packs.build_index(entries, "xxh128")
    name = packs.hashlib.sha256(index).hexdigest()
    packs.publish(store, writer.path, name, index)
    warnings: list[str] = []
    found = packs.PackSet(store, tmp_path / "idx", warn=warnings.append).load()
    assert found.has_many(objects) == set()
    assert len(warnings) == 1 and "outside the pack" in warnings[0] and name in warnings[0]
    assert not (tmp_path / "idx" / f"{name}.idx").exists()


def test_pack_without_index_is_not_trusted(tmp_path: Path, store: LocalStore) -> None:
    objects = _objects(5)
    writer = packs.PackWriter(tmp_path / "work", "xxh128")
    for oid, data in objects.items():
        (tmp_path / "f").write_bytes(data)
        writer.add(oid, tmp_path / "f")
    name, _ = writer.finish()
    store.put_file(str(writer.path), packs.pack_key(name))  # killed before the index
    assert packs.PackSet(store, tmp_path / "idx").load().has_many(objects) == set()


def test_tampered_index_is_refused(tmp_path: Path, store: LocalStore) -> None:
    name = _write_pack(tmp_path, store, _objects(4))
    key = Path(store.path(packs.index_key(name)))
    raw = bytearray(key.read_bytes())
    raw[20] ^= 1
    key.chmod(0o644)
    key.write_bytes(bytes(raw))
    warnings: list[str] = []
    assert packs.PackSet(store, tmp_path / "idx", warn=warnings.append).load().where == {}
    assert "does not match its name" in warnings[0]


def test_plan_ranges_coalesces_and_reads_whole_pack() -> None:
    entries = [packs.Entry(f"o{i}", i * 10, 10) for i in range(10)]
    far = packs.Entry("far", 10 << 20, 10)
    ranges = packs.plan_ranges(entries[:2] + [far], pack_size=(10 << 20) + 10)
    assert [(a, b) for a, b, _ in ranges] == [(0, 20), (10 << 20, (10 << 20) + 10)]
    assert packs.plan_ranges(entries, pack_size=100)[0][:2] == (0, 100)
