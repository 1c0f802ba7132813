"""`git data remote add|list|remove` and `git data ls-remote`."""

from __future__ import annotations

import json

from ..config import GITDATA_FILE, Config, set_shared
from ..errors import FatalError
from ..gitrepo import Repo, run_git
from ..progress import note
from ..store.remotes import OPTION_KEYS, configured, default_name, embedded


def remote_add(repo: Repo, name: str, url: str, default: bool,
               options: dict[str, str | None], personal: bool) -> int:
    if "://" not in url:
        from pathlib import Path

        url = Path(url).expanduser().resolve().as_uri()
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
    if default:
        set_shared(repo, "data.remote", name)
    where = ".git/config (only this clone)" if personal else f"{GITDATA_FILE} (commit it to share)"
    note(f"data remote {name} -> {url} written to {where}")
    return 0


def remote_list(repo: Repo, as_json: bool) -> int:
    config = Config(repo)
    remotes = configured(config)
    default = default_name(config, remotes)
    rows = [{"name": r.name, "url": r.url, "default": r.name == default, **r.options}
            for r in remotes.values()]
    if not rows:
        found = embedded(repo)
        if found:
            rows.append({"name": f"{found.name} (embedded)", "url": found.url, "default": True})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']}\t{row['url']}{'  (default)' if row['default'] else ''}")
    return 0


def remote_remove(repo: Repo, name: str) -> int:
    path = repo.root / GITDATA_FILE
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
    from ..store.remotes import read_order, resolve

    config = Config(repo)
    remotes = [resolve(repo, config, name)] if name else read_order(repo, config)
    if not remotes:
        resolve(repo, config)
    rows = []
    for remote in remotes:
        store = remote.open()
        for key in store.find("branches"):
            if not key.endswith(".json"):
                continue
            manifest = store.read_json(key) or {}
            rows.append({"branch": key[len("branches/"):-len(".json")],
                         "commit": manifest.get("commit"), "objects": manifest.get("objects"),
                         "bytes": manifest.get("bytes"), "time": manifest.get("time"),
                         "who": manifest.get("who"), "store": remote.name,
                         "url": remote.url})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{(row['commit'] or '?')[:12]}  {row['objects']:>7} objects  "
              f"{row['bytes']:>14} bytes  {row['branch']}  ({row['store']}: {row['url']})")
    return 0
