"""`git data gc [--dry-run] [--keep-days N]`: free cache space.

An object is kept when any branch, tag, stash, the index or a reflog entry newer than
``--keep-days`` references it, and also whenever no store holds it at its size: gc asks the
stores themselves (bulk listings), never the local record of what they hold, so it never
frees the only copy, even of a store that was emptied or re-created. Stale temporary files
from killed writers are removed too.
"""

from __future__ import annotations

import time

import pygit2

from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import human_bytes, note, warn

DEFAULT_KEEP_DAYS = 14


def referenced(repo: Repo, keep_days: int) -> set[str]:
    pg = repo.pygit
    commits: set[str] = set()
    for ref in pg.references:
        if ref.startswith("refs/remotes/"):  # what a remote has is in its store by definition
            continue
        try:
            commit = pg.references[ref].peel(pygit2.Commit)
        except (pygit2.GitError, ValueError, KeyError):
            continue
        commits.add(str(commit.id))
        if ref == "refs/stash":  # the stash's index and untracked-files commits
            commits.update(str(p) for p in commit.parent_ids)
    cutoff = time.time() - keep_days * 86400
    for ref in [*(r for r in pg.references if not r.startswith("refs/remotes/")), "HEAD"]:
        try:
            for entry in pg.references[ref].log() if ref != "HEAD" else pg.head.log():
                if entry.committer.time >= cutoff:
                    commits.add(str(entry.oid_new))
        except (pygit2.GitError, KeyError, ValueError):
            continue
    oids: set[str] = set()
    seen_trees: set[str] = set()
    for sha in commits:
        try:
            tree = pg[sha].peel(pygit2.Tree)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        if str(tree.id) in seen_trees:
            continue
        seen_trees.add(str(tree.id))
        oids.update(e.oid for e in repo.tree_pointers(tree))
    if repo.workdir:
        oids.update(e.oid for e in repo.index_pointers())
    return oids


def gc(repo: Repo, dry_run: bool, keep_days: int) -> int:
    config = Config(repo)
    cache = Cache(config.cache_dir)
    keep = referenced(repo, keep_days)
    sizes = {}
    for oid in cache.iter_oids():
        if oid not in keep:
            try:
                sizes[oid] = cache.path(oid).stat().st_size
            except FileNotFoundError:  # removed meanwhile (another gc)
                continue
    held, asked = held_by_stores(repo, config, sizes) if sizes else (set(), [])
    freed = removed = 0
    for oid, size in sizes.items():
        if oid not in held:
            continue
        if not dry_run:
            cache.remove(oid)
        freed += size
        removed += 1
    for tmp in cache.stale_tmp_files():
        freed += tmp.stat().st_size
        removed += 1
        if not dry_run:
            tmp.unlink(missing_ok=True)
    verb = "would free" if dry_run else "freed"
    stores = "" if not sizes else (f" (asked {', '.join(asked)})" if asked else
                                   " (no store answered)")
    note(f"{verb} {human_bytes(freed)} in {removed} file(s); kept {len(keep)} referenced "
         f"object(s) and {len(sizes) - len(held)} unreferenced object(s) that no store "
         f"holds{stores}")
    return 0


def held_by_stores(repo: Repo, config: Config, sizes: dict[str, int]
                   ) -> tuple[set[str], list[str]]:
    """The oids of ``sizes`` that a store holds at that size, asked of each store itself
    (one bulk listing or stat per object; never the local record, which cannot know that
    a store was emptied or re-created), and the stores that answered. A store that cannot
    be reached is named once and holds nothing, so its objects stay in the cache."""
    from ..store.remotes import read_order

    try:
        remotes = read_order(repo, config)
    except FatalError as exc:
        warn(f"{exc}; keeping every cache object")
        return set(), []
    held: set[str] = set()
    asked = []
    for remote in remotes:
        left = [oid for oid in sizes if oid not in held]
        if not left:
            break
        try:
            store = remote.open()
            store.check()
            found = store.object_sizes(left)
        except FatalError as exc:
            warn(f"{exc}; keeping the objects only it might hold")
            continue
        asked.append(store.describe())
        held.update(oid for oid, size in found.items() if sizes.get(oid) == size)
    return held, asked
