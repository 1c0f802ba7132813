"""Pushing small objects as packs and reading them back, through git's own push and
clone: a local folder store (the bare repository's data/) and SeaweedFS."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import Repo, make_repo, populate, store_objects

from git_data import hashing

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]

SMALL = {f"data/c{i % 20}/f{i}.bin": b"%05d" % i * 200 for i in range(2000)}


def _packed(repo: Repo) -> Repo:
    repo.git("config", "data.pack.maxObjectSize", "1M")
    repo.git("config", "data.pack.targetSize", "4M")
    return repo


def _team(tmp_path: Path) -> tuple[Repo, Path]:
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = _packed(make_repo(tmp_path / "work"))
    repo.git("remote", "add", "origin", str(bare))
    return repo, bare


def _store_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_push_of_2000_small_files_makes_a_few_keys_and_clone_is_identical(
        tmp_path: Path) -> None:
    repo, bare = _team(tmp_path)
    populate(repo, SMALL)
    repo.git("push", "-q", "origin", "main")
    packs = sorted((bare / "data" / "packs").iterdir())
    assert len(packs) == 2 and {p.suffix for p in packs} == {".pack", ".idx"}
    assert store_objects(bare / "data") == {}
    assert len(_store_files(bare / "data")) < 10  # packs, manifest, store id
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    for name, content in list(SMALL.items())[::97]:
        assert clone.read(name) == content
    assert clone.git("status", "--porcelain").stdout == ""
    assert len(list((tmp_path / "copy/.git/data/packs").glob("*.idx"))) == 1


def test_a_flipped_pack_byte_is_refused_in_one_line_and_not_cached(tmp_path: Path) -> None:
    repo, bare = _team(tmp_path)
    files = {f"data/f{i}.bin": b"%04d" % i * 100 for i in range(20)}
    populate(repo, files)
    repo.git("push", "-q", "origin", "main")
    pack = next((bare / "data" / "packs").glob("*.pack"))
    raw = bytearray(pack.read_bytes())
    raw[0] ^= 0xFF  # the first object: data/f*.bin sorted first is f0
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    proc = Repo(tmp_path).data("clone", str(bare), "copy", check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "corrupt" in line]
    assert lines and pack.name in lines[0] and "git-data:" in lines[0]
    bad = hashing.hash_bytes(files["data/f0.bin"])
    cache = tmp_path / "copy/.git/data/objects"
    assert not (cache / bad.split(":")[1][:2]).exists() or not any(
        bad.split(":")[1] in p.name for p in cache.rglob("*"))


def test_a_pack_without_index_is_ignored_and_the_next_push_completes(tmp_path: Path) -> None:
    repo, bare = _team(tmp_path)
    files = {f"data/f{i}.bin": b"%04d" % i * 100 for i in range(30)}
    populate(repo, files)
    repo.git("push", "-q", "origin", "main")
    packs = bare / "data" / "packs"
    for idx in packs.glob("*.idx"):
        idx.chmod(0o644)
        idx.unlink()  # as if the push had been killed between pack and index
    # a killed push records nothing: neither the store's known oids nor its indexes
    for path in [*(tmp_path / "work/.git/data/stores").glob("*.oids"),
                 *(tmp_path / "work/.git/data/packs").glob("*.idx")]:
        path.unlink()
    subprocess.run(["git", "-C", str(bare), "update-ref", "-d", "refs/heads/main"], check=True)
    repo.git("update-ref", "-d", "refs/remotes/origin/main", check=False)
    repo.write("data/more.bin", b"more" * 10)
    repo.commit_all("more")
    repo.git("push", "-q", "origin", "main")
    assert len(list(packs.glob("*.idx"))) == 1  # the new push wrote a complete pack
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    for name, content in files.items():
        assert clone.read(name) == content


def test_a_store_of_loose_objects_still_reads_and_mixes_with_packs(tmp_path: Path) -> None:
    repo, bare = _team(tmp_path)
    repo.git("config", "--unset", "data.pack.maxObjectSize")
    old = {f"data/old{i}.bin": b"old%d" % i * 50 for i in range(5)}
    populate(repo, old)
    repo.git("push", "-q", "origin", "main")
    assert len(store_objects(bare / "data")) == 5
    _packed(repo)
    new = {f"data/new{i}.bin": b"new%d" % i * 50 for i in range(5)}
    populate(repo, new, "new")
    repo.git("push", "-q", "origin", "main")
    assert len(store_objects(bare / "data")) == 5
    assert len(list((bare / "data/packs").glob("*.idx"))) == 1
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    for name, content in {**old, **new}.items():
        assert clone.read(name) == content


def test_s3_push_of_2000_small_files_is_a_few_keys_and_clone_is_identical(
        tmp_path: Path, s3: S3) -> None:
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = _packed(make_repo(tmp_path / "work"))
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    populate(repo, SMALL)
    repo.git("push", "-q", "origin", "main")
    keys = s3.keys()
    assert s3.objects() == []
    assert len([k for k in keys if k.startswith("packs/")]) == 2
    assert len(keys) < 10, keys
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    for name, content in list(SMALL.items())[::53]:
        assert clone.read(name) == content
    assert clone.git("status", "--porcelain").stdout == ""
