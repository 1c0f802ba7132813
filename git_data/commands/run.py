"""`git data run [options] -- COMMAND...`: run COMMAND on a host from the exact commit."""

from __future__ import annotations

from ..gitrepo import Repo
from ..runner.launch import RunOptions, launch


def run(repo: Repo, options: RunOptions) -> int:
    return launch(repo, options)
