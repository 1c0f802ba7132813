"""Uploading the data that pushed commits need, shared by the pre-push hook and
`git data push`.

    refs being pushed -> `git rev-list --objects NEW --not <what the remote has>`
      -> small blobs read with pygit2 -> pointers -> oids the store lacks -> TransferQueue
      -> branches/<branch>.json manifest

Only objects new to the remote are listed (git walks the history in C), and the local record
of known objects skips anything uploaded before, so pushing one commit on top of a long
history costs in proportion to that commit. That record is trusted only while the store's id
(``gitdata-store.json``, one small read per push) is the one it was written for.

An object the default store holds is not uploaded to a branch routed elsewhere: every read
falls back to the default (``store.remotes.fallback_stores``), so a branch made from main
reads main's data without a copy. What the default holds comes from its local record (trusted
while bound to the store's id) and, for the rest, one bulk size check there. ``--self-contained``
(``git data push``) copies everything into the branch's own store instead, and so does a push
to a data remote named by hand (``git data pull NAME`` reads that store alone).

Data a pushed commit needs that neither the local cache nor any store holds stops the push
with one line (count, first file, what to do), as git-lfs does; ``data.allowIncompletePush``
(git config only) lets it through with that line as a warning. An object a fallback store
holds is not missing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import pointer
from .config import Config, parse_bool
from .copy import fill_from_stores
from .errors import FatalError
from .gitrepo import Repo
from .progress import note, warn
from .store import Store, StoreIdError
from .store.remotes import Remote, covered_tracking_refs, fallback_stores, resolve
from .transfer import Failure, Item, KnownObjects, Result, TransferQueue

ZERO = "0" * 40
# git config only (never .gitdata: a repository must not switch this safety off for you)
ALLOW_INCOMPLETE = "data.allowIncompletePush"


@dataclass
class RefUpdate:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def branch(self) -> str | None:
        for prefix in ("refs/heads/",):
            if self.remote_ref.startswith(prefix):
                return self.remote_ref[len(prefix):]
        return None


def parse_pre_push(stdin: bytes) -> list[RefUpdate]:
    updates = []
    for line in stdin.decode().splitlines():
        parts = line.split()
        if len(parts) == 4 and set(parts[1]) != {"0"}:
            updates.append(RefUpdate(*parts))
    return updates


def new_pointers(repo: Repo, tips: list[str], exclude: list[str],
                 exclude_remote: str | None) -> list[Item]:
    """Pointers in objects reachable from ``tips`` but not from ``exclude`` or the
    remote-tracking refs of ``exclude_remote``. git walks and sizes the objects in C; only
    blobs small enough to be pointers are read."""
    args = ["rev-list", "--objects", *tips, "--not", *exclude]
    if exclude_remote:
        args.append(f"--remotes={exclude_remote}")
    listed = repo.git(*args)
    if not listed.strip():
        return []
    checked = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize) "
                       "%(rest)", input=listed)
    candidates = []
    for line in checked.splitlines():
        sha, kind, size, *rest = line.decode(errors="surrogateescape").split(" ", 3)
        if kind == "blob" and rest and int(size) <= pointer.MAX_POINTER_SIZE:
            candidates.append((rest[0], sha))
    return [Item(e.oid, e.size, e.path) for e in repo.read_pointers(candidates)]


def push_updates(repo: Repo, config: Config, updates: list[RefUpdate], git_remote: str,
                 git_url: str | None, explicit: str | None = None,
                 whole_history: bool = False, self_contained: bool = False) -> int:
    """Upload what each updated ref needs to the store its branch routes to (with
    ``self_contained``, also what the default store already holds for it). Notes and
    progress obey progress.is_quiet, set by the CLI or the hook."""
    queue = TransferQueue.for_repo(config)
    allow_incomplete = parse_bool(config.get_git(ALLOW_INCOMPLETE), False)
    failures = Result()
    nowhere: dict[str, tuple[Item, RefUpdate]] = {}
    bound: set[str] = set()
    fallbacks: dict[str, tuple[Store, KnownObjects | None] | None] = {}  # per store URL
    for update in updates:
        remote = resolve(repo, config, explicit, update.branch, git_remote, git_url)
        store = remote.open()
        exclude = [update.remote_sha] if update.remote_sha != ZERO and _exists(
            repo, update.remote_sha) else []
        if not whole_history:  # branches whose data this store's readers already reach
            exclude += covered_tracking_refs(repo, config, git_remote, remote.url, explicit)
        items = new_pointers(repo, [update.local_sha], exclude, None)
        if items and store.url not in bound:
            bind_record(queue.known(store.url), store)
            bound.add(store.url)
        if not (self_contained or explicit):  # a store named by hand may be read alone
            items = _not_held_by_fallbacks(repo, config, queue, items, remote, store,
                                           git_remote, fallbacks)
        result = queue.upload(items, store, pack=True)
        # objects the local cache lacks (a merged branch never fetched here): store to store
        result = fill_from_stores(repo, config, queue, result, store, update.branch)
        lost = [f for f in result.failed if _held_nowhere(queue, f)]
        for failure in lost:
            nowhere.setdefault(failure.item.oid, (failure.item, update))
        result.failed = [f for f in result.failed if f not in lost]
        failures.failed.extend(result.failed)
        if result.done:
            note(f"uploaded {len(result.done)} object(s) to {store.describe()}")
        if update.branch and result.ok and (allow_incomplete or not lost):
            write_manifest(repo, store, remote, update.branch, update.local_sha,
                           update.remote_sha if update.remote_sha != ZERO else None,
                           who=config.get_git("user.email"))
    if nowhere:
        line = _nowhere_line(list(nowhere.values()), allow_incomplete)
        if allow_incomplete or failures.failed:
            warn(line)
        else:
            raise FatalError(line)
    failures.raise_for_failures("upload")
    return 0


def bind_record(record: KnownObjects, store: Store) -> None:
    """Tie the local record of what ``store`` holds to the store's id (one small read; the
    id is written on a store's first push). A record of another id, or of none, is dropped,
    so this push asks the store about every object instead of trusting it."""
    try:
        ident: str | None = store.ensure_store_id()
    except StoreIdError as exc:  # other store errors (credentials, bucket) stop the push
        warn(f"{exc}; this push asks the store about every object")
        ident = None
    record.bind(ident)


def _not_held_by_fallbacks(repo: Repo, config: Config, queue: TransferQueue,
                           items: list[Item], remote: Remote, store: Store, git_remote: str,
                           fallbacks: dict[str, tuple[Store, KnownObjects | None] | None]
                           ) -> list[Item]:
    """``items`` less those a fallback store of ``remote`` (the default) holds at their size:
    readers of the branch find them there, so they are neither uploaded nor missing. The
    target's own record is left to the upload; the rest is asked of each fallback at once."""
    known = queue.known(store.url)
    todo = [i for i in items if not known.contains(i.oid)]
    for fallback in fallback_stores(repo, config, remote, git_remote) if todo else []:
        if fallback.url not in fallbacks:
            fallbacks[fallback.url] = _open_fallback(queue, fallback)
        opened = fallbacks[fallback.url]
        if opened is None:
            continue
        source, record = opened
        trusted = {i.oid for i in todo if record is not None and record.contains(i.oid)}
        ask = {i.oid: i.size for i in todo if i.oid not in trusted}
        try:
            sizes = source.object_sizes(ask) if ask else {}
        except (FatalError, OSError) as exc:
            warn(f"could not ask {source.describe()} which objects it holds ({exc}); "
                 f"uploading them to {store.describe()}")
            fallbacks[fallback.url] = None
            continue
        found = {oid for oid, size in sizes.items() if size == ask[oid]}
        queue.known(source.url).add(found)
        held = trusted | found
        if held and not queue.quiet:
            note(f"{len(held)} object(s) are read from {source.describe()}, not copied to "
                 f"{store.describe()} (`git data push --self-contained` copies them)")
        items = [i for i in items if i.oid not in held]
        todo = [i for i in todo if i.oid not in held]
    return items


def _open_fallback(queue: TransferQueue, remote: Remote
                   ) -> tuple[Store, KnownObjects | None] | None:
    """A fallback store and its local record, when that record is bound to the store's id
    (read, never written: this push only reads that store); None: the store cannot be used."""
    try:
        store = remote.open()
        ident = store.store_id()
    except StoreIdError:
        return store, None
    except (FatalError, OSError) as exc:
        warn(f"{exc}; objects are not looked for in {remote.name}")
        return None
    if ident is None:  # a store no push gave an id: its record is trusted for nothing
        return store, None
    record = queue.known(store.url)
    record.bind(ident)  # a record of another id, or of none, starts afresh
    return store, record


def _held_nowhere(queue: TransferQueue, failure: Failure) -> bool:
    """A failure for an object that neither the local cache nor any store holds: what
    copy.locate reports when no store has it (not a transfer that failed)."""
    return failure.error.startswith("not in ") and not queue.cache.has(failure.item.oid)


def _nowhere_line(lost: list[tuple[Item, RefUpdate]], allowed: bool) -> str:
    item, update = lost[0]
    more = f" and {len(lost) - 1} more" if len(lost) > 1 else ""
    where = f"{update.local_ref.removeprefix('refs/heads/')} ({update.local_sha[:12]})"
    head = (f"{len(lost)} data file(s) that {where} needs are neither in the local cache nor "
            f"in any store ({item.path} {item.oid}{more})")
    if allowed:
        return f"{head}; pushed anyway ({ALLOW_INCOMPLETE} is true): clones will lack them"
    return (f"{head}; run `git data push` in the clone where they were added, or push these "
            f"commits without their data with `git config {ALLOW_INCOMPLETE} true`")


def write_manifest(repo: Repo, store: Store, remote: Remote, branch: str, commit: str,
                   base: str | None = None, who: str | None = None) -> None:
    census = tree_census(repo, commit, base)
    who = who or f"{_login()}@{os.uname().nodename}"
    store.write_json(f"branches/{branch}.json", {
        "branch": branch,
        "commit": commit,
        "objects": len(census),
        "files": sum(count for count, _ in census.values()),
        "bytes": sum(count * size for count, size in census.values()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "who": who,
        "remote": remote.name,
    })


def _login() -> str:
    """The user name as getpass finds it, without importing getpass (and pwd) at start-up."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def tree_census(repo: Repo, commit: str, base: str | None) -> dict[str, tuple[int, int]]:
    """oid -> (files using it, size) for a commit's tree, kept in the local cache per commit.

    With the census of ``base`` (what the remote had) at hand, only the paths that changed
    between the two commits are read, so a manifest costs in proportion to the push.
    """
    folder = repo.common_dir / "data" / "census"
    cached = _load_census(folder, base) if base else None
    if cached is None:
        census: dict[str, tuple[int, int]] = {}
        for entry in repo.tree_pointers(commit):
            count, _ = census.get(entry.oid, (0, entry.size))
            census[entry.oid] = (count + 1, entry.size)
    else:
        census = cached
        old, new = _changed_blobs(repo, base, commit)  # type: ignore[arg-type]
        for entry in repo.blob_pointers(old):
            count, size = census.get(entry.oid, (1, entry.size))
            if count <= 1:
                census.pop(entry.oid, None)
            else:
                census[entry.oid] = (count - 1, size)
        for entry in repo.blob_pointers(new):
            count, _ = census.get(entry.oid, (0, entry.size))
            census[entry.oid] = (count + 1, entry.size)
    from . import safeio  # (ctypes) only when a manifest is written

    safeio.write_text(folder / commit, json.dumps(census), root=repo.common_dir)
    return census


def _load_census(folder: Path, commit: str) -> dict[str, tuple[int, int]] | None:
    try:
        raw = json.loads((folder / commit).read_text())
    except (OSError, ValueError):
        return None
    return {oid: (int(v[0]), int(v[1])) for oid, v in raw.items()}


def _changed_blobs(repo: Repo, base: str, commit: str
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    out = repo.git("diff-tree", "-r", "-z", "--no-renames", base, commit).split(b"\0")
    old, new = [], []
    zero = "0" * 40
    for i in range(0, len(out) - 1, 2):
        meta = out[i].decode().split()
        if len(meta) < 5:
            continue
        path = out[i + 1].decode(errors="surrogateescape")
        if meta[2] != zero and meta[0].lstrip(":") in ("100644", "100755"):
            old.append((path, meta[2]))
        if meta[3] != zero and meta[1] in ("100644", "100755"):
            new.append((path, meta[3]))
    return old, new


def _exists(repo: Repo, sha: str) -> bool:
    return bool(repo.git("cat-file", "-t", sha, check=False).strip())


def push_refs(repo: Repo, config: Config, remote_name: str | None, refs: list[str],
              all_refs: bool, quiet: bool = False, self_contained: bool = False) -> int:
    """`git data push`: like the hook, for refs named by hand (default: the current branch).
    ``self_contained``: the branch's store gets every object the refs reach, also those the
    default store holds. ``quiet`` is ignored (progress.is_quiet is the one source); kept
    while the CLI passes it."""
    git_remote = remote_name or "origin"
    if all_refs:
        refs = [r.decode() for r in repo.git("for-each-ref", "--format=%(refname)",
                                             "refs/heads", "refs/tags").split()]
    elif not refs:
        branch = repo.current_branch()
        if branch is None:
            raise FatalError("HEAD is detached; name what to push: `git data push origin REF`")
        refs = [f"refs/heads/{branch}"]
    updates = []
    for ref in refs:
        sha = str(repo.resolve(ref).id)
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        updates.append(RefUpdate(full, sha, full, ZERO))
    explicit = remote_name if remote_name and _is_data_remote(config, remote_name) else None
    # By hand, the remote-tracking refs prove nothing about the store (the hook may not have
    # run), so the whole history is listed; the known-objects record keeps that cheap.
    return push_updates(repo, config, updates, git_remote, None, explicit,
                        whole_history=True, self_contained=self_contained)


def _is_data_remote(config: Config, name: str) -> bool:
    from .store.remotes import configured

    return name in configured(config)
