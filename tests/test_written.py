"""The record of files written from the cache: git's re-reads of them store nothing again."""

from __future__ import annotations

import os
import subprocess

from conftest import Repo, random_bytes

from git_data import hashing, pointer, written


def drop_stat(repo: Repo, path: str) -> None:
    """Make git distrust the index entry so its next refresh runs the clean filter."""
    mode, sha = repo.git("ls-files", "-s", path).stdout.split()[:2]
    repo.git("update-index", "--index-info", input=f"{mode} {sha}\t{path}\n".encode())


def checked_out(repo: Repo, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all("data")
    for name in files:
        os.unlink(repo.path / name)
    repo.git("checkout", "--", *files)


def test_checkout_records_what_it_wrote(repo: Repo) -> None:
    files = {"data/a.bin": random_bytes(300_000, seed=1), "data/b.bin": random_bytes(5, seed=2)}
    checked_out(repo, files)
    record = written.load(repo.path / ".git")
    for name, content in files.items():
        assert record[name].oid == hashing.hash_bytes(content)
        assert record[name].matches(os.stat(repo.path / name))


def test_re_reading_a_written_file_stores_no_copy(repo: Repo) -> None:
    content = random_bytes(2_000_000, seed=3)
    checked_out(repo, {"data/a.bin": content})
    (obj,) = repo.cache_objects()
    inode = obj.stat().st_ino
    drop_stat(repo, "data/a.bin")
    repo.git("update-index", "-q", "--refresh")
    assert repo.git("status", "--porcelain").stdout == ""
    assert obj.stat().st_ino == inode  # not replaced by a fresh copy
    assert not list((repo.cache / "tmp").glob("*"))


def test_same_stat_new_bytes_are_stored_not_trusted(repo: Repo) -> None:
    """Content changed in place with size and mtime kept: the record must not win."""
    old, new = random_bytes(100_000, seed=4), random_bytes(100_000, seed=5)
    checked_out(repo, {"data/a.bin": old})
    target = repo.path / "data/a.bin"
    before = os.stat(target)
    with open(target, "r+b") as stream:
        stream.write(new)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert written.load(repo.path / ".git")["data/a.bin"].matches(os.stat(target))
    drop_stat(repo, "data/a.bin")
    repo.git("add", "data/a.bin")
    staged = pointer.parse(repo.git("show", ":data/a.bin").stdout.encode())
    assert staged is not None and staged.oid == hashing.hash_bytes(new)
    assert {f"xxh128:{p.name}" for p in repo.cache_objects()} == {
        hashing.hash_bytes(old), hashing.hash_bytes(new)}


def test_other_bytes_for_a_recorded_path_are_stored(repo: Repo) -> None:
    """`git hash-object --stdin --path P` cleans bytes that are not P's: diverging in the
    middle, shorter and longer than the object P was written from, each is stored whole."""
    old = random_bytes(300_000, seed=6)
    checked_out(repo, {"data/a.bin": old})
    variants = [old[:150_000] + b"X" + old[150_001:], old[:200_000], old + b"tail"]
    for content in variants:
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin", "--path", "data/a.bin"],
                              cwd=repo.path, input=content, capture_output=True,
                              check=True).stdout.decode().strip()
        stored = pointer.parse(repo.git("cat-file", "blob", blob).stdout.encode())
        assert stored is not None and stored.oid == hashing.hash_bytes(content)
        assert stored.size == len(content)
        assert (repo.cache / "objects" / stored.hex[:2] / stored.hex[2:4] / stored.hex
                ).read_bytes() == content
    assert repo.read("data/a.bin") == old
