"""`git data fsck [--repair]`: re-hash every cache object and check every pointer.

Problems are named with the files that need the object. ``--repair`` moves a corrupt object
to ``<cache>/quarantine/`` (never deleting it) and fetches a good copy where a store has one.
Objects that are simply not cached yet (a clone without data) are listed but are not errors.

`git data fsck --remote [NAME] [REV...]` checks the store instead: every object the named
commits need is re-hashed there (``--sizes``: size-checked from one listing) and each bad one
named with a file and commit that need it; ``--repair`` replaces corrupt store objects and
fills missing ones from verified cache copies (see storecheck.py).
"""

from __future__ import annotations

from .. import pointer
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..progress import note, warn
from ..storecheck import StoreReport


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


def fsck_remote(repo: Repo, name: str | None, revs: list[str], sizes_only: bool,
                repair: bool) -> int:
    """`git data fsck --remote [NAME] [REV...]`: what the store holds for those commits
    (default HEAD), re-hashed (or with ``sizes_only`` size-checked); see storecheck.py."""
    from ..store.remotes import configured, resolve
    from ..storecheck import check_store, repair_store
    from ..transfer import Item, TransferQueue

    config = Config(repo)
    if name and name not in configured(config) and not config.get_git(f"remote.{name}.url"):
        raise FatalError(f"no data remote or git remote named '{name}' (to name commits to "
                         f"check, put them before the option: `git data fsck {name} --remote`)")
    revs = revs or ["HEAD"]
    needs: dict[str, tuple[str, str]] = {}  # oid -> (first file, commit) that needs it
    sizes: dict[str, int] = {}
    for rev in revs:
        commit = str(repo.resolve(rev).id)
        for entry in repo.tree_pointers(commit):
            needs.setdefault(entry.oid, (entry.path, commit))
            sizes.setdefault(entry.oid, entry.size)
    remote = resolve(repo, config, name or None, repo.current_branch())
    store = remote.open()
    queue = TransferQueue.for_repo(config)
    items = [Item(oid, _expected_size(queue.cache, oid, size), needs[oid][0])
             for oid, size in sizes.items()]
    report = check_store(queue, store, items, sizes_only)
    if repair:
        repair_store(queue, store, items, report)
    if report.corrupt or report.missing:  # the record of this store is no longer to be trusted
        queue.known(store.url).bind(None)
    _print_report(report, store.describe(), needs, len(items), revs, sizes_only, repair)
    return 1 if report.bad else 0


def _print_report(report: StoreReport, where: str, needs: dict[str, tuple[str, str]],
                  checked: int, revs: list[str], sizes_only: bool, repair: bool) -> None:
    """One line per bad object (file, oid, commit, what is wrong, whether it was
    repaired), then one summary line."""
    for kind, oids in (("corrupt", report.corrupt), ("missing", dict.fromkeys(
            report.missing, "the store does not have it")), ("unreadable", report.unreadable)):
        for oid, detail in oids.items():
            path, commit = needs[oid]
            state = ("; repaired" if oid in report.repaired else
                     f"; not repaired: {report.not_repaired[oid]}"
                     if oid in report.not_repaired else "")
            warn(f"{kind} in {where}: {path} ({oid}) in commit {commit[:12]}: {detail}{state}")
    how = "sizes checked" if sizes_only else "re-hashed"
    summary = (f"{checked} object(s) in {where} for {', '.join(revs)} ({how}): "
               f"{len(report.ok)} ok, {len(report.corrupt)} corrupt, "
               f"{len(report.missing)} missing")
    if report.unreadable:
        summary += f", {len(report.unreadable)} unreadable (run again)"
    if repair:
        summary += f"; repaired {len(report.repaired)}"
    elif report.corrupt or report.missing:
        summary += "; `git data fsck --remote --repair` replaces them from the local cache"
    note(summary)


def _expected_size(cache: Cache, oid: str, size: int) -> int:
    """The size the store's copy must have: the cache copy's when there is one (a pointer's
    size is only what a commit claims), else the pointer's."""
    try:
        return cache.path(oid).stat().st_size
    except OSError:
        return size
