"""`git data gc [--dry-run] [--keep-days N]`: free cache space.

An object is kept when any branch, tag, stash, the index or a reflog entry newer than
``--keep-days`` references it, and also whenever no store is known to hold it (so gc never
loses the only copy). Stale temporary files from killed writers are removed too.
"""

from __future__ import annotations

import time

import pygit2

from ..cache import Cache
from ..config import Config
from ..gitrepo import Repo
from ..progress import human_bytes, note
from ..transfer import KnownObjects

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
    stored = _known_stored(repo, config, cache)
    freed = removed = kept_unpushed = 0
    for oid in cache.iter_oids():
        if oid in keep:
            continue
        if oid not in stored:
            kept_unpushed += 1
            continue
        size = cache.path(oid).stat().st_size
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
    note(f"{verb} {human_bytes(freed)} in {removed} file(s); kept {len(keep)} referenced "
         f"object(s) and {kept_unpushed} unreferenced object(s) no store is known to hold")
    return 0


def _known_stored(repo: Repo, config: Config, cache: Cache) -> set[str]:
    from ..store.remotes import read_order

    known: set[str] = set()
    try:
        remotes = read_order(repo, config)
    except Exception:
        remotes = []
    for remote in remotes:
        record = KnownObjects(cache, remote.url)
        known.update(record._load())
    return known
