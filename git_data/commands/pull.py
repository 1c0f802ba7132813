"""`git data pull` (fetch, then write the files) and `git data checkout` (write the files
from what the cache already has)."""

from __future__ import annotations

from ..cache import Cache
from ..config import Config, refuse_weak_pointers
from ..fetch import pull_files, wanted
from ..gitrepo import Repo
from ..materialize import materialize
from ..progress import note
from ..selection import select
from .install import warn_unless_filter


def pull(repo: Repo, remote_name: str | None, include: list[str] | None,
         exclude: list[str] | None, revs: list[str], quiet: bool) -> int:
    warn_unless_filter(repo)  # without the filter, git would store data files as they are
    config = Config(repo)
    entries = select(repo.index_pointers(), include, exclude)
    if revs:
        entries = wanted(repo, revs, include, exclude)
    result, written, _ = pull_files(repo, config, entries, remote_name, quiet)
    if not quiet and not result.done and not result.failed:
        note(f"nothing to fetch: every object is in the cache; wrote {written} file(s)")
    elif not quiet:
        note(f"pulled {len(result.done)} object(s); wrote {written} file(s)")
    result.raise_for_failures("download")
    return 0


def checkout(repo: Repo, include: list[str] | None, exclude: list[str] | None,
             quiet: bool) -> int:
    config = Config(repo)
    entries = select(repo.index_pointers(), include, exclude)
    refuse_weak_pointers(entries, config.require_hash)
    written, missing = materialize(repo, Cache(config.cache_dir), entries)
    if not quiet:
        note(f"wrote {written} file(s)" + (f"; {missing} not in the cache (run `git data "
                                           "pull`)" if missing else ""))
    return 0
