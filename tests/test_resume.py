"""Interrupted commands finish when run again: `git data clone` into its own half-made
folder, data files written before their index update (no " M" left behind), and a checkout
hook killed after it took the direct-checkout record (direct.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import direct
from git_data.commands.clone import CLONING

MIN = 100_000
NEWLINE_NAME = "data/new\nline \\ b.bin"
FILES = {"data/a.bin": random_bytes(150_000, seed=1), "data/b.bin": random_bytes(2_000, seed=2)}


@pytest.fixture
def origin(team: tuple[Repo, Path]) -> tuple[Repo, Path]:
    repo, bare = team
    for name, content in FILES.items():
        repo.write(name, content)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "main")
    return repo, bare


def _assert_cloned(clone: Repo) -> None:
    for name, content in FILES.items():
        assert clone.read(name) == content
    assert clone.git("status", "--porcelain").stdout == ""
    assert json.loads((clone.path / ".git" / "data" / CLONING).read_text())["stage"] == "done"
    assert (clone.path / ".git" / "hooks" / "post-checkout").exists()


def _store_objects(bare: Path) -> list[Path]:
    return [p for p in (bare / "data" / "objects").rglob("*") if p.is_file()]


# ----- clone ------------------------------------------------------------------------------
def test_clone_failing_in_its_download_finishes_when_run_again(origin: tuple[Repo, Path],
                                                              tmp_path: Path) -> None:
    _, bare = origin
    aside = tmp_path / "aside"
    shutil.move(bare / "data", aside)  # the store is gone: git's clone works, the pull fails
    first = Repo(tmp_path).data("clone", str(bare), "copy", check=False)
    assert first.returncode != 0
    assert (tmp_path / "copy" / ".git" / "data" / CLONING).exists()
    shutil.move(aside, bare / "data")
    again = Repo(tmp_path).data("clone", str(bare), "copy")
    assert "resuming the unfinished clone" in again.stderr
    _assert_cloned(Repo(tmp_path / "copy"))
    # killed between its last write and its exit: the same command says so and succeeds
    once_more = Repo(tmp_path).data("clone", str(bare), "copy")
    assert "already a finished clone" in once_more.stderr
    _assert_cloned(Repo(tmp_path / "copy"))
    other = Repo(tmp_path).data("clone", str(tmp_path / "copy"), "copy", check=False)
    assert other.returncode != 0 and "already exists" in other.stderr


@pytest.mark.parametrize("left", ["empty-dot-git", "marker-only", "half-git-clone"])
def test_clone_killed_inside_git_clone_starts_it_again(origin: tuple[Repo, Path],
                                                       tmp_path: Path, left: str) -> None:
    """What a SIGKILL inside git's own clone leaves: an empty .git (before git copied the
    template), the template's marker alone, or a partial repository with the marker."""
    _, bare = origin
    target = tmp_path / "copy"
    if left == "half-git-clone":
        subprocess.run(["git", "init", "-q", str(target)], check=True)
        (target / "data").mkdir()
        (target / "data" / "a.bin").write_bytes(b"partial")
    (target / ".git" / "data").mkdir(parents=True, exist_ok=True)
    if left != "empty-dot-git":
        (target / ".git" / "data" / CLONING).write_text(
            f'{{"url": "{bare}", "git_args": [], "stage": "git"}}\n')
    Repo(tmp_path).data("clone", str(bare), "copy")
    _assert_cloned(Repo(target))


def test_clone_refuses_a_folder_that_is_not_its_own(origin: tuple[Repo, Path],
                                                    tmp_path: Path) -> None:
    _, bare = origin
    theirs = tmp_path / "theirs"
    (theirs / ".git").mkdir(parents=True)
    (theirs / ".git" / "config").write_text("[core]\n")
    (theirs / "notes.txt").write_text("mine")
    proc = Repo(tmp_path).data("clone", str(bare), "theirs", check=False)
    assert proc.returncode != 0 and "already exists" in proc.stderr
    assert (theirs / "notes.txt").read_text() == "mine"
    Repo(tmp_path).data("clone", str(bare), "done")
    again = Repo(tmp_path).data("clone", str(bare), "done")  # finished: nothing to do
    assert "already a finished clone" in again.stderr
    with_options = Repo(tmp_path).data("clone", "-b", "main", str(bare), "done", check=False)
    assert with_options.returncode != 0 and "already exists" in with_options.stderr


def test_clone_of_another_source_into_a_half_made_clone_says_which(
        origin: tuple[Repo, Path], tmp_path: Path) -> None:
    _, bare = origin
    target = tmp_path / "copy"
    (target / ".git" / "data").mkdir(parents=True)
    (target / ".git" / "data" / CLONING).write_text(
        '{"url": "/elsewhere.git", "git_args": [], "stage": "data"}\n')
    proc = Repo(tmp_path).data("clone", str(bare), "copy", check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("git-data:")]
    assert len(lines) == 1 and "/elsewhere.git" in lines[0], proc.stderr
    assert (target / ".git" / "data" / CLONING).exists()


# ----- files written before the index update ----------------------------------------------
def _written_without_index_update(clone: Repo, name: str) -> None:
    """As a `git data pull` killed between writing a file and recording its stat leaves it:
    the data in place (backdated), the index still holding the pointer file's stat."""
    oid = clone.git("show", f":{name}").stdout.split("oid ")[1].split("\n")[0]
    hexdigest = oid.split(":")[1]
    cached = clone.cache / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest
    target = clone.path / name
    target.unlink()
    shutil.copyfile(cached, target)


@pytest.mark.parametrize("again", ["checkout", "pull"])
def test_files_written_before_the_index_update_end_clean(origin: tuple[Repo, Path],
                                                         tmp_path: Path, again: str) -> None:
    _, bare = origin
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    clone.data("fetch")
    for name in FILES:
        _written_without_index_update(clone, name)
    clone.write("data/c.bin", b"x")  # an untracked file is no candidate
    assert clone.git("status", "--porcelain", "--untracked-files=no").stdout.count(" M ") == 2
    clone.data(again)
    assert clone.git("status", "--porcelain", "--untracked-files=no").stdout == ""
    for name, content in FILES.items():
        assert clone.read(name) == content


def test_an_edit_of_the_same_size_stays_modified(origin: tuple[Repo, Path],
                                                 tmp_path: Path) -> None:
    _, bare = origin
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    clone.data("fetch")
    _written_without_index_update(clone, "data/a.bin")
    edited = bytearray(FILES["data/a.bin"])
    edited[7] ^= 1
    clone.write("data/a.bin", bytes(edited))
    clone.data("checkout")
    assert clone.git("status", "--porcelain").stdout == " M data/a.bin\n"
    assert clone.read("data/a.bin") == bytes(edited)


# ----- a checkout hook killed before it was done --------------------------------------------
@pytest.fixture
def switcher(team: tuple[Repo, Path], tmp_path: Path) -> Repo:
    """A clone of main whose branch `other` has large files (one with a newline and a
    backslash in its name) that a switch hands to the post-checkout hook."""
    repo, bare = team
    repo.write("data/small.bin", b"s" * 900)
    repo.commit_all("main")
    repo.git("switch", "-qc", "other")
    repo.write("data/big.bin", random_bytes(160_000, seed=5))
    repo.write(NEWLINE_NAME, random_bytes(170_000, seed=6))
    repo.commit_all("other")
    repo.git("push", "-q", "origin", "main", "other")
    Repo(tmp_path).data("clone", str(bare), "copy")
    copy = Repo(tmp_path / "copy")
    copy.git("config", "data.directCheckoutMinSize", str(MIN))
    return copy


def test_a_name_with_a_newline_is_written_by_the_hook(switcher: Repo) -> None:
    switcher.git("switch", "-q", "other")
    assert switcher.read(NEWLINE_NAME) == random_bytes(170_000, seed=6)
    assert switcher.read("data/big.bin") == random_bytes(160_000, seed=5)
    assert switcher.git("status", "--porcelain").stdout == ""


def test_a_hook_killed_after_taking_the_record_is_finished_next_time(switcher: Repo) -> None:
    """The state a post-checkout hook killed right after it took the record leaves: the two
    large files still their pointers (as the filter answered them), the record taken."""
    switcher.git("switch", "-q", "other")
    git_dir = switcher.path / ".git"
    names = ["data/big.bin", NEWLINE_NAME]
    for name in names:
        (switcher.path / name).write_text(switcher.git("show", f":{name}").stdout)
    switcher.git("update-index", "-q", "--refresh")
    (git_dir / "data" / "checkout-direct").write_text("".join(
        f"{oid} {size} {direct.escape(path)}\n" for oid, size, path in _pointers(switcher,
                                                                                  names)))
    assert len(direct.take_records(git_dir)) == 2  # ... and here the hook died
    result = switcher.git("switch", "other")  # again: "Already on 'other'", the hook runs
    assert switcher.read("data/big.bin") == random_bytes(160_000, seed=5)
    assert switcher.read(NEWLINE_NAME) == random_bytes(170_000, seed=6)
    assert switcher.git("status", "--porcelain").stdout == ""
    assert "stay pointers" not in result.stderr
    assert not list((git_dir / "data").glob("checkout-direct*"))


def test_a_file_left_a_pointer_stays_recorded_with_a_warning(switcher: Repo,
                                                             team: tuple[Repo, Path],
                                                             tmp_path: Path) -> None:
    _, bare = team
    oid = _pointers(switcher, ["data/big.bin"], "origin/other")[0][0]
    hexdigest = oid.split(":")[1]
    stored = bare / "data" / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest
    aside = tmp_path / "aside"
    shutil.move(stored, aside)
    first = switcher.git("switch", "-q", "other")
    assert switcher.read("data/big.bin").startswith(b"version git-data/1\n")
    assert "stay pointers" in first.stderr and "data/big.bin" in first.stderr
    shutil.move(aside, stored)  # the store has it again: the next checkout finishes
    switcher.git("switch", "-q", "other")
    assert switcher.read("data/big.bin") == random_bytes(160_000, seed=5)
    assert switcher.git("status", "--porcelain").stdout == ""
    assert not list((switcher.path / ".git" / "data").glob("checkout-direct*"))


def _pointers(repo: Repo, names: list[str], rev: str = "") -> list[tuple[str, int, str]]:
    found = []
    for name in names:
        text = repo.git("show", f"{rev}:{name}").stdout
        oid = text.split("oid ")[1].split("\n")[0]
        size = int(text.split("size ")[1].split("\n")[0])
        found.append((oid, size, name))
    return found
