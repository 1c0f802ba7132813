"""`git data status`: every tracked data file with its state, sizes and totals.

States: ``present`` (the real bytes are in the work tree), ``pointer`` (the work tree holds
the pointer text: not checked out yet), ``modified`` (changed since it was staged),
``deleted`` (gone from the work tree), ``conflict`` (a merge left it unmerged: listed once,
with our side's object). Independently: whether the object is in the local
cache, and whether it is known to be in a store (``pushed``).

The pushed commit the current branch tracks (its upstream, e.g. ``origin/main``) is checked
too: every object its tree needs must be in the store, or a clone of it gets pointers only
(a push from a clone without git-data's hooks uploads nothing). Objects the local record
knows are in the store cost nothing; the others are asked of the store in one batch, and
what it holds is recorded, so a second status asks nothing.

"The store" is every store a reader of the branch finds its data in without a copy: its
own and, for a branch routed elsewhere, the default (``store.remotes.fallback_stores``), so
data a routed branch inherited from main's store counts as pushed.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from .. import indexfile, pointer
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..progress import human_bytes
from .install import warn_unless_filter

if TYPE_CHECKING:
    from ..store.remotes import Remote
    from ..transfer import KnownObjects


@dataclass
class FileState:
    path: str
    oid: str
    size: int
    state: str
    cached: bool
    pushed: bool | None


def collect(repo: Repo, config: Config) -> list[FileState]:
    return _collect(repo, config)[0]


def _collect(repo: Repo, config: Config) -> tuple[list[FileState], list[PointerEntry]]:
    """The states, and the staged pointers they were made from (for the upstream check)."""
    cache = Cache(config.cache_dir)
    changed = _changed_paths(repo)
    pushed = _pushed_records(repo, config)
    entries, recorded = _staged(repo)
    held = cache.held(e.oid for e in entries)
    states = []
    for entry in entries:
        cached = entry.oid in held
        # Only a cached object can be unpushed: one we lack came from a store to begin with.
        in_store = pushed.contains(entry.oid) if pushed is not None and cached else None
        state = changed.get(entry.path) or _worktree_state(repo, entry,
                                                           recorded.get(entry.path))
        states.append(FileState(entry.path, entry.oid, entry.size, state, cached, in_store))
    return states, entries


def _staged(repo: Repo) -> tuple[list[PointerEntry], dict[str, int]]:
    """The staged pointers, one per path (as ``index_pointers(each_path_once=True)``), and
    for stage-0 entries git checks, the work-tree size it recorded: read from the index
    file itself, where it can be (else from git, with no sizes)."""
    index = indexfile.entries(repo.index_path, repo.object_format)
    if index is None:
        return repo.index_pointers(each_path_once=True), {}
    best: dict[str, tuple[int, str]] = {}
    recorded = {}
    for path, blob, stage, size, unchecked in index:
        rank = _STAGE_RANK[stage]
        if path not in best or rank < best[path][0]:
            best[path] = (rank, blob)
        if stage == 0 and not unchecked and size:
            recorded[path] = size
    return repo.blob_pointers([(path, blob) for path, (_, blob) in best.items()]), recorded


# index stages by preference (gitrepo.STAGE_RANK): merged, ours, theirs, the base
_STAGE_RANK = {0: 0, 2: 1, 3: 2, 1: 3}


class _AnyRecord:
    """The local records of what the stores a branch reads from hold: an oid any of them
    knows is pushed."""

    def __init__(self, records: list[KnownObjects]) -> None:
        self.records = records
        if len(records) == 1:  # the usual case, asked once per tracked file: no loop
            self.contains = records[0].contains  # type: ignore[method-assign]

    def contains(self, oid: str) -> bool:
        return any(record.contains(oid) for record in self.records)


def _pushed_records(repo: Repo, config: Config) -> _AnyRecord | None:
    """The records of the current branch's store and its fallbacks; None with no store."""
    from ..store.remotes import fallback_stores, resolve
    from ..transfer import KnownObjects

    try:
        remote = resolve(repo, config, branch=repo.current_branch())
    except FatalError:
        return None
    cache = Cache(config.cache_dir)
    return _AnyRecord([KnownObjects(cache, r.url)
                       for r in [remote, *fallback_stores(repo, config, remote)]])


@dataclass
class PushedCheck:
    """What the upstream's tip needs that its store lacks (``error``: it could not be asked)."""

    upstream: str
    commit: str
    store: str
    missing: list[PointerEntry]
    not_cached: int
    error: str | None = None


def check_upstream(repo: Repo, config: Config, index: list[PointerEntry]
                   ) -> PushedCheck | None:
    """The current branch's upstream tip against its store; None without an upstream.
    ``index``: the pointers staged now, from which the tip's are derived."""
    branch = repo.current_branch()
    if branch is None:
        return None
    line = repo.git("for-each-ref", "--format=%(upstream)%00%(upstream:remotename)",
                    f"refs/heads/{branch}").decode().strip()
    upstream, _, remote_name = line.partition("\0")
    if not upstream.startswith("refs/remotes/"):  # none, or a local branch as upstream
        return None
    commit = repo.git("rev-parse", "-q", "--verify", f"{upstream}^{{commit}}",
                      check=False).decode().strip()
    if not commit:
        return None
    from ..store.remotes import fallback_stores, resolve
    from ..transfer import KnownObjects

    short = upstream[len("refs/remotes/"):]
    try:
        remote = resolve(repo, config, branch=branch, git_remote=remote_name or None)
    except FatalError as exc:
        return PushedCheck(short, commit, "?", [], 0, str(exc))
    cache = Cache(config.cache_dir)
    readable = [remote, *fallback_stores(repo, config, remote, remote_name or None)]
    records = _AnyRecord([KnownObjects(cache, r.url) for r in readable])
    unknown = [e for e in _tip_pointers(repo, commit, index) if not records.contains(e.oid)]
    check = PushedCheck(short, commit, remote.url, [], 0)
    if not unknown:
        return check
    try:
        check.missing = _not_held(readable, records.records, unknown, check)
    except (FatalError, OSError) as exc:
        check.error = str(exc)
        return check
    check.not_cached = len({e.oid for e in check.missing if not cache.has(e.oid)})
    return check


def _not_held(readable: list[Remote], records: list[KnownObjects],
              unknown: list[PointerEntry], check: PushedCheck) -> list[PointerEntry]:
    """The entries none of ``readable`` holds: one bulk check per store, in order, of what
    is still unaccounted for; what each holds goes into its record."""
    for where, known in zip(readable, records):
        if not unknown:
            break
        store = where.open()
        if where is readable[0]:
            check.store = store.describe()
        held = store.has_many({e.oid for e in unknown})
        known.add(held)
        unknown = [e for e in unknown if e.oid not in held]
    return unknown


def _tip_pointers(repo: Repo, commit: str, index: list[PointerEntry]) -> list[PointerEntry]:
    """``commit``'s pointers: the index's, except where the two differ (one diff-index, in
    C), whose blobs on the commit's side are read; not the whole tree listed and read again."""
    out = repo.git("diff-index", "--cached", "--raw", "-z", "--no-renames", commit).split(b"\0")
    changed: dict[str, str | None] = {}  # path -> its blob in ``commit``, None if none
    for i in range(0, len(out) - 1, 2):
        meta = out[i].decode().split()
        if len(meta) < 5:
            continue
        regular = meta[0].lstrip(":") in ("100644", "100755") and set(meta[2]) != {"0"}
        blob = meta[2] if regular else None
        changed[out[i + 1].decode(errors="surrogateescape")] = blob
    kept = [e for e in index if e.path not in changed]
    return kept + repo.blob_pointers([(p, b) for p, b in changed.items() if b])


def _describe_check(check: PushedCheck) -> str | None:
    where = f"{check.upstream} ({check.commit[:12]})"
    if check.error:
        return f"could not check that the data of pushed {where} is in its store: {check.error}"
    if not check.missing:
        return None
    oids = {e.oid: e.size for e in check.missing}
    text = (f"pushed {where} needs {len(oids)} data object(s) ({human_bytes(sum(oids.values()))},"
            f" e.g. {check.missing[0].path}) that are not in the store {check.store}: clones "
            "get pointers only; run `git data push` to upload them")
    if check.not_cached:
        text += (f" ({check.not_cached} of them are not in this cache either: push from the "
                 "clone that made them)")
    return text


def _changed_paths(repo: Repo) -> dict[str, str]:
    """Paths whose work-tree file differs from the index: one `git status`, which refreshes
    the index first (stat data of files unchanged in content, written back where it can be,
    as `update-index --refresh` would) and compares in the same pass over the files."""
    out = repo.git("status", "--porcelain=v2", "-z", "--untracked-files=no", "--no-renames",
                   "--ignore-submodules=all").split(b"\0")
    changed = {}
    fields_before_path = {b"1": 8, b"2": 9, b"u": 10}
    items = iter(out)
    for item in items:
        kind = item[:1]
        if kind not in fields_before_path:
            continue
        parts = item.split(b" ", fields_before_path[kind])
        if kind == b"2":  # a rename (not asked for): the old path follows
            next(items, None)
        if len(parts) <= fields_before_path[kind]:
            continue
        path = parts[-1].decode(errors="surrogateescape")
        work_tree = parts[1][1:2]  # XY: X the index against HEAD, Y the work tree
        if kind == b"u":
            changed[path] = "conflict"
        elif work_tree == b"D":
            changed[path] = "deleted"
        elif work_tree != b".":
            changed[path] = "modified"
    return changed


def _worktree_state(repo: Repo, entry: PointerEntry, recorded: int | None = None) -> str:
    """For a file git sees as unchanged: its clean form is the staged pointer, so it holds
    either the real bytes or the pointer text itself. The size tells them apart, except in
    the rare case where both have the same length.

    ``recorded``: the size git's index holds for the file. git found the file unchanged,
    so its size is the one recorded (git compares sizes whatever core.checkStat says): no
    stat is needed, only the read where the sizes are alike (git keeps 32 bits of them)."""
    if recorded is not None and entry.size <= 0xFFFFFFFF:
        if recorded != entry.size:
            return "pointer"
        if entry.size > pointer.MAX_POINTER_SIZE:
            return "present"
    full = os.path.join(repo.root, entry.path)
    try:
        size = os.stat(full).st_size
    except FileNotFoundError:
        return "deleted"
    if size != entry.size:
        return "pointer"
    if size <= pointer.MAX_POINTER_SIZE:
        with open(full, "rb") as stream:
            try:
                if pointer.parse(stream.read()) is not None:
                    return "pointer"
            except pointer.PointerError:
                pass
    return "present"


def status(repo: Repo, as_json: bool) -> int:
    warn_unless_filter(repo)
    config = Config(repo)
    # A few objects per tracked file, all alive to the end and none in a cycle: the cyclic
    # collector would only walk them again and again (a sixth of the time at 100,000 files).
    gc.disable()
    try:
        states, entries = _collect(repo, config)
    finally:
        gc.enable()
    check = check_upstream(repo, config, entries)
    pushed = None if check is None else {
        "upstream": check.upstream, "commit": check.commit, "store": check.store,
        "missing": [asdict(e) for e in check.missing], "not_cached": check.not_cached,
        "error": check.error}
    totals = _totals(states)
    if as_json:
        # a FileState holds plain values: its fields as they are, not asdict's deep copy
        files = [{name: getattr(s, name) for name in _FIELDS} for s in states]
        print(json.dumps({"files": files, "totals": totals, "pushed": pushed}, indent=2))
        return 0
    sys.stdout.write("".join(_lines(states)))
    print(f"{totals['files']} data files, {human_bytes(totals['bytes'])}: "
          f"{totals['present']} present, {totals['pointer']} pointers only, "
          f"{totals['modified']} modified, {totals['deleted']} deleted, "
          + (f"{totals['conflict']} in conflict, " if totals["conflict"] else "")
          + f"{totals['not_cached']} not in cache, {totals['not_pushed']} not pushed")
    if totals["pointer"]:
        print("run `git data pull` to fetch the files that are pointers only")
    message = None if check is None else _describe_check(check)
    if message:
        print(f"warning: {message}")
    return 0


_FIELDS = [f.name for f in fields(FileState)]


def _totals(states: list[FileState]) -> dict[str, int]:
    count = Counter(s.state for s in states)
    return {
        "files": len(states),
        "bytes": sum(s.size for s in states),
        **{state: count[state] for state in ("present", "pointer", "modified", "deleted",
                                             "conflict")},
        "not_cached": sum(not s.cached for s in states),
        "not_pushed": sum(s.pushed is False for s in states),
    }


def _lines(states: list[FileState]) -> Iterator[str]:
    """One line per file; the size column is formatted once per distinct size."""
    sizes: dict[int, str] = {}
    for s in states:
        size = sizes.get(s.size)
        if size is None:
            size = sizes[s.size] = f"{human_bytes(s.size):>9}"
        flags = [] if s.cached else ["not in cache"]
        if s.pushed is False:
            flags.append("not pushed")
        extra = f"  ({', '.join(flags)})" if flags else ""
        yield f"{s.state:<9} {size}  {s.path}{extra}\n"
