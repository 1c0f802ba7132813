"""Copying objects from store to store: merges between branches routed to different stores,
objects a push needs that the local cache lacks, and ``git data clone --copy-data-to``.

    items -> dedupe -> what the target has (bulk) -> which source has each (bulk, in order)
          -> TransferQueue workers: server-side copy when both stores are on the same S3
             endpoint, else a streamed copy hashed on the way (constant memory)
          -> sizes of server-side copies checked in one listing -> known-objects record

Only missing objects are copied, so running a copy again after an interruption resumes it.
It runs on the transfer queue, so it is an operation above ``store/`` and ``transfer.py``,
not a part of ``store/`` (docs/architecture.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from .cache import Cache
from .config import Config
from .errors import FatalError
from .gitrepo import Repo
from .progress import note, warn
from .store import Store
from .store.errors import StoreError, TransientStoreError
from .store.remotes import Remote, read_order
from .transfer import Failure, Item, Result, TransferQueue, dedupe, usable

SERVER_SIDE = "server-side"
STREAMED = "streamed"


@dataclass
class CopyResult(Result):
    modes: dict[str, str] = field(default_factory=dict)  # oid -> SERVER_SIDE | STREAMED

    def count(self, mode: str) -> int:
        return sum(1 for m in self.modes.values() if m == mode)


def copy_objects(queue: TransferQueue, items: Iterable[Item], sources: list[Store],
                 target: Store) -> CopyResult:
    """Copy to ``target`` every object of ``items`` it lacks, each from the first of
    ``sources`` that holds it."""
    result = CopyResult()
    todo = dedupe(items)
    if not todo:
        return result
    target.check()
    present = target.has_many(i.oid for i in todo)
    result.skipped = [i for i in todo if i.oid in present]
    todo = [i for i in todo if i.oid not in present]
    origin = locate(todo, sources, target, result)
    lock = threading.Lock()

    def one(item: Item) -> None:
        mode = copy_one(origin[item.oid], target, item)
        with lock:
            result.modes[item.oid] = mode

    copying = [i for i in todo if i.oid in origin]
    queue._run(copying, one, target.describe(), result, [target, *sources],
               queue._progress("Copying data", copying))
    verify_sizes(target, result)
    queue.known(target.url).add(i.oid for i in result.done + result.skipped)
    return result


def locate(items: list[Item], sources: list[Store], target: Store,
           result: Result) -> dict[str, Store]:
    """Which source holds each item (one bulk existence check per source, best first);
    items no source holds are recorded as failures."""
    origin: dict[str, Store] = {}
    remaining = items
    candidates = [s for s in sources if s.url != target.url]
    for source in usable(candidates) if items and candidates else []:
        if not remaining:
            break
        held = source.has_many(i.oid for i in remaining)
        origin.update((i.oid, source) for i in remaining if i.oid in held)
        remaining = [i for i in remaining if i.oid not in held]
    names = ", ".join(s.describe() for s in candidates) or "no other store"
    for item in remaining:
        result.failed.append(Failure(item, target.describe(), f"not in {names}"))
    return origin


def copy_one(source: Store, target: Store, item: Item) -> str:
    if target.capabilities.copies_from(source.capabilities):
        try:
            target.copy_object(source, item.oid, item.size)
            return SERVER_SIDE
        except TransientStoreError:
            raise
        except StoreError:
            pass  # e.g. the target's credentials cannot read the source: stream instead
    with source.open_object(item.oid) as stream:
        target.put_stream(item.oid, stream)
    return STREAMED


def verify_sizes(target: Store, result: CopyResult) -> None:
    """Server-side copies never pass through here to be hashed: check their sizes instead
    (streamed copies were hashed on the way)."""
    copied = [i for i in result.done if result.modes.get(i.oid) == SERVER_SIDE and i.size]
    if not copied:
        return
    found = target.object_sizes(i.oid for i in copied)
    for item in copied:
        if found.get(item.oid) != item.size:
            result.done.remove(item)
            result.failed.append(Failure(item, target.describe(), f"copy has "
                                         f"{found.get(item.oid)} bytes, expected {item.size}"))


def open_stores(remotes: Iterable[Remote]) -> list[Store]:
    stores = []
    for remote in remotes:
        try:
            stores.append(remote.open())
        except FatalError as exc:
            warn(str(exc))
    return stores


def fill_from_stores(repo: Repo, config: Config, queue: TransferQueue, result: Result,
                     target: Store, branch: str | None) -> Result:
    """After an upload from the local cache: objects the cache lacks (a merged branch whose
    data was never fetched here) are copied to ``target`` from the stores that hold them."""
    cache = Cache(config.cache_dir)
    missing = [f.item for f in result.failed if not cache.has(f.item.oid)]
    if not missing:
        return result
    oids = {i.oid for i in missing}
    sources = open_stores(r for r in read_order(repo, config, branch) if r.url != target.url)
    copied = copy_objects(queue, missing, sources, target)
    if copied.done and not queue.quiet:
        note(f"copied {len(copied.done)} object(s) the local cache lacks to "
             f"{target.describe()} from other stores ({copied.count(SERVER_SIDE)} server-side, "
             f"{copied.count(STREAMED)} streamed)")
    return Result(done=result.done + copied.done, skipped=result.skipped + copied.skipped,
                  failed=[f for f in result.failed if f.item.oid not in oids] + copied.failed)
