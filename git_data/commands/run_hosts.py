"""`git data host add|list|remove`: where runs go."""

from __future__ import annotations

import json

from ..config import Config
from ..gitrepo import Repo
from ..progress import note
from ..runner import hosts


def host_add(repo: Repo, name: str, url: str, workdir: str | None, python: str | None,
             personal: bool, default: bool, slurm: dict[str, str | None] | None = None) -> int:
    where = hosts.add(repo, name, url, workdir, python, personal, default, slurm)
    note(f"host {name} -> {url} written to {where}")
    return 0


def host_list(repo: Repo, as_json: bool) -> int:
    config = Config(repo)
    default = config.get("data.host") or "local"
    rows = [{**h.public(), "default": h.name == default}
            for h in sorted(hosts.configured(config).values(), key=lambda h: h.name)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        extra = f"  workdir={row['workdir']}" + ("" if row["name"] == "local"
                                                 else f"  python={row['python']}")
        print(f"{row['name']}\t{row['url']}{extra}  ({row['where']})"
              f"{'  (default)' if row['default'] else ''}")
    return 0


def host_remove(repo: Repo, name: str) -> int:
    hosts.remove(repo, name)
    note(f"removed host {name}")
    return 0
