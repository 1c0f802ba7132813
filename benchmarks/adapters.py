"""The three tools behind one interface: each verb returns the commands a user would type.

A run directory holds ``team.git`` (bare git remote), ``work`` (where data is added) and
``store`` (DVC's local-directory remote). Choices, so the comparison is like for like:

- git-data: the data store of a local git remote is ``team.git/data`` (embedded default);
  with --s3 a ``.gitdata`` remote on the S3 server. Clone is ``git data clone``.
- git-lfs: has no plain-directory remote, but git-lfs 3.x transfers natively to a ``file://``
  (or plain path) git remote: objects go to ``team.git/lfs/objects``. ``git lfs install``
  writes the global filter config into the run's own $HOME, so plain ``git clone`` smudges.
  git-lfs has no S3 backend.
- DVC: ``dvc add data`` (the folder as one output), a local-directory or S3 remote, clone is
  ``git clone`` + ``dvc pull``, branch switch is ``git switch`` + ``dvc pull``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import Cmd, cmd

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


class ToolUnavailable(RuntimeError):
    """The tool could not be found or installed; all its figures show as FAILED."""


@dataclass
class Ctx:
    """Paths and settings of one fresh run directory."""

    root: Path
    backend: str = "local"  # "local" or "s3"
    s3_url: str = ""  # s3://bucket/prefix, unique per run
    endpoint: str = ""

    @property
    def bare(self) -> Path:
        return self.root / "team.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def store(self) -> Path:
        return self.root / "store"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> Cmd:
    return cmd(["git", *args], repo, env)


def which(name: str) -> str | None:
    beside = BIN / name
    return str(beside) if beside.exists() else shutil.which(name)


def version_of(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


class Tool:
    """Base: the git-level verbs shared by git-data and git-lfs."""

    key = ""
    label = ""
    backends: tuple[str, ...] = ("local", "s3")

    def ensure(self) -> str:
        """Find (or install) the tool; return its version line."""
        raise NotImplementedError

    def home_setup(self, home: Path) -> list[Cmd]:
        return []

    def init(self, ctx: Ctx) -> list[Cmd]:
        """Tool set-up inside ``work`` after ``git init`` and ``git remote add`` (untimed)."""
        return []

    def add_commit(self, ctx: Ctx, first: bool, message: str) -> list[Cmd]:
        raise NotImplementedError

    def push(self, ctx: Ctx, branch: str) -> list[Cmd]:
        return [git(ctx.work, "push", "-q", "origin", branch)]

    def clone(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        raise NotImplementedError

    def clone_no_data(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        raise NotImplementedError

    def pull_folder(self, ctx: Ctx, repo: Path, folder: str) -> list[Cmd]:
        raise NotImplementedError

    def pull(self, repo: Path) -> list[Cmd]:
        """Bring an existing clone up to date with the remote, data included."""
        return [git(repo, "pull", "-q")]

    def switch(self, repo: Path, branch: str) -> list[Cmd]:
        """Switch branch and have that branch's data in the work tree (fetching it)."""
        return [git(repo, "switch", "-q", branch)]

    def checkout_local(self, repo: Path, branch: str) -> list[Cmd]:
        """Switch back to a branch whose data the local cache already holds."""
        return [git(repo, "switch", "-q", branch)]

    def status_tool(self, repo: Path) -> list[Cmd]:
        raise NotImplementedError


class GitData(Tool):
    key, label = "gitdata", "git-data"

    def ensure(self) -> str:
        exe = which("git-data")
        if exe is None:
            raise ToolUnavailable("git-data is not installed (pip install -e . in the repo)")
        return version_of([exe, "--version"])

    def init(self, ctx: Ctx) -> list[Cmd]:
        cmds = [git(ctx.work, "data", "install")]
        if ctx.backend == "s3":
            cmds.append(git(ctx.work, "data", "remote", "add", "origin", ctx.s3_url,
                            "--default", "--endpoint-url", ctx.endpoint))
            # the run's user trusts the loopback server: a clone then reads the store the
            # committed .gitdata names, as a user's clone would after this one-time setting
            cmds.append(git(ctx.work, "config", "--global", "--add", "data.trustedEndpoint",
                            ctx.endpoint))
        return cmds

    def add_commit(self, ctx: Ctx, first: bool, message: str) -> list[Cmd]:
        track = [git(ctx.work, "data", "track", "data/**")] if first else []
        return [*track, git(ctx.work, "add", "-A"), git(ctx.work, "commit", "-q", "-m", message)]

    def clone(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "data", "clone", str(ctx.bare), str(dest))]

    def clone_no_data(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "data", "clone", "--no-data", str(ctx.bare), str(dest))]

    def pull_folder(self, ctx: Ctx, repo: Path, folder: str) -> list[Cmd]:
        return [git(repo, "data", "pull", "--include", f"{folder}/**")]

    def status_tool(self, repo: Path) -> list[Cmd]:
        return [git(repo, "data", "status")]


class GitLfs(Tool):
    key, label = "lfs", "git-lfs"
    backends = ("local",)

    def ensure(self) -> str:
        if shutil.which("git-lfs") is None:
            install_git_lfs()
        return version_of(["git", "lfs", "version"])

    def home_setup(self, home: Path) -> list[Cmd]:
        return [cmd(["git", "lfs", "install", "--skip-repo"], home)]

    def init(self, ctx: Ctx) -> list[Cmd]:
        return [git(ctx.work, "lfs", "install", "--local")]

    def add_commit(self, ctx: Ctx, first: bool, message: str) -> list[Cmd]:
        track = [git(ctx.work, "lfs", "track", "data/**")] if first else []
        return [*track, git(ctx.work, "add", "-A"), git(ctx.work, "commit", "-q", "-m", message)]

    def clone(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "clone", "-q", str(ctx.bare), str(dest))]

    def clone_no_data(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "clone", "-q", str(ctx.bare), str(dest),
                    env={"GIT_LFS_SKIP_SMUDGE": "1"})]

    def pull_folder(self, ctx: Ctx, repo: Path, folder: str) -> list[Cmd]:
        return [git(repo, "lfs", "pull", "-I", f"{folder}/**")]

    def status_tool(self, repo: Path) -> list[Cmd]:
        return [git(repo, "lfs", "status")]


class Dvc(Tool):
    key, label = "dvc", "DVC"

    def __init__(self) -> None:
        self.exe = "dvc"

    def ensure(self) -> str:
        if importlib.util.find_spec("dvc") is None or which("dvc") is None:
            pip_install(["-r", str(HERE / "requirements.txt")])
        exe = which("dvc")
        if exe is None:
            raise ToolUnavailable("dvc is still missing after pip install")
        self.exe = exe
        return "dvc " + version_of([exe, "--version"])

    def dvc(self, repo: Path, *args: str) -> Cmd:
        return cmd([self.exe, *args], repo)

    def init(self, ctx: Ctx) -> list[Cmd]:
        cmds = [self.dvc(ctx.work, "init", "-q")]
        if ctx.backend == "s3":
            cmds += [self.dvc(ctx.work, "remote", "add", "-d", "store", ctx.s3_url),
                     self.dvc(ctx.work, "remote", "modify", "store", "endpointurl", ctx.endpoint)]
        else:
            cmds.append(self.dvc(ctx.work, "remote", "add", "-d", "store", str(ctx.store)))
        return cmds

    def add_commit(self, ctx: Ctx, first: bool, message: str) -> list[Cmd]:
        return [self.dvc(ctx.work, "add", "-q", "data"), git(ctx.work, "add", "-A"),
                git(ctx.work, "commit", "-q", "-m", message)]

    def push(self, ctx: Ctx, branch: str) -> list[Cmd]:
        return [self.dvc(ctx.work, "push", "-q"), *super().push(ctx, branch)]

    def clone(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "clone", "-q", str(ctx.bare), str(dest)),
                self.dvc(dest, "pull", "-q")]

    def clone_no_data(self, ctx: Ctx, dest: Path) -> list[Cmd]:
        return [git(ctx.root, "clone", "-q", str(ctx.bare), str(dest))]

    def pull_folder(self, ctx: Ctx, repo: Path, folder: str) -> list[Cmd]:
        return [self.dvc(repo, "pull", "-q", folder)]

    def pull(self, repo: Path) -> list[Cmd]:
        return [*super().pull(repo), self.dvc(repo, "pull", "-q")]

    def switch(self, repo: Path, branch: str) -> list[Cmd]:
        return [*super().switch(repo, branch), self.dvc(repo, "pull", "-q")]

    def checkout_local(self, repo: Path, branch: str) -> list[Cmd]:
        return [*super().switch(repo, branch), self.dvc(repo, "checkout", "-q")]

    def status_tool(self, repo: Path) -> list[Cmd]:
        return [self.dvc(repo, "status", "-q")]


TOOLS: dict[str, type[Tool]] = {"gitdata": GitData, "lfs": GitLfs, "dvc": Dvc}


def pip_install(args: list[str]) -> None:
    argv = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    print("installing:", " ".join(argv[3:]), flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode:
        raise ToolUnavailable(f"pip install failed: {proc.stderr.strip()[-300:]}")


def install_git_lfs() -> None:
    """apt-get install git-lfs (Debian package), only possible as root."""
    if os.geteuid() != 0:
        raise ToolUnavailable("git-lfs is missing; install it (apt-get install git-lfs)")
    print("installing: git-lfs (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "git-lfs"]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise ToolUnavailable(f"{' '.join(argv)} failed: {proc.stderr.strip()[-300:]}")
    if shutil.which("git-lfs") is None:
        raise ToolUnavailable("git-lfs still missing after apt-get install")
