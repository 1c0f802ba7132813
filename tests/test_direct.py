"""Direct checkout (direct.py): large files handed from the filter to the post-checkout hook,
which writes them from the cache; and every case where the filter must stream instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import direct

MIN = 100_000
MAIN = {"data/big.bin": random_bytes(150_000, seed=1), "data/small.bin": b"s" * 900}
OTHER = {"data/big.bin": random_bytes(160_000, seed=2),
         "data/more/big2.bin": random_bytes(300_000, seed=3)}
POINTER_ANSWER = "git< version git-data/1oid "  # the filter's answer, in git's packet trace


def _commit(repo: Repo, files: dict[str, bytes], message: str) -> None:
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all(message)


@pytest.fixture
def clone(team: tuple[Repo, Path], tmp_path: Path) -> Repo:
    """A clone of main whose cache lacks branch other's objects; files of MIN bytes or more
    are checked out directly."""
    repo, bare = team
    _commit(repo, MAIN, "main data")
    repo.git("switch", "-qc", "other")
    _commit(repo, OTHER, "other data")
    repo.git("push", "-q", "origin", "main", "other")
    Repo(tmp_path).data("clone", str(bare), "copy")
    copy = Repo(tmp_path / "copy")
    copy.git("config", "data.directCheckoutMinSize", str(MIN))
    return copy


def _assert_clean_without_rereading(repo: Repo, tmp_path: Path) -> None:
    trace = tmp_path / "status-packets.txt"
    assert repo.git("status", "--porcelain", env={"GIT_TRACE_PACKET": str(trace)}).stdout == ""
    assert "command=clean" not in (trace.read_text(errors="replace") if trace.exists() else "")


def test_switch_hands_large_files_to_the_hook(clone: Repo, tmp_path: Path) -> None:
    trace = tmp_path / "packets.txt"
    clone.git("switch", "-q", "other", env={"GIT_TRACE_PACKET": str(trace)})
    for name, content in OTHER.items():  # fetched by the hook: not in the cache before
        assert clone.read(name) == content
    assert clone.read("data/small.bin") == MAIN["data/small.bin"]
    assert trace.read_text(errors="replace").count(POINTER_ANSWER) == 2
    assert not direct.record_path(clone.path / ".git").exists()
    _assert_clean_without_rereading(clone, tmp_path)
    clone.git("switch", "-q", "main")  # back: from the cache this time
    assert clone.read("data/big.bin") == MAIN["data/big.bin"]
    assert not (clone.path / "data/more/big2.bin").exists()
    _assert_clean_without_rereading(clone, tmp_path)


@pytest.mark.parametrize("how", ["hooks-off", "skip-env", "config-off", "reset-hard"])
def test_streams_when_no_hook_will_finish(clone: Repo, tmp_path: Path, how: str) -> None:
    """Only a git command that runs git-data's post-checkout may get pointers back."""
    trace = tmp_path / "packets.txt"
    env = {"GIT_TRACE_PACKET": str(trace)}
    empty_hooks = tmp_path / "no-hooks"
    empty_hooks.mkdir()
    if how == "hooks-off":
        clone.git("-c", f"core.hooksPath={empty_hooks}", "switch", "-q", "other", env=env)
    elif how == "skip-env":
        clone.git("switch", "-q", "other", env={**env, "GIT_DATA_SKIP_HOOKS": "1"})
    elif how == "config-off":
        clone.git("-c", "data.directCheckout=false", "switch", "-q", "other", env=env)
    else:
        clone.git("switch", "-q", "other")
        clone.write("data/big.bin", b"edited")
        clone.git("reset", "-q", "--hard", env=env)
    for name, content in OTHER.items():
        assert clone.read(name) == content
    assert POINTER_ANSWER not in trace.read_text(errors="replace")
    assert clone.git("status", "--porcelain").stdout == ""


def test_restore_of_a_deleted_large_file(clone: Repo, tmp_path: Path) -> None:
    (clone.path / "data/big.bin").unlink()
    trace = tmp_path / "packets.txt"
    clone.git("restore", "data/big.bin", env={"GIT_TRACE_PACKET": str(trace)})
    assert clone.read("data/big.bin") == MAIN["data/big.bin"]
    assert POINTER_ANSWER in trace.read_text(errors="replace")
    _assert_clean_without_rereading(clone, tmp_path)


def test_users_post_checkout_hook_sees_the_data(clone: Repo, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    users = clone.path / ".git" / "hooks" / "post-checkout.pre-git-data"  # kept by install
    users.write_text(f"#!/bin/sh\nhead -c 40 data/big.bin > '{seen}'\n")
    users.chmod(0o755)
    clone.git("switch", "-q", "other")
    assert seen.read_bytes() == OTHER["data/big.bin"][:40]


def test_leftover_record_is_finished_by_the_next_checkout(clone: Repo) -> None:
    """A checkout that never reached its hook leaves pointers and a record; the next
    post-checkout writes the pointers and leaves an edited file alone."""
    big_pointer = clone.git("show", ":data/big.bin").stdout.encode()
    (clone.path / "data/big.bin").write_bytes(big_pointer)
    clone.write("data/small.bin", b"my own edit")
    clone.git("update-index", "-q", "--refresh")
    oid = big_pointer.split(b"oid ")[1].split(b"\n")[0].decode()
    record = direct.record_path(clone.path / ".git")
    record.write_text(f"{oid} 150000 data/big.bin\n{oid} 150000 data/small.bin\n")
    clone.git("checkout", "-q", "main")  # no change: post-checkout still runs
    assert clone.read("data/big.bin") == MAIN["data/big.bin"]
    assert clone.read("data/small.bin") == b"my own edit"
    assert not record.exists()
    assert clone.git("status", "--porcelain").stdout == " M data/small.bin\n"


def test_object_no_store_has_stays_a_pointer(clone: Repo, team: tuple[Repo, Path]) -> None:
    _, bare = team
    for path in (bare / "data" / "objects").rglob("*"):
        if path.is_file() and path.stat().st_size == 300_000:
            path.chmod(0o644)
            path.unlink()  # big2's object
    result = clone.git("switch", "-q", "other")
    assert clone.read("data/big.bin") == OTHER["data/big.bin"]
    assert clone.read("data/more/big2.bin").startswith(b"version git-data/1\n")
    assert "data/more/big2.bin" in result.stderr
    assert clone.git("status", "--porcelain").stdout == ""


def test_hook_fetches_what_the_filter_left_as_pointers(clone: Repo,
                                                        team: tuple[Repo, Path]) -> None:
    """The store is away while the filter smudges (hooks off, so it streams and leaves
    pointers, noted in missing-after-checkout); the next post-checkout writes them."""
    _, bare = team
    (bare / "data").rename(bare / "data-away")
    old = clone.git("rev-parse", "HEAD").stdout.strip()
    clone.git("switch", "-q", "other", env={"GIT_DATA_SKIP_HOOKS": "1"})
    assert clone.read("data/more/big2.bin").startswith(b"version git-data/1\n")
    assert (clone.path / ".git" / "data" / "missing-after-checkout").exists()
    (bare / "data-away").rename(bare / "data")
    new = clone.git("rev-parse", "HEAD").stdout.strip()
    clone.data("hook", "post-checkout", old, new, "1")
    for name, content in OTHER.items():
        assert clone.read(name) == content
    assert not (clone.path / ".git" / "data" / "missing-after-checkout").exists()
    assert clone.git("status", "--porcelain").stdout == ""


@pytest.mark.parametrize("argv, expected", [
    (["git", "switch", "main"], "switch"),
    (["/usr/bin/git", "-C", "x", "-c", "a.b=c", "--no-pager", "checkout", "-q"], "checkout"),
    (["git", "--git-dir", "d", "--work-tree=w", "restore", "f"], "restore"),
    (["/usr/lib/git-core/git-checkout", "main"], "checkout"),
    (["git", "-c", "alias.co=checkout", "co"], "co"),
    (["python", "switch"], None),
    ([], None),
])
def test_git_subcommand(argv: list[str], expected: str | None) -> None:
    assert direct.git_subcommand(argv) == expected


def test_take_records_keeps_the_last_per_path(tmp_path: Path) -> None:
    record = direct.record_path(tmp_path)
    record.parent.mkdir()
    record.write_text("xxh128:aa 1 a b.bin\nxxh128:bb 2 c\nbroken\nxxh128:cc 3 a b.bin\npartial")
    assert sorted(direct.take_records(tmp_path)) == [("xxh128:bb", 2, "c"),
                                                     ("xxh128:cc", 3, "a b.bin")]
    assert not record.exists()  # taken: what is left to write is in the work record
    assert sorted(direct.take_records(tmp_path)) == [("xxh128:bb", 2, "c"),
                                                     ("xxh128:cc", 3, "a b.bin")]
    direct.keep_records(tmp_path, [])  # all finished
    assert os.listdir(record.parent) == []


def test_checkout_theirs_in_a_conflict_keeps_the_conflict(repo: Repo) -> None:
    """`git checkout --theirs` of a conflicted data file writes their data and leaves the
    conflict for the user to resolve (nothing is staged behind their back)."""
    repo.git("config", "data.directCheckoutMinSize", str(MIN))
    _commit(repo, {"data/big.bin": random_bytes(120_000, seed=7)}, "base")
    repo.git("switch", "-qc", "theirs")
    _commit(repo, {"data/big.bin": random_bytes(130_000, seed=8)}, "theirs")
    repo.git("switch", "-q", "-")
    _commit(repo, {"data/big.bin": random_bytes(140_000, seed=9)}, "ours")
    assert repo.git("merge", "-q", "theirs", check=False).returncode != 0
    assert len(repo.git("ls-files", "-u", "data/big.bin").stdout.splitlines()) == 3
    repo.git("checkout", "--theirs", "--", "data/big.bin")
    assert repo.read("data/big.bin") == random_bytes(130_000, seed=8)
    assert len(repo.git("ls-files", "-u", "data/big.bin").stdout.splitlines()) == 3
    assert repo.git("status", "--porcelain").stdout.startswith("UU data/big.bin")
