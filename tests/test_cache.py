from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import random_bytes

from git_data import hashing
from git_data.cache import Cache
from git_data.errors import FatalError


def test_insert_is_read_only_and_in_layout(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    src = tmp_path / "f"
    src.write_bytes(b"hello" * 1000)
    oid = cache.insert_file(src)
    assert oid == hashing.hash_bytes(src.read_bytes())
    path = cache.path(oid)
    hexdigest = oid.split(":")[1]
    assert path == tmp_path / "c" / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest
    assert path.read_bytes() == src.read_bytes()
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert oct(path.stat().st_mode & 0o777) == oct(0o444)
    leftovers = [p for p in (tmp_path / "c").rglob("*") if p.is_file() and p != path]
    assert leftovers == []  # no temporary file anywhere
    assert cache.verify(oid) is None


def test_writer_rejects_wrong_expected_oid_and_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    writer = cache.writer()
    writer.write(b"abc")
    with pytest.raises(FatalError, match="rejected"):
        writer.commit(expected_oid="xxh128:" + "0" * 32)
    assert list(cache.iter_oids()) == []
    leftovers = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert leftovers == []  # no temporary file anywhere


def test_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    with pytest.raises(RuntimeError), cache.writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(cache.iter_oids()) == []
    leftovers = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert leftovers == []  # no temporary file anywhere


def test_verify_detects_altered_bytes_and_quarantine_keeps_them(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    src = tmp_path / "f"
    src.write_bytes(b"good bytes")
    oid = cache.insert_file(src)
    path = cache.path(oid)
    path.chmod(0o644)
    path.write_bytes(b"bad bytes!")
    assert cache.verify(oid) is not None
    moved = cache.quarantine(oid)
    assert moved.read_bytes() == b"bad bytes!"
    assert not cache.has(oid)


def test_small_object_already_cached_is_not_written_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    oid = cache.insert_file(_file(tmp_path / "f", b"small" * 100))
    inode = cache.path(oid).stat().st_ino
    assert cache.insert_file(tmp_path / "f") == oid
    assert cache.path(oid).stat().st_ino == inode  # the same file, not a fresh copy


@pytest.mark.parametrize("size", [10, (1 << 20) - 1, 1 << 20, (3 << 20) + 7])
def test_interleaved_writers_in_one_thread_keep_their_bytes(tmp_path: Path, size: int) -> None:
    """Writers share a per-thread buffer pool; two open at once must not mix their bytes."""
    cache = Cache(tmp_path / "c")
    first, second = random_bytes(size, seed=1), random_bytes(size, seed=2)
    a, b = cache.writer(), cache.writer()
    for start in range(0, size, 70_000):
        a.write(first[start:start + 70_000])
        b.write(second[start:start + 70_000])
    oid_a, oid_b = a.commit(), b.commit()
    assert cache.path(oid_a).read_bytes() == first
    assert cache.path(oid_b).read_bytes() == second
    assert [p for p in (tmp_path / "c").rglob(".obj-*")] == []


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_temporary_files_start_read_only_and_a_removed_folder_is_made_again(
        tmp_path: Path) -> None:
    """Small objects are written read-only from the start (no chmod when adopted); a folder
    the process made before and someone removed since is made again instead of failing."""
    cache = Cache(tmp_path / "cache")
    data = random_bytes(5000, seed=3)
    with cache.writer() as writer:
        writer.write(data)
        oid = writer.commit()
    path = cache.path(oid)
    assert path.read_bytes() == data and path.stat().st_mode & 0o777 == 0o444
    path.unlink()
    path.parent.rmdir()  # an emptied cache folder, removed by hand
    with cache.writer() as writer:
        writer.write(data)
        assert writer.commit() == oid
    assert path.read_bytes() == data
    assert not list(path.parent.glob(".obj-*"))  # no temporary file left behind
