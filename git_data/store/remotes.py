"""Which store a command talks to: named data remotes, branch routing and the embedded default.

Sources, later ones overriding earlier: the committed ``.gitdata`` (``[remote "NAME"] url``,
``[branch "PATTERN"] remote``, ``[data] remote``), as far as :mod:`git_data.config`'s
allowlist lets it (an endpoint or local folder only where the user's config trusts it), and
per-user git config (``data.remote.NAME.*`` for URLs, endpoints, profiles and secrets that
must not be shared).
With no data remote at all, a git remote that is a local path stores its data in
``<that repository>/data``, so ``git clone /srv/repo.git`` works with no set-up. That store
is named ``embedded:<git remote>`` (``embedded:origin``), never plain ``origin``, so it is
not mistaken for a data remote a user calls ``origin``.

Names on the command line resolve as git's do: a data remote, a git remote or
``embedded:NAME``; anything else is one line naming the known ones (``unknown_remote``),
and ``split_remote`` tells a leading remote from revisions (`git data fetch main`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, local_url_path
from ..errors import FatalError
from ..gitrepo import Repo
from . import Store, open_store

GITDATA = ".gitdata"
OPTION_KEYS = ("endpointurl", "region", "profile")
SECRET_KEYS = ("accesskeyid", "secretaccesskey", "sessiontoken")
# data.s3.connectTimeout, .readTimeout, .directRequests (or per remote: data.remote.NAME.*)
TUNING_KEYS = ("connecttimeout", "readtimeout", "directrequests")
EMBEDDED = "embedded:"  # the name of a git remote's own data/ folder: embedded:origin


@dataclass
class Remote:
    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    tuning: dict[str, str] = field(default_factory=dict, compare=False)
    origin: str = field(default="", compare=False)  # ".gitdata line N" for a committed URL

    def open(self) -> Store:
        if self.origin:
            self._check_folder()
        return open_store(self.url, self.name, storage_options(self),
                          tuple(self.secrets.values()))

    @property
    def is_s3(self) -> bool:
        return self.url.startswith(("s3://", "s3a://"))

    def _check_folder(self) -> None:
        """A committed local store must exist: a typo in ``.gitdata`` is not a new store
        created, parents and all, wherever it points."""
        folder = local_url_path(self.url, Path("/"))  # committed URLs are absolute
        if folder and not os.path.isdir(folder):
            raise FatalError(f"{self.origin}: data remote {self.name} is the folder {folder}, "
                             f"which does not exist; create it (mkdir {folder}) or fix the "
                             "URL; nothing was moved")


def storage_options(remote: Remote) -> dict[str, Any]:
    """fsspec options for a remote; credentials come from git config or the usual AWS places
    (AWS_* variables, profiles, ~/.aws/credentials), never from ``.gitdata``."""
    if not remote.is_s3:
        return {}
    from .s3 import storage_options as s3_options

    return s3_options(remote.options, remote.secrets, remote.tuning)


def configured(config: Config) -> dict[str, Remote]:
    remotes: dict[str, Remote] = {}
    for name in config.subsections("remote"):
        url = config.get_shared(f"remote.{name}.url")
        if url:
            remotes[name] = Remote(name, url, origin=config.where(f"remote.{name}.url"))
    for sub in config.subsections("data"):
        match = re.fullmatch(r"remote\.(.+)", sub)
        if not match:
            continue
        name = match[1]
        url = config.get(f"data.remote.{name}.url")
        remote = remotes.setdefault(name, Remote(name, url or ""))
        if url:
            remote.url, remote.origin = url, ""
    for name, remote in remotes.items():
        for key in OPTION_KEYS:
            value = config.get(f"data.remote.{name}.{key}") or config.get_shared(
                f"remote.{name}.{key}")
            if value:
                remote.options[key] = value
        for key in SECRET_KEYS:
            value = config.git_values.get(f"data.remote.{name}.{key}")
            if value:
                remote.secrets[key] = value[-1]
        for key in TUNING_KEYS:
            value = config.get(f"data.remote.{name}.{key}") or config.get(f"data.s3.{key}")
            if value:
                remote.tuning[key] = value
    return {n: r for n, r in remotes.items() if r.url}


def default_name(config: Config, remotes: dict[str, Remote]) -> str | None:
    chosen = config.get("data.remote")
    if chosen:
        return chosen
    if len(remotes) == 1:
        return next(iter(remotes))
    return "origin" if "origin" in remotes else None


def branch_remote(config: Config, branch: str | None) -> str | None:
    """The remote a ``[branch "PATTERN"]`` block routes ``branch`` to (first match wins)."""
    if not branch:
        return None
    for pattern in config.subsections("branch"):
        if fnmatch.fnmatchcase(branch, pattern):
            name = config.get_shared(f"branch.{pattern}.remote")
            if name:
                return name
    return None


def embedded(repo: Repo, git_remote: str = "origin", url: str | None = None,
             config: Config | None = None) -> Remote | None:
    """``<repository>/data`` of a git remote that is a path on this machine."""
    if url is None:
        url = _git_remote_url(repo, git_remote, config)
    path = local_path(url, repo)
    if path is None:
        return None
    data = path / "data" if not (path / ".git").exists() else path / ".git" / "data"
    return Remote(EMBEDDED + git_remote, data.as_uri())


def git_remotes(repo: Repo) -> list[str]:
    return repo.git("remote", check=False).decode(errors="replace").split()


def is_remote(repo: Repo, config: Config, name: str, embedded_ok: bool = True) -> bool:
    """``name`` is a data remote, a git remote or (``embedded_ok``) ``embedded:`` one."""
    if embedded_ok and name.startswith(EMBEDDED) and name not in configured(config):
        name = name[len(EMBEDDED):]
    return name in configured(config) or name in git_remotes(repo)


def unknown_remote(repo: Repo, config: Config, name: str, also: str = "",
                   or_revision: bool = False) -> FatalError:
    """``no data remote 'orign' (data remotes: origin, scratch; git remotes: origin)``."""
    data = ", ".join(configured(config)) or "none"
    git = ", ".join(git_remotes(repo)) or "none"
    if or_revision:
        return FatalError(f"'{name}' is neither a remote (data remotes: {data}; git remotes: "
                          f"{git}) nor a revision of this repository; fix the name")
    return FatalError(f"no data remote '{name}'{also} (data remotes: {data}; git remotes: "
                      f"{git}); add it with `git data remote add {name} URL` or fix the name")


def check_name(repo: Repo, config: Config, name: str | None, embedded_ok: bool = True) -> None:
    """Refuse a remote name that names nothing, before anything is read or moved."""
    if name and not is_remote(repo, config, name, embedded_ok):
        raise unknown_remote(repo, config, name)


def split_remote(repo: Repo, config: Config, words: list[str]) -> tuple[str | None, list[str]]:
    """``[REMOTE] REV...``: the first word is the remote when it names one (as in git, a
    remote wins over a branch of the same name; write ``--`` before revisions to say they
    are all revisions), else every word is a revision."""
    if not words or is_remote(repo, config, words[0]):
        return (words[0] if words else None), words[1:]
    if not repo.git("rev-parse", "--verify", "-q", f"{words[0]}^{{commit}}", check=False
                    ).strip():
        raise unknown_remote(repo, config, words[0], or_revision=True)
    return None, words


def _git_remote_url(repo: Repo, name: str, config: Config | None) -> str:
    if config is not None:
        return config.get_git(f"remote.{name}.url") or ""
    return repo.git("config", "--get", f"remote.{name}.url", check=False).decode().strip()


def local_path(url: str, repo: Repo) -> Path | None:
    """The folder of a git remote's URL when it is a local path (ssh://, https:// and
    host:path are not)."""
    path = local_url_path(url, repo.workdir or repo.git_dir)
    return Path(path) if path else None


def resolve(repo: Repo, config: Config, name: str | None = None, branch: str | None = None,
            git_remote: str | None = None, git_url: str | None = None) -> Remote:
    """The store to write to: an explicit name, else the branch's route, else the default,
    else the embedded store of the git remote."""
    remotes = configured(config)
    if name and name.startswith(EMBEDDED) and name not in remotes:
        git_remote = name[len(EMBEDDED):]
        found = embedded(repo, git_remote, git_url, config)
        if found:
            return found
        raise FatalError(f"git remote {git_remote} is not a folder on this machine, so it has "
                         "no embedded data store; name a data remote (`git data remote "
                         "list`)")
    routed = None if name else branch_remote(config, branch)
    if routed and routed not in remotes:
        raise FatalError(f"{GITDATA} routes branch '{branch}' to data remote '{routed}', which "
                         f"is not defined; add it with `git data remote add {routed} URL` "
                         f"(known: {', '.join(remotes) or 'none'})")
    wanted = name or routed or default_name(config, remotes)
    if wanted and wanted in remotes:
        return remotes[wanted]
    if not name and not routed and wanted:
        _check_default(repo, config, wanted, remotes)
    if name and name not in remotes and not git_url:
        git_url = _git_remote_url(repo, name, config)
        found = embedded(repo, name, git_url) if git_url else None
        if found:
            return found
        raise unknown_remote(repo, config, name, " that is not a local-folder git remote"
                             if git_url else "")
    found = embedded(repo, git_remote or name or "origin", git_url, config)
    if found:
        return found
    raise FatalError("no data store is configured for this repository; add one with "
                     "`git data remote add origin s3://bucket/prefix --default` (or a local "
                     "folder: file:///srv/data)")


def _check_default(repo: Repo, config: Config, chosen: str, remotes: dict[str, Remote]
                   ) -> None:
    """``data.remote`` naming neither a data remote nor a git remote is a mistake, not a
    quiet detour to the embedded store."""
    if _git_remote_url(repo, chosen, config):
        return
    where = "git config" if config.get_git("data.remote") else config.where("data.remote")
    raise FatalError(f"{where}: data.remote = '{chosen}' names no data remote (known: "
                     f"{', '.join(remotes) or 'none'}); add it with `git data remote add "
                     f"{chosen} URL` or fix the name; nothing was moved")


def read_order(repo: Repo, config: Config, branch: str | None = None) -> list[Remote]:
    """Stores to read from, best first: the branch's own route, the default, the embedded."""
    remotes = configured(config)
    order: list[Remote] = []
    for name in (branch_remote(config, branch), default_name(config, remotes)):
        if name and name in remotes and remotes[name] not in order:
            order.append(remotes[name])
    order.extend(r for r in remotes.values() if r not in order)
    found = embedded(repo, config=config)
    if found and all(r.url != found.url for r in order):
        order.append(found)
    return order


def fallback_stores(repo: Repo, config: Config, target: Remote,
                    git_remote: str | None = None) -> list[Remote]:
    """Stores other than ``target`` whose objects every reader of a branch kept in ``target``
    reaches without a copy: the default store, which every read falls back to. A push to
    ``target`` need not copy what they hold. Other stores are read too, but only as a last
    resort (a scratch store may be emptied): what only they hold is copied. A default known
    to this clone alone (its URL only in .git/config) counts for a store of this clone
    alone; for one others read from, the default they fall back to (``.gitdata``'s) does."""
    try:
        default = resolve(repo, config, None, None, git_remote)
    except FatalError:
        return []
    remotes = configured(config)
    shared = {config.get_shared(f"remote.{name}.url") for name in config.subsections("remote")}
    personal = {r.url for r in remotes.values()} - shared
    if default.url in personal and target.url not in personal:
        committed = remotes.get(config.get_shared("data.remote") or "")
        default = committed if committed and committed.url not in personal else target
    return [] if default.url == target.url else [default]


def covered_tracking_refs(repo: Repo, config: Config, git_remote: str, store_url: str,
                          explicit: str | None = None) -> list[str]:
    """Remote-tracking refs of ``git_remote`` whose data a reader of the store at
    ``store_url`` already reaches: branches routed to that store, or to the default store
    (every read falls back to it). A push to that store need not scan their commits. A branch
    routed elsewhere is left out, so merging it in and pushing copies its objects here."""
    out = repo.git("for-each-ref", "--format=%(refname)", f"refs/remotes/{git_remote}/",
                   check=False).decode()
    try:
        covered = {store_url, resolve(repo, config, explicit, None, git_remote).url}
    except FatalError:
        covered = {store_url}
    refs = []
    prefix = f"refs/remotes/{git_remote}/"
    urls: dict[str, str | None] = {}  # route name ("" = default) -> store URL
    for ref in out.split():
        branch = ref[len(prefix):]
        if branch == "HEAD":
            continue
        route = explicit or branch_remote(config, branch) or ""
        if route not in urls:
            try:
                urls[route] = resolve(repo, config, explicit, branch, git_remote).url
            except FatalError:
                urls[route] = None
        if urls[route] in covered:
            refs.append(ref)
    return refs
