"""Checking what a store holds for named commits, and repairing it from the local cache
(`git data fsck --remote [NAME] [--sizes] [--repair]`).

    oids the commits need, with the size each must have
      -> Store.object_sizes (bulk: one listing per prefix on S3, a stat per object in a
         folder): missing objects and copies of the wrong size are known without a read
      -> unless sizes only: every other object streamed through its hasher (constant memory),
         in parallel on the transfer queue's workers, transient errors retried
      -> repair: the cache copy is re-hashed, then replaces a bad store copy under a new name
         first (Store.replace_object: never over good bytes) or fills a missing one (never
         overwriting); a repaired object counts only once its store copy hashes right.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .cache import Cache
from .hashing import hash_file
from .store import Store
from .transfer import Item, Result, TransferQueue


@dataclass
class StoreReport:
    ok: list[str] = field(default_factory=list)
    corrupt: dict[str, str] = field(default_factory=dict)  # oid -> what is wrong
    missing: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # oid -> the error
    repaired: list[str] = field(default_factory=list)
    not_repaired: dict[str, str] = field(default_factory=dict)  # oid -> why

    @property
    def bad(self) -> int:
        return len(self.corrupt) + len(self.missing) + len(self.unreadable) - len(self.repaired)


def check_store(queue: TransferQueue, store: Store, items: list[Item],
                sizes_only: bool) -> StoreReport:
    """``items``: one per oid, with the size its object must have."""
    report = StoreReport()
    store.check()
    found = store.object_sizes(i.oid for i in items)
    to_hash = []
    for item in items:
        size = found.get(item.oid)
        if size is None:
            report.missing.append(item.oid)
        elif size != item.size:
            report.corrupt[item.oid] = f"{size} bytes in the store, {item.size} expected"
        elif sizes_only:
            report.ok.append(item.oid)
        else:
            to_hash.append(item)
    if to_hash:
        _hash_all(queue, store, to_hash, report)
    return report


def _hash_all(queue: TransferQueue, store: Store, items: list[Item],
              report: StoreReport) -> None:
    lock = threading.Lock()

    def check(item: Item) -> None:
        try:
            actual, size = store.hash_object(item.oid)
        except FileNotFoundError:  # removed since the listing
            with lock:
                report.missing.append(item.oid)
            return
        with lock:
            if actual == item.oid:
                report.ok.append(item.oid)
            else:
                report.corrupt[item.oid] = f"its {size} bytes hash to {actual}"

    failed = Result()
    queue._run(items, check, store.describe(), failed, [store],
               queue._progress("Checking data", items))
    for failure in failed.failed:
        report.unreadable[failure.item.oid] = failure.error


def repair_store(queue: TransferQueue, store: Store, items: list[Item],
                 report: StoreReport) -> None:
    """Replace the corrupt and fill the missing objects of ``report`` from verified cache
    copies; objects the cache lacks are listed in ``report.not_repaired``."""
    cache = queue.cache
    by_oid = {i.oid: i for i in items}
    todo = []
    for oid in [*report.corrupt, *report.missing]:
        if cache.has(oid):
            todo.append(by_oid[oid])
        else:
            report.not_repaired[oid] = "the local cache has no copy either"
    lock = threading.Lock()

    def repair(item: Item) -> None:
        error = _repair_one(cache, store, item, item.oid in report.corrupt, queue.links)
        with lock:
            if error is None:
                report.repaired.append(item.oid)
            else:
                report.not_repaired[item.oid] = error

    failed = Result()
    queue._run(todo, repair, store.describe(), failed, [store],
               queue._progress("Repairing data", todo))
    for failure in failed.failed:
        report.not_repaired[failure.item.oid] = failure.error


def _repair_one(cache: Cache, store: Store, item: Item, corrupt: bool,
                link: bool) -> str | None:
    """None when the store now holds a verified copy, else why not."""
    path = str(cache.path(item.oid))
    actual, size = hash_file(path, item.oid.split(":", 1)[0])
    if actual != item.oid:
        return (f"the local cache copy is corrupt too (it hashes to {actual}); `git data fsck "
                "--repair` replaces it first")
    if corrupt:
        def still_bad() -> bool:
            stored = store.object_sizes([item.oid]).get(item.oid)
            return stored != size or store.hash_object(item.oid)[0] != item.oid

        store.replace_object(item.oid, path, still_bad)
    else:
        store.put_object(item.oid, path, link)
    after, _ = store.hash_object(item.oid)
    return None if after == item.oid else f"the store's copy still hashes to {after}"
