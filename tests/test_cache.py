from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    assert list((tmp_path / "c" / "tmp").iterdir()) == []
    assert cache.verify(oid) is None


def test_writer_rejects_wrong_expected_oid_and_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    writer = cache.writer()
    writer.write(b"abc")
    with pytest.raises(FatalError, match="rejected"):
        writer.commit(expected_oid="xxh128:" + "0" * 32)
    assert list(cache.iter_oids()) == []
    assert list((tmp_path / "c" / "tmp").iterdir()) == []


def test_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    with pytest.raises(RuntimeError), cache.writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(cache.iter_oids()) == []
    assert list((tmp_path / "c" / "tmp").iterdir()) == []


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
