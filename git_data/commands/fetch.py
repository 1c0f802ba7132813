"""`git data fetch [REMOTE] [--include GLOB] [--exclude GLOB] [REV...]`: download into the cache
the objects that the named revisions (default HEAD) need."""

from __future__ import annotations

from ..config import Config, refuse_weak_pointers
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..materialize import select
from ..progress import note
from ..store.remotes import Remote, read_order, resolve
from ..transfer import Item, Result, TransferQueue


def wanted(repo: Repo, revs: list[str], include: list[str] | None,
           exclude: list[str] | None) -> list[PointerEntry]:
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
