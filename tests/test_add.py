"""`git data add PATH...`: many files staged without a clean filter per file (git_data.stage),
recording exactly what `git add` through the filter records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Repo, make_repo, random_bytes

from git_data import pointer, stage
from git_data.cache import Cache
from git_data.gitrepo import Repo as GitRepo

FILES = {
    "data/a.bin": random_bytes(5000, seed=1),
    "data/sub/b.bin": random_bytes(70_000, seed=2),
    "data/same.bin": random_bytes(5000, seed=1),  # same content as a.bin: one object
    "data/empty.bin": b"",
    "data/pointer.bin": pointer.Pointer("xxh128:" + "ab" * 16, 12).render(),
    "data/run.bin": random_bytes(3000, seed=3),
    "top.bin": random_bytes(2_500_000, seed=4),  # several read chunks
    "notes.txt": b"plain text\n",
    "data/big file [1].bin": random_bytes(900, seed=5),
}


def _fill(repo: Repo) -> None:
    for name, content in FILES.items():
        repo.write(name, content)
    os.chmod(repo.path / "data/run.bin", 0o755)
    os.symlink("a.bin", repo.path / "data/link.bin")


def _staged(repo: Repo) -> str:
    return repo.git("ls-files", "-s").stdout


def test_add_stages_what_git_add_stages(tmp_path: Path) -> None:
    by_git, by_data = make_repo(tmp_path / "git"), make_repo(tmp_path / "data")
    for repo in (by_git, by_data):
        _fill(repo)
    by_git.git("add", ".")
    by_data.data("add", ".")
    assert _staged(by_data) == _staged(by_git)
    assert "120000" in _staged(by_data) and "100755" in _staged(by_data)
    assert by_data.git("diff").stdout == ""  # the work tree matches the index: no re-clean
    by_data.git("commit", "-qm", "x")
    assert by_data.git("status", "--porcelain").stdout == ""
    staged = by_data.git("show", ":data/sub/b.bin").stdout.encode()
    parsed = pointer.parse(staged)
    assert parsed is not None and parsed.size == 70_000
    cache = Cache(by_data.cache)
    for name in ("data/a.bin", "data/sub/b.bin", "top.bin"):
        parsed = pointer.parse(by_data.git("show", f":{name}").stdout.encode())
        assert parsed is not None and cache.has(parsed.oid) and cache.verify(parsed.oid) is None
    assert by_data.git("show", ":notes.txt").stdout == "plain text\n"
    assert by_data.git("cat-file", "-p", ":data/link.bin").stdout == "a.bin"


def test_add_is_clean_after_commit_and_edits(repo: Repo) -> None:
    _fill(repo)
    repo.data("add", "data", "notes.txt")
    repo.git("commit", "-qm", "x")
    repo.write("data/a.bin", b"changed" * 100)
    os.unlink(repo.path / "data/same.bin")
    repo.data("add", "data")
    assert repo.git("diff", "--name-only").stdout == ""
    assert repo.git("diff", "--cached", "--name-status").stdout.split() == [
        "M", "data/a.bin", "D", "data/same.bin"]
    parsed = pointer.parse(repo.git("show", ":data/a.bin").stdout.encode())
    assert parsed is not None and parsed.size == 700
    assert "data/same.bin" not in repo.git("ls-files").stdout


def test_add_tracks_a_path_not_yet_data(repo: Repo) -> None:
    repo.write("models/w.pt", random_bytes(4000, seed=6))
    repo.data("add", "models")
    assert pointer.parse(repo.git("show", ":models/w.pt").stdout.encode()) is not None
    assert "/models/** filter=data" in repo.read(".gitattributes").decode()
    assert repo.git("diff").stdout == ""


def test_add_refuses_outside_path(repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x" * 100)
    proc = repo.data("add", str(outside), check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("git-data: ") and "outside the repository" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert repo.git("diff", "--cached", "--name-only", "--", "outside.bin").stdout == ""


def test_symlink_to_outside_is_staged_as_link(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "target.bin").write_bytes(b"y" * 100)
    (repo.path / "data").mkdir()
    os.symlink(tmp_path / "target.bin", repo.path / "data/out.bin")
    repo.data("add", "data/out.bin")
    mode = repo.git("ls-files", "-s", "data/out.bin").stdout.split()[0]
    assert mode == "120000"
    assert repo.git("cat-file", "-p", ":data/out.bin").stdout == str(tmp_path / "target.bin")


def test_file_changed_while_read_is_read_again(repo: Repo, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    repo.write("data/grow.bin", b"a" * 10_000)
    real = stage.read_in
    calls = []

    def read_then_append(fd: int, cache: Cache, algo: str) -> bytes:
        content = real(fd, cache, algo)
        calls.append(content)
        if len(calls) == 1:  # another writer appends after the first read
            with open(repo.path / "data/grow.bin", "ab") as stream:
                stream.write(b"b" * 5000)
        return content

    monkeypatch.setattr(stage, "read_in", read_then_append)
    git = GitRepo(repo.path)
    stage.stage(git, Cache(repo.cache), "xxh128", ["data"], threads=1)
    parsed = pointer.parse(repo.git("show", ":data/grow.bin").stdout.encode())
    assert len(calls) == 2 and parsed is not None and parsed.size == 15_000
    assert repo.git("diff").stdout == ""


def test_file_that_keeps_changing_is_refused(repo: Repo, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    repo.write("data/busy.bin", b"a" * 10_000)
    real = stage.read_in

    def read_then_append(fd: int, cache: Cache, algo: str) -> bytes:
        content = real(fd, cache, algo)
        with open(repo.path / "data/busy.bin", "ab") as stream:
            stream.write(b"b")
        return content

    monkeypatch.setattr(stage, "read_in", read_then_append)
    with pytest.raises(stage.FatalError, match="kept changing"):
        stage.stage(GitRepo(repo.path), Cache(repo.cache), "xxh128", ["data"], threads=1)
    assert repo.git("ls-files", "data/busy.bin").stdout == ""
