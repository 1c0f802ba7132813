"""The one atomic, no-follow write primitive (git_data/safeio.py)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from git_data import safeio


def test_write_replaces_atomically_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file"
    safeio.write_bytes(target, b"one", mode=0o640, root=tmp_path)
    safeio.write_bytes(target, b"two", mode=0o600, root=tmp_path)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file"]


def test_symlinked_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o600)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "f").symlink_to(victim)
    safeio.write_bytes(tmp_path / "work" / "f", b"payload", mode=0o755)
    assert victim.read_bytes() == b"precious"
    assert victim.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "work" / "f").is_symlink()


def test_symlinked_folder_under_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "data").symlink_to(outside)
    with pytest.raises(safeio.UnsafePath, match="symlink"):
        safeio.write_bytes(root / "data" / "x", b"payload", root=root)
    assert list(outside.iterdir()) == []


def test_planted_temporary_name_cannot_be_used(tmp_path: Path) -> None:
    fd = safeio.open_dir(tmp_path)
    try:
        (tmp_path / "planted").symlink_to(tmp_path / "victim")
        with pytest.raises(FileExistsError):
            safeio.create_new(fd, "planted")
        assert not (tmp_path / "victim").exists()
    finally:
        os.close(fd)


def test_failure_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with safeio.atomic_path(tmp_path / "f") as out:
            out.write(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "", "a/\0"])
def test_relative_parts_refuses_escapes(bad: str) -> None:
    with pytest.raises(safeio.UnsafePath):
        safeio.relative_parts(bad)


def test_sweep_removes_only_old_temporaries(tmp_path: Path) -> None:
    old = tmp_path / f".x.abc{safeio.TMP_SUFFIX}"
    new = tmp_path / f".y.abc{safeio.TMP_SUFFIX}"
    keep = tmp_path / "data.csv"
    for p in (old, new, keep):
        p.write_bytes(b"1")
    os.utime(old, (1, 1))
    os.utime(keep, (1, 1))
    with open(new, "rb") as held:  # a writer at work holds its lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        os.utime(new, (time.time() - 30, time.time() - 30))
        assert safeio.sweep(tmp_path, max_age_s=60) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.name, keep.name])


def test_exchange_swaps_with_existing_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"pointer")
    with safeio.atomic_path(tmp_path / "f") as out:
        out.write(b"data")
    assert (tmp_path / "f").read_bytes() == b"data"
    fd = safeio.open_dir(tmp_path)
    try:
        with safeio.AtomicFile(fd, "f") as out:
            out.write(b"again")
            out.commit(exchange=True)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"again"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_temporary_file_in_another_folder(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "objects").mkdir()
    tmp_fd = safeio.open_dir(tmp_path, "tmp")
    dir_fd = safeio.open_dir(tmp_path, "objects")
    try:
        with safeio.AtomicFile(dir_fd, "obj", 0o444, tmp_dir_fd=tmp_fd) as out:
            out.write(b"bytes")
            assert os.listdir(tmp_path / "tmp") == [out.tmp]
            assert os.listdir(tmp_path / "objects") == []
            out.commit()
        with pytest.raises(RuntimeError), \
                safeio.AtomicFile(dir_fd, "other", tmp_dir_fd=tmp_fd) as out:
            raise RuntimeError("killed")
    finally:
        os.close(tmp_fd)
        os.close(dir_fd)
    assert (tmp_path / "objects" / "obj").read_bytes() == b"bytes"
    assert (tmp_path / "objects" / "obj").stat().st_mode & 0o777 == 0o444
    assert os.listdir(tmp_path / "tmp") == []


def test_copy_fd_copies_everything(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(os.urandom(3 << 20) + b"tail")
    with open(source, "rb") as src, open(tmp_path / "copy", "wb") as dst:
        safeio.copy_fd(src.fileno(), dst.fileno())
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_sweep_through_a_descriptor(tmp_path: Path) -> None:
    old = tmp_path / f".a.0123{safeio.TMP_SUFFIX}"
    old.write_bytes(b"x")
    os.utime(old, (0, 0))
    (tmp_path / f".b{safeio.TMP_SUFFIX}").symlink_to(old)  # a link is never touched
    fd = safeio.open_dir(tmp_path)
    try:
        assert safeio.sweep(fd, 3600) == 1
    finally:
        os.close(fd)
    assert not old.exists() and (tmp_path / f".b{safeio.TMP_SUFFIX}").is_symlink()


def test_sweep_removes_what_a_killed_writer_left_at_once(tmp_path: Path) -> None:
    """A writer killed mid-file leaves its temporary file unlocked: the next sweep removes it
    without waiting for it to age, while a live writer's file (locked) is kept."""
    code = ("import os, sys\nfrom git_data import safeio\n"
            "out = safeio.AtomicFile(safeio.open_dir(sys.argv[1]), 'big.bin')\n"
            "out.write(b'x' * 1000)\nos._exit(9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
    left = [p for p in tmp_path.iterdir() if p.name.endswith(safeio.TMP_SUFFIX)]
    assert len(left) == 1
    fd = safeio.open_dir(tmp_path)
    try:
        with safeio.AtomicFile(fd, "live.bin") as live:
            for p in tmp_path.iterdir():
                os.utime(p, (time.time() - 30, time.time() - 30))
            assert safeio.sweep(tmp_path) == 1
            assert not left[0].exists()
            assert (tmp_path / live.tmp).exists()
            live.commit()
    finally:
        os.close(fd)
    assert [p.name for p in tmp_path.iterdir()] == ["live.bin"]


def test_killed_writer_file_is_swept_with_no_grace(tmp_path: Path) -> None:
    """A file a writer killed a moment ago (its mtime: now) goes at the next sweep: a second
    run started right after a kill finds no temporary file left in the work tree."""
    code = ("import os, sys\nfrom git_data import safeio\n"
            "out = safeio.AtomicFile(safeio.open_dir(sys.argv[1]), 'big.bin')\n"
            "out.write(b'x' * 1000)\nos._exit(9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
    left = [p for p in tmp_path.iterdir() if p.name.endswith(safeio.TMP_SUFFIX)]
    assert len(left) == 1 and left[0].stat().st_mtime > time.time() - 5
    assert safeio.sweep(tmp_path) == 1
    assert list(tmp_path.iterdir()) == []


def test_writer_racing_a_sweep_makes_another_name(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep that lands between a writer's create and its lock takes the (unlocked) file;
    the writer sees its name gone and writes under a new one: the data still lands."""
    create = safeio.create_new
    raced: list[str] = []

    def create_then_sweep(dir_fd: int, name: str, mode: int = 0o600) -> int:
        fd = create(dir_fd, name, mode)
        if not raced:
            raced.append(name)
            assert safeio.sweep(dir_fd) == 1  # the sweep wins the lock and removes it
        return fd

    monkeypatch.setattr(safeio, "create_new", create_then_sweep)
    fd = safeio.open_dir(tmp_path)
    try:
        with safeio.AtomicFile(fd, "data.bin") as out:
            assert out.tmp != raced[0]
            out.write(b"payload")
            out.commit()
    finally:
        os.close(fd)
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]
    assert (tmp_path / "data.bin").read_bytes() == b"payload"
