"""The transfer queue: the one place that owns transfer policy.

    items -> dedupe by oid -> ask the store what it has (bulk) -> largest first
          -> N worker threads (data.transfers; default: the store's, 8 for a local
             folder, 32 for S3) -> Store moves bytes
          -> retry transient errors (git_data.retry) -> Result(done, skipped, failed)

Which way bytes move is decided here from what each store declares (``Store.capabilities``):
objects under a MiB bound for a store with ``bulk`` (S3: ``put_many``/``get_many``) skip
the threads: they go in rounds of concurrent requests on the store's own event loop, and a
round's transient failures make up the next round; objects of 64 MiB and more from a store
with ``ranged_get`` come down as concurrent ranges; a store with ``local_path`` shares
objects with the cache as hard links.

Downloads stream into the cache through an ObjectWriter and are verified against their oid
before they are renamed into place, so a corrupt or partial download never enters the cache.
Between the cache and a local-folder store on the same file system objects are hard-linked
rather than copied (``data.localLinks``, default true; a link is hashed before it is
adopted), as git-lfs does for its local objects: both names are read-only and never
rewritten, so they can share an inode.
One failing object never stops the others: the caller gets every failure, each naming the
file, the oid and the store. A local record of the oids each store is known to hold lets a
push skip everything it uploaded before without asking the store.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import appendlog, packs, pointer
from .cache import Cache
from .config import Config
from .errors import FatalError
from .gitrepo import Repo
from .hashing import hash_file
from .progress import Meter, Progress, warn
from .retry import Policy
from .store import CHUNK, Store, StoreError, TransientStoreError, link_into
from .store.errors import WrongSize

if TYPE_CHECKING:
    import concurrent.futures as cf

DEFAULT_TRANSFERS = 8
DEFAULT_RETRIES = 4
SMALL_OBJECT = 1 << 20  # below this, a store with a bulk API moves objects in rounds
LARGE_OBJECT = 64 << 20  # from this size, a store that can fetches in concurrent ranges
PACK_MAX_OBJECT = 1 << 20  # the data.pack.maxObjectSize a store of small files wants
PACK_TARGET = 32 << 20  # data.pack.targetSize default
BATCH_OBJECTS = 256
BATCH_BYTES = 64 << 20
MAX_CAUSES = 10  # lines of failure causes printed; more are counted
NAMED_FILES = 3  # files named in a line about a cause that affects many


@dataclass(frozen=True)
class Item:
    oid: str
    size: int
    path: str  # a work-tree path that needs the object, for messages


@dataclass
class Failure:
    item: Item
    store: str
    error: str

    def message(self) -> str:
        return f"{self.item.path} ({self.item.oid}) from {self.store}: {self.error}"


@dataclass
class Result:
    done: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def raise_for_failures(self, verb: str) -> None:
        """One line per cause (store and error), with the number of files it affects and a
        few of their names, not one line per file: a refused credential is one line for
        10,000 files. The last line is the command's error."""
        if not self.failed:
            return
        causes: dict[tuple[str, str], list[Failure]] = {}
        for failure in self.failed:
            causes.setdefault((failure.store, failure.error), []).append(failure)
        lines = [_cause_line(verb, group) for group in causes.values()]
        summary = (f"{len(self.failed)} object(s) failed to {verb}; the others completed, "
                   "run the command again to retry")
        if len(lines) == 1:
            raise FatalError(f"{lines[0]} ({summary})")
        for line in lines[:MAX_CAUSES]:
            warn(line)
        if len(lines) > MAX_CAUSES:
            warn(f"... and {len(lines) - MAX_CAUSES} other causes")
        raise FatalError(f"{summary} ({len(lines)} causes above)")


def _cause_line(verb: str, group: list[Failure]) -> str:
    first = group[0]
    if len(group) == 1:
        return f"could not {verb} {first.message()}"
    names = ", ".join(f.item.path for f in group[:NAMED_FILES])
    more = ", ..." if len(group) > NAMED_FILES else ""
    return f"could not {verb} {len(group)} files ({names}{more}) from {first.store}: {first.error}"


class PermanentError(Exception):
    """Not worth retrying: missing object, bad bytes, no permission."""


def is_permanent(exc: BaseException) -> bool:
    """Not worth a retry. Store errors say which they are: a TransientStoreError (reset,
    timeout, 5xx, throttling) is retried, any other StoreError (credentials, bucket) is not."""
    if isinstance(exc, TransientStoreError):
        return False
    return isinstance(exc, (PermanentError, FileNotFoundError, PermissionError, FatalError,
                            IsADirectoryError, NotADirectoryError))


class KnownObjects:
    """Local record of oids a store is known to hold (uploaded or downloaded), kept in the
    cache folder as one append-only file per store URL.

    The record is bound to the store's identity (its ``gitdata-store.json`` id, see
    Store.ensure_store_id): the file starts with ``store-id <id>``. A push binds it to the
    id it reads from the store first; when that differs (the store was re-created, emptied
    or is another bucket behind the same URL) or the record carries none, the record is
    started afresh and the push asks the store about every object. Downloads only append,
    so a record they wrote under an old id is dropped by the next push, never trusted."""

    HEADER = "store-id "

    def __init__(self, cache: Cache, store_url: str) -> None:
        key = _sha1_hex(store_url.encode())[:16]
        self.root = cache.root
        self.path = cache.root / "stores" / f"{key}.oids"
        self._oids: set[str] | None = None
        self.store_id: str | None = None  # the id the record was bound to, if any
        self._lock = threading.Lock()

    def _load(self) -> set[str]:
        if self._oids is None:
            lines = appendlog.complete_lines(self.path)
            if lines and lines[0].startswith(self.HEADER):
                self.store_id = lines[0][len(self.HEADER):].strip() or None
                lines = lines[1:]
            self._oids = {line for line in lines if line and not line.startswith(self.HEADER)}
        return self._oids

    def contains(self, oid: str) -> bool:
        return oid in self._load()

    def bind(self, store_id: str | None) -> bool:
        """Tie the record to the store whose id is ``store_id`` (None: a store whose id
        cannot be read, trusted for nothing). True when the record already belonged to that
        store; otherwise it is emptied and False returned."""
        with self._lock:
            self._load()
            if store_id is not None and self.store_id == store_id:
                return True
            from . import safeio  # (ctypes) off the filter process's start-up

            header = f"{self.HEADER}{store_id}\n" if store_id else ""
            self.root.mkdir(parents=True, exist_ok=True)
            safeio.write_text(self.path, header, root=self.root)
            self._oids, self.store_id = set(), store_id
            return False

    def add(self, oids: Iterable[str]) -> None:
        with self._lock:
            known = self._load()
            new = [o for o in dict.fromkeys(oids) if o not in known]
            if not new:
                return
            appendlog.append(self.path, "".join(f"{o}\n" for o in new))
            known.update(new)


def _batches(items: list[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= BATCH_OBJECTS or size + item.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def dedupe(items: Iterable[Item]) -> list[Item]:
    by_oid: dict[str, Item] = {}
    for item in items:
        by_oid.setdefault(item.oid, item)
    return sorted(by_oid.values(), key=lambda i: i.size, reverse=True)


class TransferQueue:
    def __init__(self, cache: Cache, workers: int | None = None,
                 retries: int = DEFAULT_RETRIES, quiet: bool = False, links: bool = True
                 ) -> None:
        self.cache = cache
        self.links = links  # hard-link between the cache and a local store (data.localLinks)
        self.workers = max(1, workers) if workers else None  # None: each store's own default
        self.retries = retries
        # no progress line from this queue whatever -q says (a run's upload, the filter's
        # fetches); the user's -q itself is read by Progress (progress.is_quiet)
        self.quiet = quiet
        self._known: dict[str, KnownObjects] = {}
        self._known_lock = threading.Lock()
        self.pack_max = PACK_MAX_OBJECT  # data.pack.maxObjectSize: smaller ones are packed
        self.pack_target = PACK_TARGET  # data.pack.targetSize: about this much per pack
        self._packsets: dict[str, packs.PackSet] = {}

    def known(self, store_url: str) -> KnownObjects:
        """One record per store for this queue (loading it per object would re-read the
        whole file each time)."""
        with self._known_lock:
            if store_url not in self._known:
                self._known[store_url] = KnownObjects(self.cache, store_url)
            return self._known[store_url]

    @classmethod
    def for_repo(cls, config: Config, quiet: bool = False) -> TransferQueue:
        transfers = config.get_int("data.transfers", 0)
        queue = cls(Cache(config.cache_dir), transfers or None,
                    config.get_int("data.retries", DEFAULT_RETRIES), quiet,
                    config.get_bool("data.localLinks", True))
        # packing is opt-in until fsck, gc and store-to-store copies read packs too
        queue.pack_max = config.get_size("data.pack.maxObjectSize", 0)
        queue.pack_target = config.get_size("data.pack.targetSize", PACK_TARGET)
        return queue

    def packset(self, store: Store) -> packs.PackSet:
        """The store's verified pack indexes, listed once per queue (cached on disk)."""
        with self._known_lock:
            if store.url not in self._packsets:
                self._packsets[store.url] = packs.PackSet(
                    store, self.cache.root / "packs", warn)
            return self._packsets[store.url]

    # ----- policy ------------------------------------------------------------------------
    def _progress(self, label: str, items: list[Item]) -> Progress:
        return Progress(label, len(items), sum(i.size for i in items),
                        enabled=False if self.quiet else None)

    def _run(self, items: list[Item], action: Callable[[Item], object], store_name: str,
             result: Result, stores: list[Store], progress: Progress) -> Result:
        """One worker thread per object in flight (what a local folder and large objects
        need: the work is disk and streaming); each object's bytes count once it is done."""
        def whole(item: Item, meter: Meter) -> None:
            action(item)
            meter(item.size)

        return self._run_metered(items, whole, store_name, result, stores, progress)

    def _run_metered(self, items: list[Item], action: Callable[[Item, Meter], object],
                     store_name: str, result: Result, stores: list[Store],
                     progress: Progress) -> Result:
        """``_run`` for an ``action`` that reports the bytes it moves to its Meter as they
        go; whatever it did not report (a hard link) counts as done, not as moved."""
        lock = threading.Lock()

        def one(item: Item) -> None:
            meter = progress.meter()

            def attempt() -> None:
                meter.restart()  # a retry starts the object's count again
                action(item, meter)

            try:
                self._with_retries(attempt)
            except Exception as exc:  # collected, reported by the caller
                meter.restart()
                with lock:
                    result.failed.append(Failure(item, store_name, _describe(exc)))
                return
            with lock:
                result.done.append(item)
            meter.finish(item.size)

        workers = self.workers or max([s.capabilities.transfers for s in stores]
                                      or [DEFAULT_TRANSFERS])
        run_parallel(one, items, workers)
        progress.done()
        return result

    def _run_batched(self, items: list[Item],
                     action: Callable[[list[Item]], dict[str, BaseException | None]],
                     store_name: str, result: Result, progress: Progress,
                     missing: Result | None = None) -> None:
        """Small objects of a store with a bulk API: rounds of up to ``BATCH_OBJECTS``
        concurrent requests (``BATCH_BYTES`` at most) on the store's own event loop, not a
        thread each. A round's transient failures go into the next round, after a backoff;
        with ``missing``, objects the store lacks are listed there instead of failing."""
        pending = items
        policy = self.policy
        for attempt in policy.tries():
            again: list[Item] = []
            for batch in _batches(pending):
                outcome = action(batch)
                for item in batch:
                    error = outcome.get(item.oid, PermanentError("no answer for this object"))
                    if error is None:
                        result.done.append(item)
                        progress.advance(item.size, 1)
                    elif missing is not None and isinstance(error, FileNotFoundError):
                        missing.failed.append(Failure(item, store_name, _describe(error)))
                    elif is_permanent(error) or policy.last(attempt):
                        result.failed.append(Failure(item, store_name, _describe(error)))
                    else:
                        again.append(item)
            pending = again
            if not pending:
                return

    @property
    def policy(self) -> Policy:
        """``data.retries`` retries after the first try."""
        return Policy(self.retries + 1)

    def _with_retries(self, action: Callable[[], object]) -> None:
        """``action`` under the retry policy: everything not permanent is tried again."""
        self.policy.run(action, lambda exc: not is_permanent(exc))

    # ----- uploads -----------------------------------------------------------------------
    def upload(self, items: Iterable[Item], store: Store, pack: bool = False) -> Result:
        """Upload what ``store`` lacks; with ``pack`` (a push), objects under
        ``pack_max`` go up in packs, everything else (and all of run outputs and shares,
        which other readers fetch one by one) stays loose."""
        known = self.known(store.url)
        todo = [i for i in dedupe(items) if not known.contains(i.oid)]
        result = Result()
        missing_local = [i for i in todo if not self.cache.has(i.oid)]
        for item in missing_local:
            result.failed.append(Failure(item, store.describe(), "not in the local cache "
                                         "(was it added on another machine? run `git data "
                                         "fetch` there or push from there)"))
        todo = [i for i in todo if self.cache.has(i.oid)]
        if todo:
            store.check()  # wrong credentials, no bucket, no endpoint: one line, nothing sent
            _abort_stale_uploads(store)
        # sizes come with the listing (S3) or a stat (a folder): a copy of the wrong size is
        # replaced below, never taken for the object
        sizes = store.object_sizes(i.oid for i in todo) if todo else {}
        wrong = [i for i in todo if i.oid in sizes and self._wrong_size(i, sizes[i.oid])]
        result.skipped = [i for i in todo if i.oid in sizes and i not in wrong]
        todo = [i for i in todo if i.oid not in sizes]
        if todo and pack:
            packed = self.packset(store).has_many(i.oid for i in todo)
            result.skipped += [i for i in todo if i.oid in packed]
            todo = [i for i in todo if i.oid not in packed]
        if wrong:
            self._replace(wrong, store, sizes, result)
        if pack and self.pack_max > 0:
            to_pack = [i for i in todo if i.size < self.pack_max]
            todo = [i for i in todo if i.size >= self.pack_max]
            self._upload_packs(to_pack, store, result)
        bulk = store.capabilities.bulk
        small = [i for i in todo if i.size < SMALL_OBJECT] if bulk else []
        progress = self._progress("Uploading data", todo)
        if small:
            self._run_batched(small, lambda batch: store.put_many(
                [(i.oid, str(self.cache.path(i.oid))) for i in batch]),
                store.describe(), result, progress)
        self._run_metered([i for i in todo if i.size >= SMALL_OBJECT] if bulk else todo,
                          lambda i, meter: self._put(store, i, meter),
                          store.describe(), result, [store], progress)
        known.add(i.oid for i in result.done + result.skipped)
        return result

    def _upload_packs(self, items: list[Item], store: Store, result: Result) -> None:
        """Group ``items`` by algorithm into packs of about ``pack_target`` bytes; build
        each locally, then publish pack and index (several packs in parallel)."""
        groups: list[list[Item]] = []
        by_algo: dict[str, list[Item]] = {}
        for item in sorted(items, key=lambda i: i.path):  # neighbours in the tree together
            by_algo.setdefault(item.oid.partition(":")[0], []).append(item)
        for members in by_algo.values():
            current: list[Item] = []
            size = 0
            for item in members:
                if current and size + item.size > self.pack_target:
                    groups.append(current)
                    current, size = [], 0
                current.append(item)
                size += item.size
            if current:
                groups.append(current)
        lock = threading.Lock()

        def one(group: list[Item]) -> None:
            writer = packs.PackWriter(self.cache.tmp_dir, group[0].oid.partition(":")[0])
            try:
                for item in group:
                    writer.add(item.oid, self.cache.path(item.oid))
                name, index = writer.finish()
                self._with_retries(lambda: packs.publish(store, writer.path, name, index))
            except Exception as exc:
                with lock:
                    result.failed += [Failure(i, store.describe(), _describe(exc))
                                      for i in group]
                return
            finally:
                writer.discard()
            with lock:
                result.done += group

        if groups:
            workers = min(len(groups), self.workers or store.capabilities.transfers)
            run_parallel(one, groups, max(1, min(workers, 8)))  # type: ignore[arg-type]

    def _put(self, store: Store, item: Item, meter: Meter) -> None:
        """Upload one object; its bytes count as moved unless the store took a hard link
        (the store reads the file itself, so an upload is counted once it is complete)."""
        source = str(self.cache.path(item.oid))
        store.put_object(item.oid, source, self.links)
        if not (self.links and _same_file(store.local_object_path(item.oid), source)):
            meter(item.size)

    def _wrong_size(self, item: Item, stored: int) -> bool:
        """The store's copy has another size than the object (the cache's copy decides
        when the pointer's size disagrees with it: a pointer is not trusted for that)."""
        if stored == item.size:
            return False
        try:
            return stored != self.cache.path(item.oid).stat().st_size
        except OSError:
            return True

    def _replace(self, items: list[Item], store: Store, sizes: dict[str, int],
                 result: Result) -> None:
        """Store copies of the wrong size: replaced with the (re-hashed) cache copy, under a
        new name first (Store.replace_object), if the copy is still wrong just before."""
        expected = {i.oid: self.cache.path(i.oid).stat().st_size for i in items}

        def replace(item: Item) -> None:
            store.replace_object(item.oid, str(self.cache.path(item.oid)), lambda: (
                store.object_sizes([item.oid]).get(item.oid) != expected[item.oid]))

        fixed = Result()
        self._run(items, replace, store.describe(), fixed, [store],
                  self._progress("Replacing data", items))
        result.done += fixed.done
        result.failed += fixed.failed
        if fixed.done:
            warn(f"replaced {len(fixed.done)} object(s) of the wrong size in "
                 f"{store.describe()} (e.g. {fixed.done[0].path}: {sizes[fixed.done[0].oid]} "
                 f"bytes there, {expected[fixed.done[0].oid]} here)")

    # ----- downloads ---------------------------------------------------------------------
    def download(self, items: Iterable[Item], stores: list[Store]) -> Result:
        result = Result()
        todo = []
        for item in dedupe(items):
            if not 0 <= item.size <= pointer.MAX_SIZE:  # no file is that large: never asked for
                result.failed.append(Failure(item, "its pointer", f"size {item.size} is "
                                             "impossible; the pointer is corrupt"))
                continue
            (result.skipped if self.cache.has(item.oid) else todo).append(item)
        if not todo:
            return result
        if not stores:
            for item in todo:
                result.failed.append(Failure(item, "no store", "no data store is configured"))
            return result
        stores = usable(stores)
        names = ", ".join(s.describe() for s in stores)
        for store in stores:
            todo = self._from_packs(todo, store, result)
        if not todo:
            return result
        progress = self._progress("Downloading data", todo)
        if stores and stores[0].capabilities.bulk:
            small = [i for i in todo if i.size < SMALL_OBJECT]
            elsewhere = Result()  # not in the first store: the one-by-one path tries the rest
            self._run_batched(small, lambda batch: self._deliver(stores[0], batch),
                              stores[0].describe(), result, progress, elsewhere)
            todo = [i for i in todo if i.size >= SMALL_OBJECT] + [f.item for f in elsewhere.failed]
        self._run_metered(todo, lambda i, meter: self.fetch_one(i, stores, meter), names,
                          result, stores, progress)
        return result

    def _from_packs(self, todo: list[Item], store: Store, result: Result) -> list[Item]:
        """Read what ``store``'s packs hold (coalesced ranges, each object verified); the
        rest is returned for the loose path."""
        try:
            groups = self.packset(store).group(i.oid for i in todo)
        except StoreError as exc:
            warn(f"cannot list the packs of {store.describe()}: {exc}")
            return todo
        if not groups:
            return todo
        by_oid = {i.oid: i for i in todo}
        lock = threading.Lock()
        handled: set[str] = set()

        def one(name: str) -> None:
            entries = groups[name]
            try:
                size = store.size(packs.pack_key(name))
                outcome = list(packs.read_pack_objects(store, name, entries, self.cache, size))
            except Exception as exc:
                outcome = [(e.oid, f"{store.describe()}: pack {packs.pack_key(name)}: "
                            f"{_describe(exc)}") for e in entries]
            with lock:
                for oid, error in outcome:
                    handled.add(oid)
                    if error is None:
                        result.done.append(by_oid[oid])
                    else:
                        result.failed.append(Failure(by_oid[oid], store.describe(), error))

        names = sorted(groups)
        run_parallel(one, names, max(1, min(len(names), self.workers or 8)))  # type: ignore[arg-type]
        self.known(store.url).add(i.oid for i in result.done)
        return [i for i in todo if i.oid not in handled]

    def _one_from_pack(self, item: Item, store: Store, errors: list[str]) -> bool:
        """One object from ``store``'s packs (the filter's path): True once it is cached."""
        try:
            groups = self.packset(store).group([item.oid])
        except StoreError:
            return False
        for name, entries in groups.items():
            for _, error in packs.read_pack_objects(store, name, entries, self.cache):
                if error is None:
                    return True
                errors.append(error)
        return False

    def _deliver(self, store: Store, batch: list[Item]) -> dict[str, BaseException | None]:
        """One round of small downloads: each body is verified against its pointer's size
        (the store refuses another length from the headers) and its oid before it enters
        the cache."""
        outcome: dict[str, BaseException | None] = {}
        sizes = {i.oid: i.size for i in batch}
        for oid, got in store.get_many(list(sizes), sizes).items():
            if isinstance(got, BaseException):
                outcome[oid] = got
                continue
            try:
                write_verified(self.cache, store, oid, [got], sizes.get(oid))
            except (PermanentError, WrongSize) as exc:
                outcome[oid] = exc
                continue
            outcome[oid] = None
        self.known(store.url).add(oid for oid, error in outcome.items() if error is None)
        return outcome

    def fetch_one(self, item: Item, stores: list[Store],
                  on_bytes: Callable[[int], None] | None = None) -> None:
        """Try each store in order; the first that has the object supplies it. ``on_bytes``
        hears each chunk's length as it arrives."""
        errors = []
        for store in stores:
            if self._one_from_pack(item, store, errors):
                return
            try:
                download_object(self.cache, store, item.oid, self.links, item.size, on_bytes)
                self.known(store.url).add([item.oid])
                return
            except FileNotFoundError:
                errors.append(f"not in {store.describe()}")
            except StoreError as exc:
                if isinstance(exc, TransientStoreError):
                    raise
                errors.append(str(exc))
        raise PermanentError("; ".join(errors) or "no store")


def usable(stores: list[Store]) -> list[Store]:
    """The stores that answer (see Store.check); a broken one is named once and skipped, and
    when none answers the first one's error is the command's one-line error. A local folder
    that does not exist is no fallback for a store that refused us: it holds nothing, and
    reading from it would turn one refusal into a "not in" line for every file."""
    good, errors = [], []
    for store in stores:
        try:
            store.check()
            good.append(store)
        except StoreError as exc:
            errors.append(exc)
    if errors:
        good = [s for s in good if not _absent_folder(s)]
    if not good and errors:
        raise errors[0]
    for exc in errors:
        warn(f"{exc}; reading from the other stores")
    return good


def _absent_folder(store: Store) -> bool:
    """A local-folder store whose folder does not exist (an embedded ``<repo>/data`` never
    pushed to, say)."""
    return store.capabilities.local_path and not os.path.isdir(store.root)


def download_object(cache: Cache, store: Store, oid: str, link: bool = False,
                    size: int | None = None, on_bytes: Callable[[int], None] | None = None
                    ) -> None:
    """Fetch ``oid`` from ``store`` into the cache, verified. ``size`` (a pointer's, so
    untrusted) is checked against the store's own size of the object before any byte moves
    where the store tells it (a local file's size, an S3 HEAD or GET's headers), and against
    the bytes that arrive in any case; a mismatch is a :class:`WrongSize`. ``on_bytes``
    hears the length of each chunk as it arrives (a hard link moves none)."""
    if cache.has(oid):
        return
    local = store.local_object_path(oid) if link and store.capabilities.local_path else None
    if local is not None and _link_verified(cache, store, oid, local, size):
        return
    if size is not None and size >= LARGE_OBJECT and store.capabilities.ranged_get:
        _download_in_ranges(cache, store, oid, size, on_bytes)
        return
    with store.open_object(oid) as source:
        announced = _announced_size(source)
        if size is not None and announced is not None and announced != size:
            raise WrongSize(store.describe(), oid, announced, size)
        write_verified(cache, store, oid, _metered(iter(lambda: source.read(CHUNK), b""),
                                                   on_bytes), size)


def _metered(chunks: Iterator[bytes], on_bytes: Callable[[int], None] | None
             ) -> Iterator[bytes]:
    for chunk in chunks:
        if on_bytes is not None:
            on_bytes(len(chunk))
        yield chunk


def _same_file(a: str | None, b: str) -> bool:
    """Whether ``a`` names the very inode of ``b`` (a hard link; never followed if a link)."""
    if a is None:
        return False
    try:
        one, other = os.lstat(a), os.stat(b)
    except OSError:
        return False
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def _announced_size(source: object) -> int | None:
    """The size an open store object says it has (fsspec files and S3 bodies: ``size``; a
    local file: its ``fstat``), or None."""
    size = getattr(source, "size", None)
    if isinstance(size, int) and size >= 0:
        return size
    try:
        return os.fstat(source.fileno()).st_size  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def write_verified(cache: Cache, store: Store, oid: str, chunks: Iterable[bytes],
                   size: int | None = None) -> None:
    """Stream bytes read from ``store`` into the cache as ``oid``; a mismatch with the oid or
    with ``size`` (stopped at the first byte beyond it) leaves nothing."""
    with cache.writer(pointer.split_oid(oid)[0]) as writer:
        for chunk in chunks:
            if size is not None and writer.size + len(chunk) > size:
                raise WrongSize(store.describe(), oid, f"more than {size}", size)
            writer.write(chunk)
        if size is not None and writer.size != size:
            raise WrongSize(store.describe(), oid, writer.size, size)
        try:
            writer.commit(expected_oid=oid)
        except FatalError as exc:
            raise _corrupt_copy(store, str(exc)) from exc


def _download_in_ranges(cache: Cache, store: Store, oid: str, size: int,
                        on_bytes: Callable[[int], None] | None = None) -> None:
    """A large object in concurrent ranges (see S3Store.download_to), hashed once complete;
    only then is it renamed into the cache. Its size is the store's, checked against the
    pointer's first: ranges are never planned from a pointer alone."""
    stored = store.object_sizes([oid]).get(oid)
    if stored is None:
        raise FileNotFoundError(f"{oid} is not in {store.describe()}")
    if stored != size:
        raise WrongSize(store.describe(), oid, stored, size)
    fd, name = cache.new_tmp_file(cache.tmp_dir_str)  # O_EXCL, an unpredictable name
    tmp = Path(name)
    try:
        store.download_to(oid, size, fd, on_bytes)  # (owns fd now)
        _adopt_verified(cache, store, oid, tmp, size)
    finally:
        tmp.unlink(missing_ok=True)


def _link_verified(cache: Cache, store: Store, oid: str, source: str,
                   size: int | None = None) -> bool:
    """Hard-link a local store's object into the cache after checking its size and hashing
    it (a link shares the inode, so this checks the very bytes the cache will hold). False:
    copy instead."""
    tmp = _tmp_name(cache, "link")
    if not link_into(source, str(tmp)):
        if not os.path.exists(source):
            raise FileNotFoundError(source)
        return False
    try:
        _adopt_verified(cache, store, oid, tmp, size)
    except PermissionError:  # e.g. another user's object we may not make read-only
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _abort_stale_uploads(store: Store) -> None:
    """Before a push uploads: abort the uploads killed pushes left in the store (S3: see
    S3Store.abort_stale_uploads). Housekeeping only: a store that refuses it (no permission
    to list uploads, say) is not a reason to stop the push."""
    try:
        store.abort_stale_uploads()
    except StoreError:
        pass


def _tmp_name(cache: Cache, kind: str) -> Path:
    cache.ensure_folder(cache.tmp_dir_str)
    return cache.tmp_dir / f"{kind}-{os.urandom(16).hex()}"


def run_parallel(work: Callable[[Item], None], items: list[Item], workers: int) -> None:
    """``work`` on every item from up to ``workers`` threads; ``work`` reports its own
    failures. Plain threads, not concurrent.futures: its import (with logging) costs a
    pre-push hook more than the few objects it usually moves."""
    pending = iter(items)
    lock = threading.Lock()
    stopped = threading.Event()

    def worker() -> None:
        while not stopped.is_set():
            with lock:
                item = next(pending, None)
            if item is None:
                return
            work(item)

    threads = [threading.Thread(target=worker) for _ in range(min(workers, len(items)) - 1)]
    for thread in threads:
        thread.start()
    try:
        worker()  # the calling thread takes a share too
    except BaseException:  # Ctrl-C: finish the transfers under way, start no new ones
        stopped.set()
        raise
    finally:
        for thread in threads:
            thread.join()


def _adopt_verified(cache: Cache, store: Store, oid: str, tmp: Path,
                    expected: int | None = None) -> None:
    """Check the size of a complete file from ``store`` (before hashing: a wrong one costs
    a stat, not a read), hash it and rename it into the cache as ``oid``."""
    if expected is not None and (found := os.stat(tmp).st_size) != expected:
        raise WrongSize(store.describe(), oid, found, expected)
    actual, size = hash_file(str(tmp), pointer.split_oid(oid)[0])
    if actual != oid:
        raise _corrupt_copy(store, f"{oid} hashes to {actual}, {size} bytes")
    cache.adopt(tmp, oid, hashed=True)


def _corrupt_copy(store: Store, detail: str) -> PermanentError:
    return PermanentError(f"bytes in {store.describe()} do not match the oid ({detail}); the "
                          "store copy is corrupt, not cached")


def _sha1_hex(data: bytes) -> str:
    """CPython's built-in SHA-1 when it has one: hashlib's OpenSSL import costs every
    pre-push hook about 5 ms, for one short digest."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found]
    except ImportError:
        from hashlib import sha1
    return sha1(data).hexdigest()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and type(exc).__module__ == "builtins":
        # "no space left on device (/x/.git/data/tmp)", not "[Errno 28] No space left ..."
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror[:1].lower()}{exc.strerror[1:]}{where}"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


# ----- used by the filter process and status --------------------------------------------
class FilterFetcher:
    """Fetches objects for the smudge filter in parallel; stores are resolved on first use so
    a checkout with everything cached never touches configuration or the network."""

    def __init__(self, repo: Repo, config: Config) -> None:
        self.repo = repo
        self.config = config
        # checkout asks for objects one at a time; the pool bounds how many are in flight
        import concurrent.futures as cf

        self.pool = cf.ThreadPoolExecutor(config.get_int("data.transfers", 0) or 16)
        self.queue = TransferQueue.for_repo(config, quiet=True)
        self._stores: dict[str | None, list[Store]] = {}
        self._lock = threading.Lock()

    def stores(self, branch: str | None) -> list[Store]:
        """The read order of ``branch``'s stores (its own store first), opened once."""
        with self._lock:
            if branch not in self._stores:
                from .store.remotes import read_order

                stores, refused = [], False
                for remote in read_order(self.repo, self.config, branch):
                    try:
                        store = remote.open()
                        store.check()
                        stores.append(store)
                    except FatalError as exc:
                        warn(str(exc))
                        refused = True
                self._stores[branch] = [s for s in stores if not (refused and
                                                                  _absent_folder(s))]
            return self._stores[branch]

    def submit(self, oid: str, size: int, path: str, ref: str | None = None
               ) -> cf.Future[bool]:
        """``ref`` is the ref git is checking out (its smudge request's ``ref=``): during
        `git switch B`, HEAD still names the old branch, so B's routing comes from there."""
        branch = branch_of_ref(ref) or self.repo.current_branch()
        return self.pool.submit(self._fetch, Item(oid, size, path), branch)

    def _fetch(self, item: Item, branch: str | None) -> bool:
        stores = self.stores(branch)
        if not stores:
            return False
        try:
            self.queue._with_retries(lambda: self.queue.fetch_one(item, stores))
        except Exception as exc:
            warn(f"could not fetch {item.path} ({item.oid}): {_describe(exc)}")
            return False
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def branch_of_ref(ref: str | None) -> str | None:
    """The branch a checked-out ref stands for: ``refs/heads/B`` is B, and so is
    ``refs/remotes/origin/B``, which git names when `git switch B` creates B from origin's
    copy (the remote's name is taken to hold no slash). Tags and commits: None."""
    if not ref:
        return None
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/"):]
    if ref.startswith("refs/remotes/"):
        _, _, branch = ref[len("refs/remotes/"):].partition("/")
        return branch or None
    return None


def filter_fetcher(repo: Repo, config: Config) -> FilterFetcher | None:
    if os.environ.get("GIT_DATA_SKIP_SMUDGE"):
        return None
    return FilterFetcher(repo, config)
