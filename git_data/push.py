"""Uploading the data that pushed commits need, shared by the pre-push hook and
`git data push`.

    refs being pushed -> `git rev-list --objects NEW --not <what the remote has>`
      -> small blobs read with pygit2 -> pointers -> oids the store lacks -> TransferQueue
      -> branches/<branch>.json manifest

Only objects new to the remote are listed (git walks the history in C), and the local record
of known objects skips anything uploaded before, so pushing one commit on top of a long
history costs in proportion to that commit.
"""

from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass

import pygit2

from . import pointer
from .config import Config
from .errors import FatalError
from .gitrepo import Repo
from .progress import note
from .store import Store
from .store.copy import fill_from_stores
from .store.remotes import Remote, resolve, same_store_tracking_refs
from .transfer import Item, Result, TransferQueue

ZERO = "0" * 40


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
    remote-tracking refs of ``exclude_remote``."""
    args = ["rev-list", "--objects", *tips, "--not", *exclude]
    if exclude_remote:
        args.append(f"--remotes={exclude_remote}")
    out = repo.git(*args)
    odb = repo.pygit.odb
    items = []
    for line in out.splitlines():
        sha, _, path = line.decode(errors="surrogateescape").partition(" ")
        if not path:
            continue  # commits and root trees
        oid = pygit2.Oid(hex=sha)
        kind, size = odb.read_header(oid)
        if kind != pygit2.GIT_OBJECT_BLOB or size > pointer.MAX_POINTER_SIZE:
            continue
        parsed = repo.blob_pointer(oid, odb)
        if parsed is not None:
            items.append(Item(parsed.oid, parsed.size, path))
    return items


def push_updates(repo: Repo, config: Config, updates: list[RefUpdate], git_remote: str,
                 git_url: str | None, quiet: bool = False, explicit: str | None = None,
                 whole_history: bool = False) -> int:
    """Upload what each updated ref needs to the store its branch routes to."""
    queue = TransferQueue.for_repo(config, quiet=quiet)
    failures = Result()
    for update in updates:
        remote = resolve(repo, config, explicit, update.branch, git_remote, git_url)
        store = remote.open()
        exclude = [update.remote_sha] if update.remote_sha != ZERO and _exists(
            repo, update.remote_sha) else []
        if not whole_history:  # only branches whose data went to this same store
            exclude += same_store_tracking_refs(repo, config, git_remote, remote.url, explicit)
        items = new_pointers(repo, [update.local_sha], exclude, None)
        result = queue.upload(items, store)
        # objects the local cache lacks (a merged branch never fetched here): store to store
        result = fill_from_stores(repo, config, queue, result, store, update.branch)
        failures.failed.extend(result.failed)
        if result.done and not quiet:
            note(f"uploaded {len(result.done)} object(s) to {store.describe()}")
        if update.branch and result.ok:
            write_manifest(repo, store, remote, update.branch, update.local_sha)
    failures.raise_for_failures("upload")
    return 0


def write_manifest(repo: Repo, store: Store, remote: Remote, branch: str, commit: str) -> None:
    entries = list(repo.tree_pointers(repo.resolve(commit).tree))
    who = repo.git("config", "--get", "user.email", check=False).decode().strip() or (
        f"{getpass.getuser()}@{socket.gethostname()}")
    store.write_json(f"branches/{branch}.json", {
        "branch": branch,
        "commit": commit,
        "objects": len({e.oid for e in entries}),
        "files": len(entries),
        "bytes": sum(e.size for e in entries),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "who": who,
        "remote": remote.name,
    })


def _exists(repo: Repo, sha: str) -> bool:
    try:
        repo.pygit[sha]
        return True
    except (KeyError, ValueError):
        return False


def push_refs(repo: Repo, config: Config, remote_name: str | None, refs: list[str],
              all_refs: bool, quiet: bool = False) -> int:
    """`git data push`: like the hook, for refs named by hand (default: the current branch)."""
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
    return push_updates(repo, config, updates, git_remote, None, quiet, explicit,
                        whole_history=True)


def _is_data_remote(config: Config, name: str) -> bool:
    from .store.remotes import configured

    return name in configured(config)
