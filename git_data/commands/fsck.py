"""`git data fsck [--repair]`: re-hash every cache object and check every pointer.

Problems are named with the files that need the object. ``--repair`` moves a corrupt object
to ``<cache>/quarantine/`` (never deleting it) and fetches a good copy where a store has one.
Objects that are simply not cached yet (a clone without data) are listed but are not errors.
"""

from __future__ import annotations

from .. import pointer
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..progress import note, warn


def _pointer_entries(repo: Repo) -> list[PointerEntry]:
    entries = repo.index_pointers() if repo.workdir else []
    if repo.head_commit() is not None:
        entries += repo.rev_pointers("HEAD")
    return entries


def _needed_by(repo: Repo) -> dict[str, list[str]]:
    needed: dict[str, list[str]] = {}
    for entry in _pointer_entries(repo):
        paths = needed.setdefault(entry.oid, [])
        if entry.path not in paths:
            paths.append(entry.path)
    return needed


def _bad_pointers(repo: Repo) -> list[str]:
    """Pointer-shaped blobs in HEAD that this version cannot read (unknown version or
    algorithm): they would be checked out as text."""
    head = repo.head_commit()
    if head is None:
        return []
    problems = []
    odb = repo.pygit.odb
    stack = [("", head.tree)]
    while stack:
        prefix, tree = stack.pop()
        for entry in tree:
            path = prefix + entry.name
            if entry.type_str == "tree":
                stack.append((path + "/", repo.pygit[entry.id]))
                continue
            _, size = odb.read_header(entry.id)
            if size > pointer.MAX_POINTER_SIZE:
                continue
            try:
                pointer.parse(odb.read(entry.id)[1])
            except pointer.PointerError as exc:
                problems.append(f"{path}: {exc}")
    return problems


def fsck(repo: Repo, repair: bool) -> int:
    config = Config(repo)
    cache = Cache(config.cache_dir)
    needed = _needed_by(repo)
    problems = 0
    corrupt = []
    checked = 0
    for oid in cache.iter_oids():
        checked += 1
        actual = cache.verify(oid)
        if actual is not None:
            corrupt.append(oid)
            problems += 1
            files = ", ".join(needed.get(oid, [])) or "no file in HEAD or the index"
            warn(f"corrupt object {oid} (bytes hash to {actual}), needed by: {files}")
    for message in _bad_pointers(repo):
        problems += 1
        warn(message)
    missing = [oid for oid in needed if not cache.has(oid)]
    for oid in missing:
        note(f"not cached: {oid} ({', '.join(needed[oid])}); `git data pull` fetches it")
    if repair and corrupt:
        problems -= _repair(repo, config, cache, corrupt, needed)
    note(f"checked {checked} object(s) and {len(needed)} pointer(s): {problems} problem(s)")
    return 1 if problems else 0


def _repair(repo: Repo, config: Config, cache: Cache, corrupt: list[str],
            needed: dict[str, list[str]]) -> int:
    from ..store.remotes import read_order
    from ..transfer import Item, TransferQueue

    for oid in corrupt:
        note(f"moved corrupt {oid} to {cache.quarantine(oid)}")
    try:
        stores = [r.open() for r in read_order(repo, config, repo.current_branch())]
    except FatalError as exc:
        warn(f"cannot reach a store to fetch good copies: {exc}")
        return 0
    sizes = {e.oid: e.size for e in _pointer_entries(repo)}  # a download checks them
    for oid in corrupt:
        if oid not in sizes:
            warn(f"not fetching {oid} again: no pointer in HEAD or the index gives its size")
    items = [Item(oid, sizes[oid], (needed.get(oid) or [oid])[0]) for oid in corrupt
             if oid in sizes]
    result = TransferQueue.for_repo(config).download(items, stores)
    for failure in result.failed:
        warn(f"no good copy of {failure.item.oid}: {failure.error}")
    for item in result.done:
        note(f"repaired {item.oid} from a store")
    return len(result.done)
