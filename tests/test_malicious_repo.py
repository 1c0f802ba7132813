"""A repository whose content is hostile: symlinks committed at every name git-data used to
write through (its old predictable temporary names) and symlinked folders, cache objects
tampered with after they were cached, and half-written files left by killed commands.

Each case checks that the target outside the repository keeps its bytes and its mode, and
that the command either writes the right file or refuses in one line naming the path."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import direct

BIG = random_bytes(150_000, seed=7)
SECRET = b"export PATH=/usr/bin  # the user's own file\n"


def _victim(tmp_path: Path) -> Path:
    """A file outside every repository that a redirected write would land in."""
    folder = tmp_path / "outside"
    folder.mkdir(exist_ok=True)
    victim = folder / "bashrc"
    victim.write_bytes(SECRET)
    victim.chmod(0o600)
    return victim


def _assert_untouched(victim: Path) -> None:
    assert victim.read_bytes() == SECRET
    assert stat.S_IMODE(victim.lstat().st_mode) == 0o600


def _git_data_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("git-data:")]


def _hostile_source(team: tuple[Repo, Path], victim: Path) -> tuple[Repo, Path]:
    """main holds data/big.bin and a symlink to ``victim`` at the temporary name the old
    code wrote it through (and at the old .gitattributes one)."""
    repo, bare = team
    repo.write("data/big.bin", BIG)
    os.symlink(victim, repo.path / "data" / ".big.bin.git-data-tmp")
    os.symlink(victim, repo.path / ".gitattributes.tmp")
    repo.git("add", "-f", "data/.big.bin.git-data-tmp")  # info/exclude keeps the name out
    repo.commit_all("data and traps")
    repo.git("push", "-q", "origin", "main")
    return repo, bare


@pytest.mark.parametrize("how", ["clone", "pull", "switch"])
def test_planted_temporary_name_is_never_written_through(team: tuple[Repo, Path],
                                                         tmp_path: Path, how: str) -> None:
    victim = _victim(tmp_path)
    source, bare = team
    if how == "switch":  # the trap arrives with a branch; the hook writes the file
        source.write("readme.txt", b"hello\n")
        source.commit_all("start")
        source.git("push", "-q", "origin", "main")
        source.git("switch", "-qc", "other")
        _hostile_source((source, bare), victim)
        source.git("push", "-q", "origin", "other")
        Repo(tmp_path).data("clone", str(bare), "copy")
        copy = Repo(tmp_path / "copy")
        copy.git("config", "data.directCheckoutMinSize", "100000")
        copy.git("switch", "-q", "other")
    else:
        _hostile_source(team, victim)
        args = ["--no-data"] if how == "pull" else []
        Repo(tmp_path).data("clone", *args, str(bare), "copy")
        copy = Repo(tmp_path / "copy")
        if how == "pull":
            copy.data("pull")
    _assert_untouched(victim)
    assert copy.read("data/big.bin") == BIG
    assert (copy.path / "data" / ".big.bin.git-data-tmp").is_symlink()  # left as committed
    assert copy.git("status", "--porcelain").stdout == ""


def test_track_never_writes_through_planted_names(team: tuple[Repo, Path],
                                                  tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    _, bare = _hostile_source(team, victim)
    Repo(tmp_path).data("clone", str(bare), "copy")
    copy = Repo(tmp_path / "copy")
    copy.data("track", "*.csv")
    _assert_untouched(victim)
    assert '*.csv filter=data' in copy.read(".gitattributes").decode()
    assert (copy.path / ".gitattributes.tmp").is_symlink()


def test_track_refuses_a_symlinked_gitattributes(repo: Repo, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    attributes = repo.path / ".gitattributes"
    attributes.unlink()
    os.symlink(victim, attributes)
    result = repo.data("track", "*.csv", check=False)
    assert result.returncode != 0
    lines = _git_data_lines(result.stderr)
    assert len(lines) == 1 and ".gitattributes" in lines[0] and "symlink" in lines[0]
    _assert_untouched(victim)


def test_install_never_writes_through_a_planted_hook_name(repo: Repo, tmp_path: Path) -> None:
    """A project that commits its hooks folder and asks for core.hooksPath = hooks."""
    victim = _victim(tmp_path)
    hooks = repo.path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "pre-push", "post-checkout", "post-merge"):
        os.symlink(victim, hooks / f".{hook}.tmp")
    repo.git("config", "core.hooksPath", "hooks")
    repo.data("install")
    _assert_untouched(victim)
    assert "git-data hook shim" in (hooks / "pre-commit").read_text()
    assert stat.S_IMODE((hooks / "pre-commit").stat().st_mode) == 0o755


def _no_data_clone(team: tuple[Repo, Path], tmp_path: Path, name: str = "copy") -> Repo:
    Repo(tmp_path).data("clone", "--no-data", str(team[1]), name)
    return Repo(tmp_path / name)


def _published(team: tuple[Repo, Path]) -> None:
    repo, _ = team
    repo.write("data/big.bin", BIG)
    repo.write("data/small.bin", b"s" * 900)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "main")


@pytest.mark.parametrize("command", ["pull", "checkout"])
def test_symlinked_folder_is_refused(team: tuple[Repo, Path], tmp_path: Path,
                                     command: str) -> None:
    """``data`` replaced by a link to another checkout whose files are the same pointers."""
    _published(team)
    other = _no_data_clone(team, tmp_path, "other")
    before = {p: other.read(f"data/{p}") for p in ("big.bin", "small.bin")}
    copy = _no_data_clone(team, tmp_path)
    if command == "checkout":
        copy.data("fetch")
    os.rename(copy.path / "data", tmp_path / "moved-away")
    os.symlink(other.path / "data", copy.path / "data")
    result = copy.data(command, check=False)
    assert result.returncode != 0
    lines = _git_data_lines(result.stderr)
    assert len(lines) == 1 and "data/big.bin" in lines[0] and "symlink" in lines[0]
    assert {p: other.read(f"data/{p}") for p in before} == before
    assert (copy.path / "data").is_symlink()


def test_committed_symlinked_folder_with_a_leftover_record(team: tuple[Repo, Path],
                                                           tmp_path: Path) -> None:
    """A checkout that died before its hook left a record naming data/big.bin; the next
    switch goes to a branch where ``data`` is a committed link into another checkout. The
    hook that finishes the record must not write through it."""
    _published(team)
    repo, bare = team
    other = _no_data_clone(team, tmp_path, "other")
    before = other.read("data/big.bin")
    repo.git("switch", "-qc", "linked")
    repo.git("rm", "-rq", "data")
    os.symlink(other.path / "data", repo.path / "data")
    repo.commit_all("data is a link now")
    repo.git("push", "-q", "origin", "linked")
    copy = _no_data_clone(team, tmp_path)
    oid = before.decode().split("oid ")[1].split()[0]
    record = direct.record_path(copy.path / ".git")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(f"{oid} {len(BIG)} data/big.bin\n")
    result = copy.git("switch", "-q", "linked", check=False)
    assert other.read("data/big.bin") == before
    assert (copy.path / "data").is_symlink()
    lines = _git_data_lines(result.stderr)
    assert len(lines) == 1 and "data/big.bin" in lines[0]


def _pointer_text(repo: Repo, path: str) -> bytes:
    return subprocess.run(["git", "cat-file", "blob", f":{path}"], cwd=repo.path,
                          capture_output=True, check=True).stdout


def _tamper(path: Path, grow: bool) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    if grow:
        data += b"more"
    else:
        data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    path.chmod(0o444)


@pytest.mark.parametrize("grow", [False, True], ids=["same-size", "other-size"])
@pytest.mark.parametrize("command", ["checkout", "pull"])
def test_tampered_cache_object_is_not_copied(team: tuple[Repo, Path], tmp_path: Path,
                                             grow: bool, command: str) -> None:
    _published(team)
    Repo(tmp_path).data("clone", str(team[1]), "copy")
    copy = Repo(tmp_path / "copy")
    pointer_text = _pointer_text(copy, "data/big.bin")
    oid = pointer_text.decode().split("oid ")[1].split()[0]
    digest = oid.split(":")[1]
    _tamper(copy.cache / "objects" / digest[:2] / digest[2:4] / digest, grow)
    (copy.path / "data/big.bin").write_bytes(pointer_text)  # as a checkout without data
    result = copy.data(command, check=False)
    assert result.returncode != 0
    lines = _git_data_lines(result.stderr)
    assert len(lines) == 1 and "data/big.bin" in lines[0] and "corrupt" in lines[0]
    assert copy.read("data/big.bin") == pointer_text  # the pointer kept


def test_tampered_cache_object_is_not_copied_by_switch(team: tuple[Repo, Path],
                                                       tmp_path: Path) -> None:
    repo, bare = team
    repo.write("readme.txt", b"hello\n")
    repo.commit_all("start")
    repo.git("switch", "-qc", "other")
    repo.write("data/big.bin", BIG)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "main", "other")
    Repo(tmp_path).data("clone", str(bare), "copy")
    copy = Repo(tmp_path / "copy")
    copy.git("config", "data.directCheckoutMinSize", "100000")
    copy.git("switch", "-q", "other")  # caches the object
    copy.git("switch", "-q", "main")
    oid = _pointer_text(Repo(repo.path), "data/big.bin").decode().split("oid ")[1].split()[0]
    digest = oid.split(":")[1]
    _tamper(copy.cache / "objects" / digest[:2] / digest[2:4] / digest, grow=False)
    result = copy.git("switch", "-q", "other", check=False)
    lines = _git_data_lines(result.stderr)
    assert len(lines) == 1 and "data/big.bin" in lines[0] and "corrupt" in lines[0]
    assert copy.read("data/big.bin") != BIG[:100] + bytes([BIG[100] ^ 0xFF]) + BIG[101:]
    assert b"oid " + oid.encode() in copy.read("data/big.bin")


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_work_tree_temporaries_are_swept_and_never_committed(
        team: tuple[Repo, Path], tmp_path: Path) -> None:
    _published(team)
    copy = _no_data_clone(team, tmp_path)
    exclude = copy.path / ".git" / "info" / "exclude"
    assert "*.git-data-tmp" in exclude.read_text().splitlines()  # by install, at clone
    exclude.write_text("# as installed by an earlier version\n")  # pull adds it again
    stale = copy.write("data/.big.bin.0123456789abcdef.git-data-tmp", b"half" * 1000)
    _age(stale, 7200)
    fresh = copy.write("data/.small.bin.fedcba9876543210.git-data-tmp", b"half")
    killed = copy.write("data/.other.bin.00112233aabbccdd.git-data-tmp", b"half")
    _age(killed, 5)  # a writer killed seconds ago: its lock is gone
    with open(fresh, "rb") as held:  # another pull's, still being written: its lock is held
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        copy.data("pull")
    assert not stale.exists() and not killed.exists()
    assert fresh.exists()
    copy.git("add", "-A")
    assert copy.git("status", "--porcelain").stdout == ""
    assert ".git-data-tmp" not in copy.git("ls-files").stdout


def test_stale_store_temporaries_are_swept_at_the_next_push(team: tuple[Repo, Path]) -> None:
    _published(team)
    repo, bare = team
    tmp = bare / "data" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale = tmp / ".abc.0123456789abcdef.git-data-tmp"
    stale.write_bytes(b"partial" * 1000)
    legacy = tmp / f"{'a' * 32}.abc"  # the name earlier versions gave a partial copy
    legacy.write_bytes(b"partial")
    for path in (stale, legacy):
        _age(path, 7200)
    fresh = tmp / ".def.fedcba9876543210.git-data-tmp"
    fresh.write_bytes(b"partial")
    repo.write("data/new.bin", random_bytes(5000, seed=9))
    repo.commit_all("more")
    repo.git("push", "-q", "origin", "main")
    assert not stale.exists() and not legacy.exists()
    assert fresh.exists()


def test_local_store_never_writes_through_planted_links(tmp_path: Path) -> None:
    """A shared store folder is content others can write: a link at a key, at tmp/ or at
    a folder on a key's way is never followed."""
    from git_data.safeio import UnsafePath
    from git_data.store import open_store

    victim = _victim(tmp_path)
    root = tmp_path / "store"
    (root / "branches").mkdir(parents=True)
    os.symlink(victim, root / "branches" / "main.json")
    os.symlink(victim.parent, root / "runs")
    store = open_store(str(root))
    store.write_json("branches/main.json", {"branch": "main"})
    assert not (root / "branches" / "main.json").is_symlink()
    with pytest.raises(UnsafePath):
        store.create_exclusive("runs/1/run.json", b"{}")
    os.symlink(victim, root / "claimed")
    assert store.create_exclusive("claimed", b"payload") is False
    (root / "tmp").rmdir()
    os.symlink(victim.parent, root / "tmp")
    with pytest.raises(UnsafePath):
        store.write_bytes("branches/x.json", b"payload")
    _assert_untouched(victim)
    assert sorted(os.listdir(victim.parent)) == ["bashrc"]
