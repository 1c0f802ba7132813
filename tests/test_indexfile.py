"""indexfile.set_stat against git's own reading and refreshing of the index, in every index
format it accepts, and its refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from git_data.indexfile import entries, set_stat

LONG_NAME = "/".join(["d"] + [f"{i}" + "n" * 200 for i in range(3)]) + ".txt"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def _plain_repo(path: Path, object_format: str = "sha1") -> Path:
    """A repository without git-data: git itself is the reference here."""
    _git(path.parent, "init", "-q", f"--object-format={object_format}", str(path))
    for i, name in enumerate(["a.txt", "d/b.txt", "d/c.txt", "d/e/f.txt", LONG_NAME]):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(f"content {i}\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "files")
    return path


def _rewrite_same_content(repo: Path, names: list[str]) -> None:
    """New inode and times, same bytes: the index's stat data goes stale. Times are set in
    the past so git's own refresh below does not treat them as racily clean."""
    for name in names:
        path = repo / name
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
        past = path.stat().st_mtime_ns - 5_000_000_000
        os.utime(path, ns=(past, past))


def _blob(repo: Path, name: str) -> bytes:
    return bytes.fromhex(_git(repo, "rev-parse", f":{name}").strip())


def _stale(repo: Path) -> list[str]:
    """Paths whose index stat data does not match (git diff-files trusts stat data only for
    this question when run with --no-ext-diff and after no refresh)."""
    out = subprocess.run(["git", "diff-files", "--name-only"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize("version", [2, 3, 4])
def test_patched_index_equals_gits_refresh(tmp_path: Path, version: int) -> None:
    repo = _plain_repo(tmp_path / "r")
    if version == 3:
        (repo / "new.txt").write_text("intent\n")
        _git(repo, "add", "-N", "new.txt")  # an extended-flags entry forces version 3
    _git(repo, "update-index", f"--index-version={version}")
    names = ["d/b.txt", "d/e/f.txt", LONG_NAME]
    _rewrite_same_content(repo, names)
    assert set(_stale(repo)) >= set(names)
    index = repo / ".git" / "index"
    before = index.read_bytes()

    patched = set_stat(index, "sha1", {n.encode(): (_blob(repo, n), os.stat(repo / n))
                                       for n in names})

    assert patched == {n.encode() for n in names}
    ours = _git(repo, "ls-files", "--debug")
    assert int.from_bytes(index.read_bytes()[4:8], "big") == version
    index.write_bytes(before)
    _git(repo, "update-index", "-q", "--refresh")
    assert ours == _git(repo, "ls-files", "--debug")  # same stat data as git records
    assert _stale(repo) == (["new.txt"] if version == 3 else [])  # intent-to-add stays


def test_sha256_repository(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r", "sha256")
    _rewrite_same_content(repo, ["a.txt"])
    index = repo / ".git" / "index"
    assert set_stat(index, "sha256", {b"a.txt": (_blob(repo, "a.txt"),
                                                os.stat(repo / "a.txt"))}) == {b"a.txt"}
    assert _stale(repo) == []
    _git(repo, "status", "--short")  # git verifies the sha256 checksum it reads


def test_entry_with_other_blob_is_left_stale(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r")
    _rewrite_same_content(repo, ["a.txt", "d/b.txt"])
    index = repo / ".git" / "index"
    patched = set_stat(index, "sha1", {
        b"a.txt": (_blob(repo, "d/b.txt"), os.stat(repo / "a.txt")),  # not a.txt's blob
        b"d/b.txt": (_blob(repo, "d/b.txt"), os.stat(repo / "d/b.txt")),
    })
    assert patched == {b"d/b.txt"}
    assert _stale(repo) == ["a.txt"]


def test_conflicted_entries_are_not_patched(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r")
    _git(repo, "switch", "-q", "-c", "side")
    (repo / "a.txt").write_text("side\n")
    _git(repo, "commit", "-qam", "side")
    _git(repo, "switch", "-q", "-")
    (repo / "a.txt").write_text("main\n")
    _git(repo, "commit", "-qam", "main")
    subprocess.run(["git", "merge", "-q", "side"], cwd=repo, capture_output=True)
    stages = _git(repo, "ls-files", "-s", "a.txt").splitlines()
    assert len(stages) == 3
    ours = bytes.fromhex(stages[1].split()[1])
    index = repo / ".git" / "index"
    before = index.read_bytes()
    assert set_stat(index, "sha1", {b"a.txt": (ours, os.stat(repo / "a.txt"))}) == set()
    assert index.read_bytes() == before


def test_locked_index_is_left_alone(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r")
    _rewrite_same_content(repo, ["a.txt"])
    index = repo / ".git" / "index"
    lock = index.with_name("index.lock")
    lock.write_bytes(b"a git command is writing")
    before = index.read_bytes()
    assert set_stat(index, "sha1", {b"a.txt": (_blob(repo, "a.txt"),
                                              os.stat(repo / "a.txt"))}) == set()
    assert index.read_bytes() == before
    assert lock.read_bytes() == b"a git command is writing"  # not ours to remove


@pytest.mark.parametrize("setup", ["split-index", "corrupt-checksum"])
def test_unsupported_index_is_left_alone(tmp_path: Path, setup: str) -> None:
    repo = _plain_repo(tmp_path / "r")
    _rewrite_same_content(repo, ["a.txt"])
    index = repo / ".git" / "index"
    if setup == "split-index":
        _git(repo, "update-index", "--split-index")
    else:
        data = bytearray(index.read_bytes())
        data[-1] ^= 0xFF
        index.write_bytes(bytes(data))
    before = index.read_bytes()
    assert set_stat(index, "sha1", {b"a.txt": (_blob(repo, "a.txt"),
                                              os.stat(repo / "a.txt"))}) == set()
    assert index.read_bytes() == before
    assert not index.with_name("index.lock").exists()


def test_skip_hash_index(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r")
    _git(repo, "config", "index.skipHash", "true")
    _git(repo, "update-index", "--really-refresh")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "rewrite index")
    index = repo / ".git" / "index"
    if index.read_bytes()[-20:] != bytes(20):
        pytest.skip("this git does not know index.skipHash")
    _rewrite_same_content(repo, ["a.txt"])
    assert set_stat(index, "sha1", {b"a.txt": (_blob(repo, "a.txt"),
                                              os.stat(repo / "a.txt"))}) == {b"a.txt"}
    assert index.read_bytes()[-20:] == bytes(20)
    assert _stale(repo) == []


@pytest.mark.parametrize("version", [2, 3, 4])
@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_entries_read_as_git_lists_them(tmp_path: Path, version: int,
                                        object_format: str) -> None:
    """Path, blob and stage as `git ls-files -s` lists them, the size git recorded, and
    which entries git does not check (assume-unchanged, skip-worktree: extended flags)."""
    repo = _plain_repo(tmp_path / "r", object_format)
    (repo / "d/c.txt").write_text("longer content than before\n")
    _git(repo, "update-index", "-q", "--refresh")
    if version >= 3:
        _git(repo, "update-index", "--skip-worktree", "d/e/f.txt")
    _git(repo, "update-index", "--assume-unchanged", "a.txt")
    _git(repo, "update-index", f"--index-version={version}")
    index = repo / ".git" / "index"
    assert int.from_bytes(index.read_bytes()[4:8], "big") == version

    found = entries(index, object_format)

    assert found is not None
    listed = [line.split("\t", 1) for line in _git(repo, "ls-files", "-s", "-z").split("\0")
              if line]
    assert [(path, blob, stage) for path, blob, stage, _, _ in found] == [
        (path, meta.split()[1], int(meta.split()[2])) for meta, path in listed]
    sizes = {path: size for path, _, _, size, _ in found}
    assert sizes["d/b.txt"] == os.stat(repo / "d/b.txt").st_size
    assert sizes["d/c.txt"] == len("content 2\n")  # recorded, not the work tree's now
    assert sizes[LONG_NAME] == len("content 4\n")
    unchecked = {path for path, _, _, _, flag in found if flag}
    assert unchecked == ({"a.txt", "d/e/f.txt"} if version >= 3 else {"a.txt"})


def test_entries_of_a_split_index_are_left_to_git(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "r")
    index = repo / ".git" / "index"
    assert entries(index, "sha1") is not None
    _git(repo, "update-index", "--split-index")
    assert entries(index, "sha1") is None
    assert entries(tmp_path / "missing", "sha1") is None
