"""`git data clone URL [DIR]`: clone with smudging off (pointers only, fast), install
git-data in the clone, then download the data in parallel and write the files.

With ``--copy-data-to STORE_URL`` the clone first copies every object its branches reach
(their whole history, or the paths ``--include`` selects) from the source stores to the new
store (server-side on the same S3 endpoint, streamed otherwise; verified; only what is
missing, so running the same command again resumes an interrupted copy), then points this
clone's default data remote at it with per-clone git config and says how to share that.

A clone that is killed, or fails part-way, finishes when the same command runs again: git
itself writes ``$GIT_DIR/data/clone-pending`` first (it is the only file of the template
``git clone --template`` copies, before anything else goes into the new ``.git``), this
module rewrites it once git's clone is complete, and marks it done when the data is in
place. The next run with the same URL and options finds it: an unfinished git clone is
emptied and cloned again, a finished one goes on with installing, copying and downloading,
all of which resume, and a done one (killed between its last write and its exit) says so
and succeeds. A directory without the marker (or with one for another source) is not touched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import safeio
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..progress import human_bytes, is_quiet, note
from ..selection import select
from ..store.remotes import Remote, configured, default_name, read_order
from ..transfer import Item, TransferQueue
from .install import install_here
from .pull import pull

PENDING_COPY = "copy-data-to.json"  # in $GIT_DIR/data while a copy is unfinished
CLONING = "clone-pending"  # in $GIT_DIR/data from git's first write until the clone is done


@dataclass
class CopyTarget:
    url: str
    options: dict[str, str] = field(default_factory=dict)  # endpointurl, region, profile
    name: str = ""


def clone(url: str, directory: str | None, no_data: bool, include: list[str] | None,
          exclude: list[str] | None, quiet: bool = False, git_args: tuple[str, ...] = (),
          copy_to: CopyTarget | None = None, sample: float | None = None) -> int:
    """``quiet`` is ignored (progress.is_quiet is the one source); kept while the CLI
    passes it."""
    target = directory or Path(url.rstrip("/")).name.removesuffix(".git") or "repo"
    if copy_to and "://" not in copy_to.url:  # a folder on this machine
        copy_to.url = Path(copy_to.url).expanduser().resolve().as_uri()
    stage = _half_made(target, url, git_args)
    if stage == "done":  # finished (perhaps killed just after): nothing left to do
        note(f"{target} is already a finished clone of {url}; `git data pull` fetches data "
             "its files lack")
        return 0
    if stage == "git":  # killed inside git's clone: start that again
        note(f"{target} is an unfinished clone of {url}: cloning it again")
        _empty(Path(target))
    if stage != "data" and not (copy_to and _resuming(target, url, copy_to)):
        _git_clone(url, target, git_args)
    elif stage == "data":
        note(f"resuming the unfinished clone of {url} in {target}")
    repo = Repo(target)
    _write_marker(repo, url, git_args, "data")
    code = _after_git_clone(repo, url, target, no_data, include, exclude, git_args, copy_to,
                            sample)
    if code == 0:  # kept, so that the same command run again knows the clone is finished
        _write_marker(repo, url, git_args, "done")
    return code


def _after_git_clone(repo: Repo, url: str, target: str, no_data: bool,
                     include: list[str] | None, exclude: list[str] | None,
                     git_args: tuple[str, ...], copy_to: CopyTarget | None,
                     sample: float | None) -> int:
    """Every step after git's clone; each can run again after an interruption."""
    repo.git("init", "-q")  # the templates (hooks, info/exclude) git's clone did not copy
    install_here(repo)
    if copy_to:
        copy_data(repo, url, copy_to, include, exclude, _branch(git_args))
    if no_data:
        note(f"cloned {url} into {target} without data; `git data pull` fetches it")
        return 0
    old = os.getcwd()
    os.chdir(repo.root)
    try:
        if sample is not None:  # a deterministic sample of the files, chosen by oid
            from .stats import pull_sample

            return pull_sample(Repo("."), sample, include, exclude)
        return pull(Repo("."), None, include, exclude, [], is_quiet())
    finally:
        os.chdir(old)


def _marker_text(url: str, git_args: tuple[str, ...], stage: str) -> str:
    return json.dumps({"url": url, "git_args": list(git_args), "stage": stage}) + "\n"


def _write_marker(repo: Repo, url: str, git_args: tuple[str, ...], stage: str) -> None:
    safeio.write_text(repo.git_dir / "data" / CLONING, _marker_text(url, git_args, stage),
                      root=repo.git_dir)


def _half_made(target: str, url: str, git_args: tuple[str, ...]) -> str | None:
    """How far an earlier `git data clone` of the same source into ``target`` got: "git"
    (inside git's clone) or "data" (after it); None when ``target`` is new, empty, or not
    such a clone (git then refuses it as it always does)."""
    root = Path(target)
    if not root.is_dir() or root.is_symlink() or not any(root.iterdir()):
        return None
    dot_git = root / ".git"
    try:
        pending = json.loads(_read_marker(root))
    except (OSError, ValueError, safeio.UnsafePath):
        # killed after git made .git but before (or while) it copied the template's one file
        only_git = [p.name for p in root.iterdir()] == [".git"] and not dot_git.is_symlink()
        return "git" if only_git and _only_marker(dot_git) else None
    if not isinstance(pending, dict) or pending.get("stage") not in ("git", "data", "done"):
        return None
    same = pending.get("url") == url and pending.get("git_args") == list(git_args)
    if pending["stage"] == "done":  # a finished clone: git refuses any other into it
        return "done" if same else None
    if not same:
        raise FatalError(f"{target} is an unfinished clone of {pending.get('url')} "
                         f"(git options {pending.get('git_args')}): run that `git data clone` "
                         "again to finish it, or remove the folder")
    return str(pending["stage"])


def _read_marker(root: Path) -> bytes:
    folder = safeio.open_dir(root, ".git/data")
    try:
        with safeio.open_nofollow(folder, CLONING) as stream:
            return stream.read(4096)
    finally:
        os.close(folder)


def _only_marker(dot_git: Path) -> bool:
    """Whether ``dot_git`` holds nothing but folders and the marker; links not followed."""
    for folder, _, files in os.walk(dot_git):
        if any(Path(folder, f) != dot_git / "data" / CLONING for f in files):
            return False
    return True


def _empty(root: Path) -> None:
    """Remove what an interrupted git clone wrote into ``root`` (links are removed, never
    followed), keeping the folder itself as git found it."""
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _git_clone(url: str, target: str, git_args: tuple[str, ...]) -> None:
    env = dict(os.environ, GIT_DATA_SKIP_SMUDGE="1")
    # git's own checkout writes the pointer files as they are, with no filter process (a
    # global install would otherwise start one and answer every file with its pointer); the
    # data is fetched afterwards, in parallel, for exactly the files asked for. `git -c`
    # (not `git clone -c`) keeps these settings out of the new repository's config.
    no_filter = [f"filter.data.{key}=" for key in ("process", "smudge", "clean")]
    with tempfile.TemporaryDirectory(prefix="git-data-clone-") as template:
        # the template's only file is the marker: git copies it before it writes anything
        # else into the new .git, so a clone killed at any later point is known as ours
        safeio.write_text(Path(template, "data", CLONING), _marker_text(url, git_args, "git"),
                          root=template)
        cmd = ["git", *[arg for kv in no_filter for arg in ("-c", kv)],
               "-c", "filter.data.required=false", "clone", f"--template={template}",
               *(["-q"] if is_quiet() else []), *git_args, url, target]
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
              exclude: list[str] | None, branch: str | None) -> None:
    from ..copy import copy_objects, open_stores

    config = Config(repo)
    remote = new_remote(config, copy_to)
    marker = repo.git_dir / "data" / PENDING_COPY
    safeio.write_text(marker, json.dumps({"source": source_url, "target": asdict(copy_to)}))
    items = reachable_items(repo, branch, include, exclude)
    sources = open_stores(r for r in read_order(repo, config) if r.url != remote.url)
    target = remote.open()
    created = getattr(target, "create_bucket", lambda: False)()
    queue = TransferQueue.for_repo(config)
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
    routes = routes_elsewhere(config, remote)
    shared = " ".join([*(f"--{_FLAGS[k]} {v}" for k, v in remote.options.items()),
                       *(f"--branch {shlex.quote(pattern)}" for pattern, *_ in routes)])
    note(f"this clone now keeps its data in {remote.name} ({remote.url}), set in .git/config "
         f"(data.remote = {remote.name}){', except for the routes below' if routes else ''};"
         " to make it the store for everyone, commit it:\n"
         f"  git data remote add {remote.name} {remote.url} {shared + ' ' if shared else ''}"
         f"--default && git add .gitdata && git commit -m 'Keep data in {remote.url}'")
    for pattern, name, url in routes:
        note(route_line(pattern, name, url, remote))


def routes_elsewhere(config: Config, remote: Remote) -> list[tuple[str, str, str]]:
    """The ``.gitdata`` branch routes whose store is not ``remote``'s: (pattern, the remote
    it names, that remote's URL or "" when it is not defined)."""
    remotes = configured(config)
    routes = []
    for pattern in config.subsections("branch"):
        name = config.get_shared(f"branch.{pattern}.remote")
        url = remotes[name].url if name in remotes else ""
        if name and url != remote.url:
            routes.append((pattern, name, url))
    return routes


def route_line(pattern: str, name: str, url: str, remote: Remote) -> str:
    """How to point one route's remote at ``remote``'s store in this clone only (the URL,
    and the S3 options, of ``name`` set in .git/config)."""
    settings = {"url": remote.url, **remote.options}
    command = " && ".join(f"git config data.remote.{name}.{key} {shlex.quote(value)}"
                          for key, value in settings.items())
    where = f"{name} ({url})" if url else f"{name} (not defined)"
    return (f"  branches matching {pattern} still push to {where}; to keep them in "
            f"{remote.name} too, in this clone: {command}")


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
