"""`git data clone URL [DIR]`: clone with smudging off (pointers only, fast), install
git-data in the clone, then download the data in parallel and write the files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import note
from .install import install_here
from .pull import pull


def clone(url: str, directory: str | None, no_data: bool, include: list[str] | None,
          exclude: list[str] | None, quiet: bool, git_args: tuple[str, ...] = ()) -> int:
    target = directory or Path(url.rstrip("/")).name.removesuffix(".git") or "repo"
    env = dict(os.environ, GIT_DATA_SKIP_SMUDGE="1")
    cmd = ["git", "clone", *(["-q"] if quiet else []), *git_args, url, target]
    # A global filter would try to fetch during git's own checkout; we fetch afterwards, in
    # parallel, for exactly the files asked for.
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise FatalError(f"git clone of {url} failed (exit {proc.returncode}); see git's "
                         "message above", code=proc.returncode)
    repo = Repo(target)
    install_here(repo)
    if no_data:
        if not quiet:
            note(f"cloned {url} into {target} without data; `git data pull` fetches it")
        return 0
    old = os.getcwd()
    os.chdir(repo.root)
    try:
        return pull(Repo("."), None, include, exclude, [], quiet)
    finally:
        os.chdir(old)
