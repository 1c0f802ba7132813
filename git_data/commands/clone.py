"""`git data clone URL [DIR]`: clone with smudging off (pointers only, fast), install
git-data in the clone, then download the data in parallel and write the files.

With ``--copy-data-to STORE_URL`` the clone first copies every object its branches reach
(their whole history, or the paths ``--include`` selects) from the source stores to the new
store (server-side on the same S3 endpoint, streamed otherwise; verified; only what is
missing, so running the same command again resumes an interrupted copy), then points this
clone's default data remote at it with per-clone git config and says how to share that.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import safeio
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..materialize import select
from ..progress import human_bytes, note
from ..store.remotes import Remote, configured, default_name, read_order
from ..transfer import Item, TransferQueue
from .install import install_here
from .pull import pull

PENDING_COPY = "copy-data-to.json"  # in $GIT_DIR/data while a copy is unfinished


@dataclass
class CopyTarget:
    url: str
    options: dict[str, str] = field(default_factory=dict)  # endpointurl, region, profile
    name: str = ""


def clone(url: str, directory: str | None, no_data: bool, include: list[str] | None,
          exclude: list[str] | None, quiet: bool, git_args: tuple[str, ...] = (),
          copy_to: CopyTarget | None = None, sample: float | None = None) -> int:
    target = directory or Path(url.rstrip("/")).name.removesuffix(".git") or "repo"
    if copy_to and "://" not in copy_to.url:  # a folder on this machine
        copy_to.url = Path(copy_to.url).expanduser().resolve().as_uri()
    if not (copy_to and _resuming(target, url, copy_to)):
        _git_clone(url, target, quiet, git_args)
    repo = Repo(target)
    install_here(repo)
    if copy_to:
        copy_data(repo, url, copy_to, include, exclude, _branch(git_args), quiet)
    if no_data:
        if not quiet:
            note(f"cloned {url} into {target} without data; `git data pull` fetches it")
        return 0
    old = os.getcwd()
    os.chdir(repo.root)
    try:
        if sample is not None:  # a deterministic sample of the files, chosen by oid
            from .stats import pull_sample

            return pull_sample(Repo("."), sample, include, exclude, quiet)
        return pull(Repo("."), None, include, exclude, [], quiet)
    finally:
        os.chdir(old)


def _git_clone(url: str, target: str, quiet: bool, git_args: tuple[str, ...]) -> None:
    env = dict(os.environ, GIT_DATA_SKIP_SMUDGE="1")
    # git's own checkout writes the pointer files as they are, with no filter process (a
    # global install would otherwise start one and answer every file with its pointer); the
    # data is fetched afterwards, in parallel, for exactly the files asked for. `git -c`
    # (not `git clone -c`) keeps these settings out of the new repository's config.
    no_filter = [f"filter.data.{key}=" for key in ("process", "smudge", "clean")]
    cmd = ["git", *[arg for kv in no_filter for arg in ("-c", kv)],
           "-c", "filter.data.required=false",
           "clone", *(["-q"] if quiet else []), *git_args, url, target]
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise FatalError(f"git clone of {url} failed (exit {proc.returncode}); see git's "
                         "message above", code=proc.returncode)


def _branch(git_args: tuple[str, ...]) -> str | None:
    for flag in ("-b", "--branch"):
        if flag in git_args and git_args.index(flag) + 1 < len(git_args):
            return git_args[git_args.index(flag) + 1]
    return None


def _resuming(target: str, url: str, copy_to: CopyTarget) -> bool:
    """An earlier `clone --copy-data-to` of the same source into ``target`` was interrupted."""
    marker = Path(target) / ".git" / "data" / PENDING_COPY
    try:
        pending = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if pending.get("source") != url or pending.get("target", {}).get("url") != copy_to.url:
        return False
    note(f"resuming the unfinished copy of {url}'s data to {copy_to.url} in {target}")
    return True


# ----- copy on clone ------------------------------------------------------------------
def copy_data(repo: Repo, source_url: str, copy_to: CopyTarget, include: list[str] | None,
              exclude: list[str] | None, branch: str | None, quiet: bool) -> None:
    from ..store.copy import copy_objects, open_stores

    config = Config(repo)
    remote = new_remote(config, copy_to)
    marker = repo.git_dir / "data" / PENDING_COPY
    safeio.write_text(marker, json.dumps({"source": source_url, "target": asdict(copy_to)}))
    items = reachable_items(repo, branch, include, exclude)
    sources = open_stores(r for r in read_order(repo, config) if r.url != remote.url)
    target = remote.open()
    created = getattr(target, "create_bucket", lambda: False)()
    queue = TransferQueue.for_repo(config, quiet=quiet)
    result = copy_objects(queue, items, sources, target)
    result.raise_for_failures("copy")
    for key, value in {"url": remote.url, **remote.options}.items():
        repo.git("config", f"data.remote.{remote.name}.{key}", value)
    repo.git("config", "data.remote", remote.name)
    marker.unlink()
    copied = sum(i.size for i in result.done)
    note(f"copied {len(result.done)} object(s) ({human_bytes(copied)}) to {target.describe()}"
         f"{' (new bucket)' if created else ''}: {result.count('server-side')} server-side, "
         f"{result.count('streamed')} streamed; {len(result.skipped)} already there")
    shared = " ".join(f"--{_FLAGS[k]} {v}" for k, v in remote.options.items())
    note(f"this clone now keeps its data in {remote.name} ({remote.url}), set in .git/config "
         f"(data.remote = {remote.name}); to make it the store for everyone, commit it:\n"
         f"  git data remote add {remote.name} {remote.url} {shared + ' ' if shared else ''}"
         f"--default && git add .gitdata && git commit -m 'Keep data in {remote.url}'")


_FLAGS = {"endpointurl": "endpoint-url", "region": "region", "profile": "profile"}


def new_remote(config: Config, copy_to: CopyTarget) -> Remote:
    """The remote for the new store: its name (from the bucket or folder unless given) and,
    on S3, the endpoint/region/profile of the source store unless given."""
    remotes = configured(config)
    options = {k: v for k, v in copy_to.options.items() if v}
    source = remotes.get(default_name(config, remotes) or "")
    if copy_to.url.startswith("s3://") and source is not None and source.is_s3:
        for key in ("endpointurl", "region", "profile"):
            if key in source.options and key not in options:
                options[key] = source.options[key]
    name = copy_to.name or _name_for(copy_to.url)
    while name in remotes and remotes[name].url != copy_to.url:
        name += "-copy"
    return Remote(name, copy_to.url, {k: v for k, v in options.items() if v})


def _name_for(url: str) -> str:
    rest = url.split("://", 1)[-1].strip("/")
    part = rest.split("/", 1)[0] if url.startswith(("s3://", "gs://")) else rest.rsplit("/")[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", part).strip("-.") or "copy"


def reachable_items(repo: Repo, branch: str | None, include: list[str] | None,
                    exclude: list[str] | None) -> list[Item]:
    """Every pointer in the history of the chosen branches (all of origin's by default)."""
    from ..push import new_pointers

    if branch:
        tips = [f"refs/remotes/origin/{branch}"]
    else:
        out = repo.git("for-each-ref", "--format=%(refname)", "refs/remotes/origin/").decode()
        tips = [r for r in out.split() if not r.endswith("/HEAD")] or ["HEAD"]
    items = new_pointers(repo, tips, [], None)
    entries = select([PointerEntry(i.path, i.oid, i.size) for i in items], include, exclude)
    return [Item(e.oid, e.size, e.path) for e in entries]
