"""Writing files from the cache (materialize.py): only pointer files are replaced, and git's
index learns their new stat data without reading them again."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Repo, random_bytes

FILES = {f"data/f{i}.bin": random_bytes(40_000 + i, seed=i) for i in range(4)}


def _no_data_clone(team: tuple[Repo, Path], tmp_path: Path) -> Repo:
    repo, bare = team
    for name, content in FILES.items():
        repo.write(name, content)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", "--no-data", str(bare), "copy")
    return Repo(tmp_path / "copy")


def test_pull_leaves_edited_and_deleted_files_alone(team: tuple[Repo, Path],
                                                   tmp_path: Path) -> None:
    clone = _no_data_clone(team, tmp_path)
    clone.write("data/f0.bin", b"my edit, not committed")
    (clone.path / "data/f1.bin").unlink()
    clone.data("pull")
    assert clone.read("data/f0.bin") == b"my edit, not committed"
    assert not (clone.path / "data/f1.bin").exists()
    assert clone.read("data/f2.bin") == FILES["data/f2.bin"]
    clone.data("checkout")  # the same from the cache alone
    assert clone.read("data/f0.bin") == b"my edit, not committed"
    status = sorted(clone.git("status", "--porcelain").stdout.splitlines())
    assert status == [" D data/f1.bin", " M data/f0.bin"]


def test_pull_puts_stat_data_in_the_index(team: tuple[Repo, Path], tmp_path: Path) -> None:
    clone = _no_data_clone(team, tmp_path)
    clone.data("pull")
    index_mtime = (clone.path / ".git" / "index").stat().st_mtime
    debug = clone.git("ls-files", "--debug", "data/f3.bin").stdout
    st = os.stat(clone.path / "data/f3.bin")
    assert f"mtime: {int(st.st_mtime)}:{st.st_mtime_ns % 10**9}" in debug
    assert f"ino: {st.st_ino}" in debug
    assert int(st.st_mtime) < int(index_mtime)  # older than the index: not racily clean
    trace = tmp_path / "packets.txt"
    assert clone.git("status", "--porcelain", env={"GIT_TRACE_PACKET": str(trace)}).stdout == ""
    assert "command=clean" not in (trace.read_text() if trace.exists() else "")


def test_pull_with_a_locked_index_writes_nothing(team: tuple[Repo, Path],
                                                 tmp_path: Path) -> None:
    clone = _no_data_clone(team, tmp_path)
    lock = clone.path / ".git" / "index.lock"
    lock.write_bytes(b"")
    result = clone.data("pull", check=False)
    assert result.returncode != 0
    assert str(lock) in result.stderr and "run this again" in result.stderr
    assert all(clone.read(n).startswith(b"version git-data/1\n") for n in FILES)
    lock.unlink()
    clone.data("pull")
    assert all(clone.read(n) == c for n, c in FILES.items())
    assert clone.git("status", "--porcelain").stdout == ""


def test_streamed_checkout_leaves_nothing_for_git_to_reread(team: tuple[Repo, Path],
                                                            tmp_path: Path) -> None:
    """Files the filter streamed during a switch land in the same second as the index; the
    post-checkout hook verifies and settles them so `git status` starts no filter."""
    clone = _no_data_clone(team, tmp_path)
    clone.data("pull")
    clone.git("switch", "-qc", "other")
    clone.write("data/f0.bin", b"other bytes" * 5000)
    clone.write("data/new.bin", b"new" * 9000)
    clone.commit_all("other")
    for branch in ("main", "other"):
        clone.git("switch", "-q", branch)
        trace = tmp_path / f"packets-{branch}.txt"
        status = clone.git("status", "--porcelain", env={"GIT_TRACE_PACKET": str(trace)})
        assert status.stdout == ""
        assert not trace.exists() or "git-filter-client" not in trace.read_text()
        assert clone.read("data/f0.bin") == (FILES["data/f0.bin"] if branch == "main"
                                             else b"other bytes" * 5000)
    clone.write("data/f1.bin", b"edited after the switch")
    assert clone.git("status", "--porcelain").stdout == " M data/f1.bin\n"


def test_many_files_written_by_threads_each_once(team: tuple[Repo, Path],
                                                 tmp_path: Path) -> None:
    """Enough files for the writing threads (several runs of one folder, several folders):
    every file gets its own bytes, an edited one is left alone, and git sees a clean tree
    without reading them again."""
    repo, bare = team
    many = {f"data/d{i % 3}/f{i:03d}.bin": random_bytes(600 + i, seed=i) for i in range(900)}
    for name, content in many.items():
        repo.write(name, content)
    repo.commit_all("many")
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", "--no-data", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    clone.data("fetch")
    clone.write("data/d1/f001.bin", b"my edit")
    clone.data("checkout")
    assert clone.read("data/d1/f001.bin") == b"my edit"
    assert all(clone.read(name) == content for name, content in many.items()
               if name != "data/d1/f001.bin")
    assert clone.git("status", "--porcelain").stdout.splitlines() == [" M data/d1/f001.bin"]
    leftovers = [p for p in (clone.path / "data").rglob("*") if "git-data-tmp" in p.name]
    assert leftovers == []
