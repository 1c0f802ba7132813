"""Everyday git commands with data files: stash, merge, reset, and the progress display."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from conftest import Repo, random_bytes


def test_stash_and_pop(repo: Repo) -> None:
    original = random_bytes(100_000, seed=1)
    repo.write("data/a.bin", original)
    repo.commit_all()
    edited = random_bytes(100_000, seed=2)
    repo.write("data/a.bin", edited)
    repo.git("stash", "-q")
    assert repo.read("data/a.bin") == original
    repo.git("stash", "pop", "-q")
    assert repo.read("data/a.bin") == edited


def test_reset_hard_restores_bytes(repo: Repo) -> None:
    v1 = random_bytes(70_000, seed=3)
    repo.write("data/a.bin", v1)
    repo.commit_all()
    repo.write("data/a.bin", b"scratch")
    repo.git("reset", "-q", "--hard")
    assert repo.read("data/a.bin") == v1
    assert repo.git("status", "--porcelain").stdout == ""


def run_in_pty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run a command with stderr and stdout on a pseudo-terminal; returns (exit, output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, stdin=follower, stdout=follower, stderr=follower,
                            env={k: v for k, v in os.environ.items()
                                 if k != "GIT_DATA_NO_PROGRESS"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def test_progress_on_terminal_quiet_in_pipes(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    for i in range(20):
        repo.write(f"data/f{i}.bin", random_bytes(200_000, seed=i))
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "c1", "--no-data")
    code, shown = run_in_pty(["git-data", "pull"], tmp_path / "c1")
    assert code == 0
    # counts on the terminal; a rate only once a transfer has run for a second (this one is
    # quicker: tests/test_progress.py checks rates through a slowed proxy)
    assert "Downloading data: 20/20 files, 4.0 MB/4.0 MB" in shown
    Repo(tmp_path).data("clone", str(bare), "c2", "--no-data")
    piped = subprocess.run(["git-data", "pull"], cwd=tmp_path / "c2", capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items()
                                           if k != "GIT_DATA_NO_PROGRESS"})
    assert "Downloading data" not in piped.stderr
    Repo(tmp_path).data("clone", str(bare), "c3", "--no-data")
    code, shown = run_in_pty(["git-data", "-q", "pull"], tmp_path / "c3")
    assert code == 0 and shown.strip() == ""


def test_remote_add_list_remove(repo: Repo) -> None:
    repo.data("remote", "add", "origin", "file:///srv/team-data", "--default")
    repo.data("remote", "add", "mine", "file:///tmp/mine", "--personal")
    shared = (repo.path / ".gitdata").read_text()
    assert "file:///srv/team-data" in shared and "/tmp/mine" not in shared
    listed = repo.data("remote", "list").stdout.splitlines()
    assert "origin\tfile:///srv/team-data  (default)" in listed
    assert "mine\tfile:///tmp/mine" in listed
    repo.data("remote", "remove", "origin")
    assert "team-data" not in (repo.path / ".gitdata").read_text()
    proc = repo.data("remote", "remove", "nothing", check=False)
    assert proc.returncode == 1 and "nothing" in proc.stderr
