"""`git data fetch [REMOTE] [--include GLOB] [--exclude GLOB] [REV...]`: download into the cache
the objects that the named revisions (default HEAD) need."""

from __future__ import annotations

from ..config import Config
from ..errors import FatalError
from ..fetch import download, wanted
from ..gitrepo import Repo
from ..progress import note


def fetch(repo: Repo, remote_name: str | None, include: list[str] | None,
          exclude: list[str] | None, revs: list[str], quiet: bool) -> int:
    config = Config(repo)
    entries = wanted(repo, revs, include, exclude)
    if not entries and (include or exclude):
        raise FatalError(f"no data files match --include {include or []} --exclude "
                         f"{exclude or []}; `git data ls-files` lists them")
    result = download(repo, config, entries, remote_name, quiet)
    if not quiet:
        note(f"fetched {len(result.done)} object(s), {len(result.skipped)} already cached")
    result.raise_for_failures("download")
    return 0
