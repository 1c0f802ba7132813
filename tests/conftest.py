"""Shared fixtures: every test gets a private HOME (no user or system git config leaks in),
and fresh repositories built by helpers, with a real git and the real `git-data` executable.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _git_data_on_path(env: dict[str, str]) -> None:
    """Make sure the `git-data` of this checkout's interpreter is the one git runs."""
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_DATA_NO_PROGRESS", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_DATA_CACHE_DIR", "GIT_DATA_SKIP_SMUDGE"):
        monkeypatch.delenv(var, raising=False)
    env = dict(os.environ)
    _git_data_on_path(env)
    monkeypatch.setenv("PATH", env["PATH"])
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n"
                                     "\temail = test@example.com\n")
    yield home


class Repo:
    """A test repository: run git and git-data in it, read and write files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, check: bool = True, input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), cwd=self.path, capture_output=True,
                              input=input.decode() if input else None, text=True,
                              env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def git(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, **kw)  # type: ignore[arg-type]

    def data(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("git-data", *args, **kw)  # type: ignore[arg-type]

    def write(self, rel: str, content: bytes) -> Path:
        full = self.path / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content)
        return full

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def commit_all(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    @property
    def cache(self) -> Path:
        return self.path / ".git" / "data"

    def cache_objects(self) -> list[Path]:
        objects = self.cache / "objects"
        return sorted(p for p in objects.rglob("*") if p.is_file()) if objects.exists() else []


def make_repo(path: Path, track: tuple[str, ...] = ("*.bin", "data/**")) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path)
    repo.git("init", "-q")
    repo.data("install")
    if track:
        repo.data("track", *track)
    return repo


def repo_with_s3_store(tmp_path: Path, store_url: str, endpoint: str) -> tuple[Repo, Path]:
    """A repository in ``tmp_path/work`` whose git remote is a new bare ``team.git`` and
    whose default data remote is the S3 ``store_url`` reached at ``endpoint`` (a fault
    proxy's, say; the caller's git config must trust it)."""
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", store_url, "--endpoint-url", endpoint, "--default")
    return repo, bare


def store_objects(store: Path) -> dict[str, Path]:
    """The objects a local-folder store holds, by file name."""
    objects = store / "objects"
    return {p.name: p for p in objects.rglob("*") if p.is_file()} if objects.exists() else {}


def populate(repo: Repo, files: dict[str, bytes], message: str = "data") -> str:
    """Write ``files`` into the work tree and commit everything; returns the commit."""
    for name, content in files.items():
        repo.write(name, content)
    return repo.commit_all(message)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A fresh repository with git-data installed, tracking *.bin and data/**."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def team(tmp_path: Path, repo: Repo) -> tuple[Repo, Path]:
    """``repo`` with a bare 'team' repository as origin (its embedded data store)."""
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    return repo, bare


def random_bytes(n: int, seed: int = 0) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


class OneWay(io.RawIOBase):
    """A non-seekable stream, like a download from a store. ``chunk`` caps each read so that
    records and headers are split across reads."""

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        size = len(buffer) if self._chunk is None else min(len(buffer), self._chunk)
        chunk = self._data.read(size)
        buffer[:len(chunk)] = chunk
        return len(chunk)


# ----- Slurm (tests/slurm.py) ------------------------------------------------------------
@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real one-node Slurm cluster (one CPU: a second job waits behind the first)."""
    import slurm

    why = slurm.missing()
    if why:
        pytest.skip(why)
    cluster = slurm.start(tmp_path_factory.mktemp("slurm"), cpus=1)
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm_env(slurm_cluster: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The cluster, with SLURM_CONF set for this test's git-data processes; every job the
    test left is cancelled after it, so the next test finds the node free."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))  # type: ignore[attr-defined]
    yield slurm_cluster
    slurm_cluster.cancel_all()  # type: ignore[attr-defined]
