from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import Repo, make_repo, random_bytes

from git_data import hashing

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3 (a fresh bucket on the SeaweedFS server)


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


# ----- fsck --remote ----------------------------------------------------------------------
def store_object(bare: Path, content: bytes) -> Path:
    hexdigest = hashing.hash_bytes(content).split(":")[1]
    return bare / "data" / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest


def pushed_team(team: tuple[Repo, Path]) -> tuple[Repo, Path, dict[str, bytes], str]:
    repo, bare = team
    repo.git("config", "data.localLinks", "false")  # store copies apart from the cache's
    files = {f"data/r{i}.bin": random_bytes(30_000 + i, seed=60 + i) for i in range(5)}
    for name, content in files.items():
        repo.write(name, content)
    commit = repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    return repo, bare, files, commit


def rot(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def test_fsck_remote_names_corrupt_and_missing_objects(team: tuple[Repo, Path]) -> None:
    repo, bare, files, commit = pushed_team(team)
    assert repo.data("fsck", "--remote").returncode == 0
    corrupt, truncated, missing = "data/r0.bin", "data/r1.bin", "data/r2.bin"
    rot(store_object(bare, files[corrupt]), b"X" + files[corrupt][1:])  # same size
    rot(store_object(bare, files[truncated]), files[truncated][:100])
    store_object(bare, files[missing]).unlink()
    proc = repo.data("fsck", "--remote", check=False)
    assert proc.returncode == 1
    bad = [line for line in proc.stderr.splitlines()
           if line.startswith(("git-data: corrupt", "git-data: missing"))]
    assert len(bad) == 3
    for name in (corrupt, truncated, missing):
        [line] = [b for b in bad if name in b]
        assert hashing.hash_bytes(files[name]) in line and commit[:12] in line
    assert "5 object(s)" in proc.stderr and "2 ok, 2 corrupt, 1 missing" in proc.stderr
    sizes = repo.data("fsck", "HEAD", "--remote", "origin", "--sizes", check=False)
    assert sizes.returncode == 1  # the same-size corruption needs a re-hash to be seen
    assert "3 ok, 1 corrupt, 1 missing" in sizes.stderr and corrupt not in sizes.stderr


def test_fsck_remote_repair_replaces_bad_copies_from_the_cache(team: tuple[Repo, Path]
                                                               ) -> None:
    repo, bare, files, _ = pushed_team(team)
    good = store_object(bare, files["data/r4.bin"])
    good_inode = good.stat().st_ino
    rot(store_object(bare, files["data/r0.bin"]), b"X" + files["data/r0.bin"][1:])
    store_object(bare, files["data/r1.bin"]).unlink()
    proc = repo.data("fsck", "--remote", "--repair")
    assert "repaired 2" in proc.stderr
    for content in files.values():
        path = store_object(bare, content)
        assert path.read_bytes() == content and path.stat().st_mode & 0o222 == 0
    assert good.stat().st_ino == good_inode  # a good copy is never rewritten
    assert repo.data("fsck", "--remote").returncode == 0
    assert not list((bare / "data").rglob("*git-data-tmp"))


def test_fsck_remote_repair_needs_a_good_local_copy(team: tuple[Repo, Path],
                                                    tmp_path: Path) -> None:
    repo, bare, files, _ = pushed_team(team)
    name = "data/r3.bin"
    rot(store_object(bare, files[name]), b"Y" * 10)
    rot(next(p for p in repo.cache_objects() if p.name == store_object(bare, files[name]).name),
        b"Z" + files[name][1:])
    proc = repo.data("fsck", "--remote", "--repair", check=False)
    assert proc.returncode == 1
    assert "local cache copy is corrupt too" in proc.stderr
    assert store_object(bare, files[name]).read_bytes() == b"Y" * 10  # left as it was


def test_fsck_remote_missing_object_makes_the_next_push_upload_it(team: tuple[Repo, Path]
                                                                  ) -> None:
    """Deleted from a store that kept its id: the record still lists it, so push trusts it
    until fsck --remote finds it missing and drops the record."""
    repo, bare, files, _ = pushed_team(team)
    gone = store_object(bare, files["data/r2.bin"])
    gone.unlink()
    repo.data("push")
    assert not gone.exists()
    assert repo.data("fsck", "--remote", check=False).returncode == 1
    repo.data("push")
    assert gone.read_bytes() == files["data/r2.bin"]


def test_fsck_remote_unknown_name_says_how_to_name_commits(team: tuple[Repo, Path]) -> None:
    repo, _, _, _ = pushed_team(team)
    proc = repo.data("fsck", "--remote", "HEAD~0", check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "git data fsck HEAD~0 --remote" in proc.stderr
    proc = repo.data("fsck", "--sizes", check=False)
    assert proc.returncode != 0 and "--remote" in proc.stderr


def test_fsck_remote_on_s3_finds_and_repairs_a_corrupt_object(tmp_path: Path, s3: S3) -> None:
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    files = {f"data/s{i}.bin": random_bytes(40_000 + i, seed=70 + i) for i in range(4)}
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    name = "data/s2.bin"
    hexdigest = hashing.hash_bytes(files[name]).split(":")[1]
    key = next(k for k in s3.server.keys(s3.bucket) if k.endswith(hexdigest))
    s3.server.filesystem().pipe_file(f"{s3.bucket}/{key}", b"Q" + files[name][1:])
    assert repo.data("fsck", "--remote", "--sizes").returncode == 0  # same size
    proc = repo.data("fsck", "--remote", check=False)
    assert proc.returncode == 1 and name in proc.stderr and "1 corrupt" in proc.stderr
    proc = repo.data("fsck", "--remote", "--repair")
    assert "repaired 1" in proc.stderr
    assert s3.server.read(s3.bucket, key) == files[name]
    assert not [k for k in s3.keys() if k.startswith("tmp/")]
    assert repo.data("fsck", "--remote").returncode == 0
