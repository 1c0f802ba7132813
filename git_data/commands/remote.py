"""`git data remote add|list|remove` and `git data ls-remote`."""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.parse

from fsspec.registry import get_filesystem_class, known_implementations, registry

from ..config import GITDATA_FILE, Config, local_url_path, set_shared, shared_file
from ..errors import FatalError
from ..gitrepo import Repo, run_git
from ..progress import note, warn
from ..store import PACKAGES
from ..store.remotes import OPTION_KEYS, Remote, configured, default_name, embedded, resolve

CLOUD = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


def remote_add(repo: Repo, name: str, url: str, default: bool,
               options: dict[str, str | None], personal: bool, routes: tuple[str, ...] = ()
               ) -> int:
    if "://" not in url:
        from pathlib import Path

        url = Path(url).expanduser().resolve().as_uri()
    check_url(name, url, options.get("endpointurl"))
    if personal:
        repo.git("config", f"data.remote.{name}.url", url)
    else:
        set_shared(repo, f"remote.{name}.url", url)
    for key, value in options.items():
        if value:
            if key not in OPTION_KEYS:
                raise FatalError(f"unknown remote option {key}")
            if personal:
                repo.git("config", f"data.remote.{name}.{key}", value)
            else:
                set_shared(repo, f"remote.{name}.{key}", value)
    if not personal:
        _trust_here(repo, url, options.get("endpointurl"))
    if default:
        set_shared(repo, "data.remote", name)
    for pattern in routes:
        set_shared(repo, f"branch.{pattern}.remote", name)
        note(f"branches matching {pattern} keep their data in {name}")
    where = ".git/config (only this clone)" if personal else f"{GITDATA_FILE} (commit it to share)"
    note(f"data remote {name} -> {url} written to {where}")
    return 0


def _trust_here(repo: Repo, url: str, endpoint: str | None) -> None:
    """Whoever adds a shared remote trusts its endpoint and folder in this clone's
    .git/config (a committed .gitdata alone is trusted by no one: other clones add
    ``data.trustedEndpoint`` / ``data.trustedPath`` themselves). A new local store's folder
    is made here, one level deep, so that a later push never creates a mistyped path."""
    config = Config(repo)
    if endpoint and not config.trusted_endpoint(endpoint):
        repo.git("config", "--add", "data.trustedEndpoint", endpoint)
    folder = local_url_path(url, repo.root)
    if folder is None:
        return
    folder = os.path.normpath(folder)
    if not config.trusted_folder(folder):
        repo.git("config", "--add", "data.trustedPath", folder)
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except OSError as exc:
        warn(f"cannot create the store folder {folder} ({exc.strerror}); create it before "
             "the first push")


def check_url(name: str, url: str, endpoint: str | None) -> None:
    """Refuse credentials in a URL (it is committed in .gitdata) and an S3 URL without a
    bucket; warn when the fsspec package for the URL's protocol is not installed."""
    parts = urllib.parse.urlsplit(url)
    for where, value in (("URL", url), ("endpoint URL", endpoint or "")):
        split = urllib.parse.urlsplit(value)
        if split.password or (split.username and split.scheme in CLOUD):
            raise FatalError(f"the {where} of data remote {name} carries credentials; they "
                             f"would be committed in {GITDATA_FILE}. Remove them and use "
                             f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an AWS profile "
                             f"(--profile) or `git config data.remote.{name}.accesskeyid` / "
                             ".secretaccesskey")
    if parts.scheme in ("s3", "s3a") and not parts.netloc:
        raise FatalError(f"{url} names no bucket; write s3://BUCKET/PREFIX")
    known = known_implementations.get(parts.scheme)
    if known is None and parts.scheme not in registry:
        raise FatalError(f"{url}: no fsspec implementation knows '{parts.scheme}://'")
    module = (known or {}).get("class", "").split(".")[0]
    try:
        if module == "fsspec":  # fsspec's own (sftp, ...): importing it is cheap
            get_filesystem_class(parts.scheme)
        elif module and importlib.util.find_spec(module) is None:  # no import: s3fs is slow
            raise ImportError(module)
    except ImportError:
        warn(f"the fsspec package for {parts.scheme}:// is not installed here: pip install "
             f"{PACKAGES.get(parts.scheme, module)}")


def remote_list(repo: Repo, as_json: bool) -> int:
    config = Config(repo)
    remotes = configured(config)
    default = default_name(config, remotes)
    rows: list[dict[str, object]] = [
        {"name": r.name, "url": r.url, "default": r.name == default, "embedded": False,
         **r.options} for r in remotes.values()]
    if not rows:
        found = embedded(repo)
        if found:  # named embedded:origin, which no data remote called origin collides with
            rows.append({"name": found.name, "url": found.url, "default": True,
                         "embedded": True})
    if as_json:
        print(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        why = "the data/ folder of the git remote, as no data remote is configured"
        tags = [t for t, on in (("default", row["default"]), (why, row["embedded"])) if on]
        print(f"{row['name']}\t{row['url']}{'  (' + '; '.join(tags) + ')' if tags else ''}")
    if not rows:
        note("no data remotes, and no git remote that is a folder here to keep data in; add "
             "one with `git data remote add NAME URL --default`")
    return 0


def remote_remove(repo: Repo, name: str) -> int:
    path = shared_file(repo)
    removed = False
    if path.exists():
        if run_git(["config", "-f", str(path), "--get", f"remote.{name}.url"], check=False):
            run_git(["config", "-f", str(path), "--remove-section", f"remote.{name}"])
            removed = True
        if run_git(["config", "-f", str(path), "--get", "data.remote"], check=False
                   ).decode().strip() == name:
            run_git(["config", "-f", str(path), "--unset", "data.remote"], check=False)
    if repo.git("config", "--get-regexp", rf"^data\.remote\.{name}\.", check=False):
        repo.git("config", "--remove-section", f"data.remote.{name}", check=False)
        removed = True
    if not removed and name not in configured(Config(repo)):
        raise FatalError(f"no data remote named '{name}'; `git data remote list` shows them")
    note(f"removed data remote {name}")
    return 0


def ls_remote(repo: Repo, name: str | None, as_json: bool) -> int:
    """Each branch's manifest in each store: which store holds that branch's data."""
    from ..store.remotes import read_order

    config = Config(repo)
    remotes = [resolve(repo, config, name)] if name else read_order(repo, config)
    if not remotes:
        resolve(repo, config)  # raises the one-line "how to add a store" error
    rows, failed = [], 0
    for remote in remotes:
        try:
            rows.extend(_manifests(repo, config, remote))
        except FatalError as exc:
            if name:
                raise
            warn(str(exc))
            failed += 1
    if not rows and not failed:  # one line, not silence: the store answered, empty
        names = ", ".join(f"{r.name} ({r.url})" for r in remotes)
        note(f"no branch has pushed data to {names} yet (no manifests under branches/)")
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{(row['commit'] or '?')[:12]}  {row['objects']!s:>7} objects  "
                  f"{row['bytes']!s:>14} bytes  {row['branch']}  ({row['store']}: {row['url']})"
                  f"{'' if row['routed'] else '  [branch now routes elsewhere]'}")
    return 1 if failed else 0


def _manifests(repo: Repo, config: Config, remote: Remote) -> list[dict[str, object]]:
    store = remote.open()
    store.check()
    rows: list[dict[str, object]] = []
    for key in store.find("branches"):
        if not key.endswith(".json"):
            continue
        manifest = store.read_json(key) or {}
        branch = key[len("branches/"):-len(".json")]
        try:
            routed = resolve(repo, config, branch=branch).url == remote.url
        except FatalError:
            routed = False
        rows.append({"branch": branch, "commit": manifest.get("commit"),
                     "objects": manifest.get("objects"), "bytes": manifest.get("bytes"),
                     "time": manifest.get("time"), "who": manifest.get("who"),
                     "store": remote.name, "url": remote.url, "routed": routed})
    return rows
