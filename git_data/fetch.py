"""Downloading data into the cache and writing it into the work tree: the way back of push.py.

    pointer entries (a revision's, the index's, or a direct checkout's record)
      -> stores_for: the named remote, else the branch's read order (.gitdata routes, then
         the default, then any other store)
      -> download: transfer.TransferQueue.download (de-duplicated, bulk "have" checks,
         parallel, verified) into the cache
      -> pull_files: then materialize.py writes each file that is still its pointer text

Used by `git data fetch`/`pull`/`clone --sample`, the post-checkout hook (files the filter
left as pointers) and direct checkout (direct.py). Nothing here prints beyond
``progress``; the commands say what was done.
"""

from __future__ import annotations

from .cache import Cache
from .config import Config, refuse_weak_pointers
from .errors import FatalError
from .gitrepo import PointerEntry, Repo
from .materialize import materialize
from .selection import select
from .store.remotes import Remote, read_order, resolve
from .transfer import Item, Result, TransferQueue


def wanted(repo: Repo, revs: list[str], include: list[str] | None,
           exclude: list[str] | None) -> list[PointerEntry]:
    """The pointer entries of ``revs`` (default HEAD; none in a repository without commits)
    matching the --include/--exclude globs."""
    entries: list[PointerEntry] = []
    for rev in revs or ["HEAD"]:
        if rev == "HEAD" and repo.head_commit() is None:
            continue
        entries.extend(repo.rev_pointers(rev))
    return select(entries, include, exclude)


def stores_for(repo: Repo, config: Config, remote_name: str | None) -> list[Remote]:
    if remote_name:
        return [resolve(repo, config, remote_name)]
    order = read_order(repo, config, repo.current_branch())
    if not order:
        resolve(repo, config)  # raises the one-line "how to add a store" error
    return order


def download(repo: Repo, config: Config, entries: list[PointerEntry], remote_name: str | None,
             quiet: bool) -> Result:
    """Into the cache, what it lacks of ``entries``; failures are in the Result."""
    refuse_weak_pointers(entries, config.require_hash)
    queue = TransferQueue.for_repo(config, quiet=quiet)
    try:
        remotes = stores_for(repo, config, remote_name)
    except FatalError:
        if remote_name or any(not queue.cache.has(e.oid) for e in entries):
            raise  # a remote named by hand must exist; a missing object needs a store
        remotes = []  # everything is cached: nothing to fetch needs no store
    stores = [r.open() for r in remotes]
    return queue.download((Item(e.oid, e.size, e.path) for e in entries), stores)


def pull_files(repo: Repo, config: Config, entries: list[PointerEntry],
               remote_name: str | None, quiet: bool) -> tuple[Result, int, int]:
    """Download ``entries``, then write the files that are still their pointer text:
    (the download's Result, files written, files left without data)."""
    result = download(repo, config, entries, remote_name, quiet)
    written, missing = materialize(repo, Cache(config.cache_dir), entries)
    return result, written, missing
