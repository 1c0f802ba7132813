from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Repo, random_bytes

from git_data import hashing


def test_fsck_clean_then_corrupt_then_repair_from_store(team: tuple[Repo, Path]) -> None:
    repo, _ = team
    # a store copy that is its own file, not a hard link of the object about to rot
    repo.git("config", "data.localLinks", "false")
    content = random_bytes(100_000, seed=1)
    repo.write("data/a.bin", content)
    repo.commit_all()
    assert repo.data("fsck").returncode == 0
    repo.git("push", "-q", "origin", "main")
    obj = repo.cache_objects()[0]
    obj.chmod(0o644)
    obj.write_bytes(b"rotten" + content[6:])
    proc = repo.data("fsck", check=False)
    assert proc.returncode == 1
    assert "corrupt" in proc.stderr and "data/a.bin" in proc.stderr
    proc = repo.data("fsck", "--repair")
    quarantined = list((repo.cache / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes().startswith(b"rotten")
    assert obj.read_bytes() == content
    assert repo.data("fsck").returncode == 0


def test_fsck_repair_without_store_keeps_problem(repo: Repo) -> None:
    repo.write("data/a.bin", b"abc" * 1000)
    repo.commit_all()
    obj = repo.cache_objects()[0]
    obj.chmod(0o644)
    obj.write_bytes(b"xyz" * 1000)
    assert repo.data("fsck", "--repair", check=False).returncode == 1
    assert not obj.exists() and len(list((repo.cache / "quarantine").iterdir())) == 1


def test_gc_removes_only_unreferenced_pushed_objects(team: tuple[Repo, Path]) -> None:
    repo, _ = team
    old = random_bytes(50_000, seed=2)
    repo.write("data/a.bin", old)
    repo.commit_all("old")
    repo.git("push", "-q", "origin", "main")
    repo.write("data/a.bin", random_bytes(50_000, seed=3))
    repo.commit_all("new")
    repo.write("data/local-only.bin", random_bytes(50_000, seed=4))
    repo.commit_all("local")
    repo.git("reset", "-q", "--hard", "HEAD~1")  # local-only.bin now unreferenced, unpushed
    repo.git("reflog", "expire", "--expire=now", "--all")
    old_oid = hashing.hash_bytes(old)
    dry = repo.data("gc", "--dry-run", "--keep-days", "0").stderr
    assert "would free" in dry and len(repo.cache_objects()) == 3
    repo.data("gc", "--keep-days", "0")
    remaining = {f"xxh128:{p.name}" for p in repo.cache_objects()}
    assert old_oid not in remaining  # pushed, no longer referenced
    assert hashing.hash_bytes(random_bytes(50_000, seed=3)) in remaining  # HEAD
    assert hashing.hash_bytes(random_bytes(50_000, seed=4)) in remaining  # no store has it


def test_gc_removes_stale_tmp_files(repo: Repo) -> None:
    tmp = repo.cache / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale = tmp / "obj-999-dead"
    stale.write_bytes(b"partial")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    fresh = tmp / "obj-1-alive"
    fresh.write_bytes(b"writing")
    repo.data("gc")
    assert not stale.exists() and fresh.exists()
