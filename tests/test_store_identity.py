"""The local record of what a store holds is tied to the store's id (gitdata-store.json):
a store that was emptied, re-created or swapped behind the same URL is asked for real, so a
push uploads again what it lacks and gc never frees the only copy. With a local folder store
and with a re-created bucket on the SeaweedFS S3 fixture."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import Repo, make_repo, populate, random_bytes, store_objects

from git_data import hashing

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]

FILES = {f"data/f{i}.bin": random_bytes(30_000 + i, seed=40 + i) for i in range(4)}


def record_files(repo: Repo) -> list[Path]:
    return sorted((repo.cache / "stores").glob("*.oids"))


def test_first_push_writes_the_store_id_once_and_binds_the_record(
        team: tuple[Repo, Path]) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    id_file = bare / "data" / "gitdata-store.json"
    written = json.loads(id_file.read_text())
    assert written["format"] == "git-data-store/1" and len(written["id"]) == 32
    assert written["created"].endswith("Z")
    [record] = record_files(repo)
    lines = record.read_text().splitlines()
    assert lines[0] == f"store-id {written['id']}"
    assert set(lines[1:]) == {hashing.hash_bytes(c) for c in FILES.values()}
    before = (id_file.read_bytes(), id_file.stat().st_mtime_ns)
    populate(repo, {"data/more.bin": b"more" * 3000}, "more")
    repo.git("push", "-q", "origin", "main")
    assert (id_file.read_bytes(), id_file.stat().st_mtime_ns) == before  # never rewritten
    assert record.read_text().splitlines()[0] == lines[0]


def test_push_to_an_emptied_store_uploads_everything_again(team: tuple[Repo, Path]) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    shutil.rmtree(bare / "data")  # the store is re-created empty behind the same URL
    proc = repo.data("push")
    stored = store_objects(bare / "data")
    assert {f"xxh128:{n}" for n in stored} == {hashing.hash_bytes(c) for c in FILES.values()}
    assert "uploaded 4 object(s)" in proc.stderr
    assert (bare / "data" / "gitdata-store.json").exists()


def test_record_of_another_store_id_is_not_trusted(team: tuple[Repo, Path]) -> None:
    """The same URL now serves another store (another id), which lacks one object."""
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    gone = hashing.hash_bytes(FILES["data/f2.bin"]).split(":")[1]
    store_objects(bare / "data")[gone].unlink()
    (bare / "data" / "gitdata-store.json").write_text(json.dumps({"id": "ab" * 16}))
    repo.data("push")
    assert gone in store_objects(bare / "data")
    assert record_files(repo)[0].read_text().startswith(f"store-id {'ab' * 16}\n")


def test_record_without_store_id_is_checked_against_the_store(team: tuple[Repo, Path]) -> None:
    """A record from before store ids (or written by downloads only) binds nothing."""
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    [record] = record_files(repo)
    oids = [line for line in record.read_text().splitlines() if line.startswith("xxh128:")]
    record.write_text("".join(f"{o}\n" for o in oids))  # the old format: oids only
    gone = hashing.hash_bytes(FILES["data/f0.bin"]).split(":")[1]
    store_objects(bare / "data")[gone].unlink()
    repo.data("push")
    assert gone in store_objects(bare / "data")


def test_unreadable_store_id_warns_and_checks_every_object(team: tuple[Repo, Path]) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    (bare / "data" / "gitdata-store.json").write_text("not json")
    gone = hashing.hash_bytes(FILES["data/f1.bin"]).split(":")[1]
    store_objects(bare / "data")[gone].unlink()
    proc = repo.data("push")
    assert gone in store_objects(bare / "data")
    assert "gitdata-store.json is not a store id" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_store_id_planted_as_a_symlink_is_not_followed(team: tuple[Repo, Path],
                                                       tmp_path: Path) -> None:
    repo, bare = team
    (bare / "data").mkdir()
    fifo = tmp_path / "fifo"
    subprocess.run(["mkfifo", str(fifo)], check=True)
    (bare / "data" / "gitdata-store.json").symlink_to(fifo)  # would block a plain open()
    populate(repo, FILES)
    proc = repo.git("push", "origin", "main")
    assert "not a plain file" in proc.stderr or "must be a plain file" in proc.stderr
    assert len(store_objects(bare / "data")) == 4
    assert (bare / "data" / "gitdata-store.json").is_symlink()


def test_gc_keeps_what_an_emptied_store_lost(team: tuple[Repo, Path]) -> None:
    repo, bare = team
    old = random_bytes(40_000, seed=90)
    populate(repo, {"data/a.bin": old}, "old")
    repo.git("push", "-q", "origin", "main")
    populate(repo, {"data/a.bin": random_bytes(40_000, seed=91)}, "new")
    repo.git("push", "-q", "origin", "main")
    repo.git("reflog", "expire", "--expire=now", "--all")
    shutil.rmtree(bare / "data" / "objects")  # the record still lists both objects
    proc = repo.data("gc", "--keep-days", "0")
    cached = {f"xxh128:{p.name}" for p in repo.cache_objects()}
    assert hashing.hash_bytes(old) in cached  # the only copy left
    assert "1 unreferenced object(s) that no store holds" in proc.stderr


def test_gc_keeps_an_object_whose_store_copy_has_the_wrong_size(
        team: tuple[Repo, Path]) -> None:
    repo, bare = team
    old = random_bytes(40_000, seed=92)
    populate(repo, {"data/a.bin": old}, "old")
    repo.git("config", "data.localLinks", "false")
    repo.git("push", "-q", "origin", "main")
    populate(repo, {"data/a.bin": b"new" * 100}, "new")
    repo.git("reflog", "expire", "--expire=now", "--all")
    stored = store_objects(bare / "data")[hashing.hash_bytes(old).split(":")[1]]
    stored.chmod(0o644)
    stored.write_bytes(old[:1000])
    repo.data("gc", "--keep-days", "0")
    assert hashing.hash_bytes(old) in {f"xxh128:{p.name}" for p in repo.cache_objects()}
    stored.write_bytes(old)
    repo.data("gc", "--keep-days", "0")
    assert hashing.hash_bytes(old) not in {f"xxh128:{p.name}" for p in repo.cache_objects()}


def test_push_replaces_a_store_object_of_the_wrong_size(team: tuple[Repo, Path],
                                                        tmp_path: Path) -> None:
    """Another clone finds the store's copy truncated (by a tool that wrote it in place):
    its push replaces it with its verified copy, under a new name first."""
    repo, bare = team
    repo.git("config", "data.localLinks", "false")
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    name = "data/f3.bin"
    stored = store_objects(bare / "data")[hashing.hash_bytes(FILES[name]).split(":")[1]]
    stored.chmod(0o644)
    stored.write_bytes(FILES[name][:5000])
    other = make_repo(tmp_path / "other")
    other.git("config", "data.localLinks", "false")
    other.git("remote", "add", "origin", str(bare))
    populate(other, {name: FILES[name]})
    proc = other.data("push")
    assert "replaced 1 object(s) of the wrong size" in proc.stderr
    assert stored.read_bytes() == FILES[name]
    assert stored.stat().st_mode & 0o222 == 0
    assert not [p for p in (bare / "data").rglob("*git-data-tmp")]


# ----- S3 ---------------------------------------------------------------------------------
def s3_repo(tmp_path: Path, s3: S3) -> Repo:
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    return repo


def test_push_to_a_recreated_bucket_uploads_again_and_gc_keeps_the_data(
        tmp_path: Path, s3: S3) -> None:
    repo = s3_repo(tmp_path, s3)
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    assert "gitdata-store.json" in s3.keys()
    fs = s3.server.filesystem()
    fs.rm(s3.bucket, recursive=True)  # the bucket is deleted and made again, empty
    fs.invalidate_cache()
    s3.server.make_bucket(s3.bucket)
    assert s3.objects() == []
    repo.data("push")
    assert len(s3.objects()) == 4 and "gitdata-store.json" in s3.keys()
    populate(repo, {name: b"changed" * 100 for name in FILES}, "replace all")
    repo.git("reflog", "expire", "--expire=now", "--all")
    fs.rm(f"{s3.bucket}/project/objects", recursive=True)  # lost again, id kept
    proc = repo.data("gc", "--keep-days", "0")
    assert "4 unreferenced object(s) that no store holds" in proc.stderr
    assert len(repo.cache_objects()) == 5


def test_push_replaces_a_wrong_size_s3_object(tmp_path: Path, s3: S3) -> None:
    repo = s3_repo(tmp_path, s3)
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    name = "data/f1.bin"
    key = f"project/objects/{hashing.hash_bytes(FILES[name]).split(':')[1]}"
    key = next(k for k in s3.server.keys(s3.bucket) if k.endswith(key.rsplit("/", 1)[1]))
    s3.server.filesystem().pipe_file(f"{s3.bucket}/{key}", FILES[name][:100])
    for record in record_files(repo):  # a clone that never pushed this object
        record.unlink()
    proc = repo.data("push")
    assert "replaced 1 object(s) of the wrong size" in proc.stderr
    assert s3.server.read(s3.bucket, key) == FILES[name]
    assert not [k for k in s3.keys() if k.startswith("tmp/")]
