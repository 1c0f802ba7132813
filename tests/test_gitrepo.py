"""git access: pointer reads and the blob memo that spares re-reading pointer blobs."""

from __future__ import annotations

import pytest
from conftest import Repo, random_bytes

from git_data import hashing
from git_data.gitrepo import BlobMemo
from git_data.gitrepo import Repo as GitRepo


def test_few_blobs_are_read_without_the_memo(repo: Repo) -> None:
    repo.write("data/a.bin", random_bytes(5000, seed=1))
    repo.commit_all()
    (entry,) = GitRepo(repo.path).index_pointers()
    assert entry.oid == hashing.hash_bytes(random_bytes(5000, seed=1))
    assert not (repo.path / ".git" / "data" / BlobMemo.FILE_NAME).exists()


def test_index_pointers_with_and_without_memo_agree(repo: Repo,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BlobMemo, "WORTH_IT", 0)
    repo.write("data/a.bin", random_bytes(5000, seed=1))
    repo.write("notes.txt", b"plain text, not tracked")
    repo.write("big.txt", b"x" * 5000)
    repo.commit_all()
    first = sorted(GitRepo(repo.path).index_pointers())
    memo_file = repo.path / ".git" / "data" / BlobMemo.FILE_NAME
    lines = memo_file.read_text().splitlines()
    assert len(lines) == 4 and sum(line.endswith("\t-") for line in lines) == 3  # + .gitattributes
    again = GitRepo(repo.path)
    assert sorted(again.index_pointers()) == first
    assert [e.oid for e in first] == [hashing.hash_bytes(random_bytes(5000, seed=1))]
    assert memo_file.read_text().splitlines() == lines  # nothing new was read


def test_torn_or_garbled_memo_lines_are_ignored(repo: Repo,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BlobMemo, "WORTH_IT", 0)
    content = random_bytes(5000, seed=2)
    repo.write("data/a.bin", content)
    repo.commit_all()
    sha = repo.git("rev-parse", ":data/a.bin").stdout.strip()
    memo_file = repo.path / ".git" / "data" / BlobMemo.FILE_NAME
    memo_file.write_text(f"{sha}\txxh128:zz\t5000\n{sha}\txxh128:{'0' * 32}\t50")  # torn
    (entry,) = GitRepo(repo.path).index_pointers()
    assert entry.oid == hashing.hash_bytes(content) and entry.size == 5000


def test_a_missing_blob_does_not_shift_the_others(repo: Repo) -> None:
    """cat-file --batch answers a missing blob with a header and no content; the blobs after
    it must still be read right."""
    repo.write("data/a.bin", random_bytes(5000, seed=3))
    repo.write("data/b.bin", random_bytes(6000, seed=4))
    repo.commit_all()
    sha_a = repo.git("rev-parse", ":data/a.bin").stdout.strip()
    sha_b = repo.git("rev-parse", ":data/b.bin").stdout.strip()
    entries = GitRepo(repo.path).read_pointers(
        [("data/a.bin", sha_a), ("gone.bin", "0" * 40), ("data/b.bin", sha_b)])
    assert [(e.path, e.oid) for e in entries] == [
        ("data/a.bin", hashing.hash_bytes(random_bytes(5000, seed=3))),
        ("data/b.bin", hashing.hash_bytes(random_bytes(6000, seed=4)))]
