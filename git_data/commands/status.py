"""`git data status`: every tracked data file with its state, sizes and totals.

States: ``present`` (the real bytes are in the work tree), ``pointer`` (the work tree holds
the pointer text: not checked out yet), ``modified`` (changed since it was staged),
``deleted`` (gone from the work tree). Independently: whether the object is in the local
cache, and whether it is known to be in a store (``pushed``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from .. import pointer
from ..cache import Cache
from ..config import Config
from ..gitrepo import PointerEntry, Repo
from ..progress import human_bytes


@dataclass
class FileState:
    path: str
    oid: str
    size: int
    state: str
    cached: bool
    pushed: bool | None


def collect(repo: Repo, config: Config) -> list[FileState]:
    from ..transfer import pushed_record  # local record of what stores already hold

    cache = Cache(config.cache_dir)
    repo.git("update-index", "-q", "--refresh", check=False)
    changed = _changed_paths(repo)
    pushed = pushed_record(repo, config)
    states = []
    for entry in repo.index_pointers():
        cached = cache.has(entry.oid)
        # Only a cached object can be unpushed: one we lack came from a store to begin with.
        in_store = pushed.contains(entry.oid) if pushed is not None and cached else None
        states.append(FileState(entry.path, entry.oid, entry.size,
                                changed.get(entry.path) or _worktree_state(repo, entry),
                                cached, in_store))
    return states


def _changed_paths(repo: Repo) -> dict[str, str]:
    out = repo.git("diff-files", "-z", "--name-status", "--no-renames").split(b"\0")
    changed = {}
    for i in range(0, len(out) - 1, 2):
        code, path = out[i].decode(), out[i + 1].decode(errors="surrogateescape")
        changed[path] = "deleted" if code == "D" else "modified"
    return changed


def _worktree_state(repo: Repo, entry: PointerEntry) -> str:
    """For a file git sees as unchanged: its clean form is the staged pointer, so it holds
    either the real bytes or the pointer text itself. The size tells them apart, except in
    the rare case where both have the same length."""
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
    states = collect(repo, Config(repo))
    totals = {
        "files": len(states),
        "bytes": sum(s.size for s in states),
        "present": sum(s.state == "present" for s in states),
        "pointer": sum(s.state == "pointer" for s in states),
        "modified": sum(s.state == "modified" for s in states),
        "deleted": sum(s.state == "deleted" for s in states),
        "not_cached": sum(not s.cached for s in states),
        "not_pushed": sum(s.pushed is False for s in states),
    }
    if as_json:
        print(json.dumps({"files": [asdict(s) for s in states], "totals": totals}, indent=2))
        return 0
    for s in states:
        flags = [] if s.cached else ["not in cache"]
        if s.pushed is False:
            flags.append("not pushed")
        extra = f"  ({', '.join(flags)})" if flags else ""
        print(f"{s.state:<9} {human_bytes(s.size):>9}  {s.path}{extra}")
    print(f"{totals['files']} data files, {human_bytes(totals['bytes'])}: "
          f"{totals['present']} present, {totals['pointer']} pointers only, "
          f"{totals['modified']} modified, {totals['deleted']} deleted, "
          f"{totals['not_cached']} not in cache, {totals['not_pushed']} not pushed")
    if totals["pointer"]:
        print("run `git data pull` to fetch the files that are pointers only")
    return 0
