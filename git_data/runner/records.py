"""Run records in the store: ``runs/<id>/run.json`` (numbered 1, 2, 3 ... per store), aliases
``links/<alias>.json``, and the resolution of run paths.

A new run takes the number after the highest present and claims it by creating its record
with :meth:`Store.create_exclusive`; a client that loses the race takes the next number, so
numbers stay unique with any number of clients starting runs at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
from datetime import datetime, timezone
from typing import Any

from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..store import Store
from ..store.remotes import resolve
from .paths import check_alias, run_key, split_run_path

FINAL = ("succeeded", "failed", "stopped", "lost")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_store(repo: Repo, config: Config, remote: str | None = None) -> Store:
    """The store that holds this repository's runs (the default data store)."""
    return resolve(repo, config, remote).open()


def claim(store: Store, record: dict[str, Any]) -> int:
    taken = [int(name) for name in store.list("runs") if name.isdigit()]
    run_id = max(taken, default=0) + 1
    while True:
        record["id"] = run_id
        data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        if store.create_exclusive(f"{run_key(run_id)}/run.json", data):
            return run_id
        run_id += 1


def load(store: Store, run_id: int) -> dict[str, Any]:
    record = store.read_json(f"{run_key(run_id)}/run.json")
    if record is None:
        raise FatalError(f"no run {run_id} in {store.describe()}; `git data runs` lists them")
    return dict(record)


def save(store: Store, record: dict[str, Any]) -> None:
    store.write_json(f"{run_key(int(record['id']))}/run.json", record)


def all_records(store: Store) -> list[dict[str, Any]]:
    ids = sorted(int(name) for name in store.list("runs") if name.isdigit())
    with cf.ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda i: store.read_json(f"{run_key(i)}/run.json"), ids)
    return [dict(r) for r in found if r]


def resolve_path(store: Store, path: str) -> str:
    """A store path for ``runs/ID/...``, ``ALIAS/...`` or ``links/ALIAS/...``."""
    clean = path.strip().strip("/")
    if split_run_path(clean):
        return clean
    first, _, rest = clean.partition("/")
    if first == "links":
        first, _, rest = rest.partition("/")
    link = store.read_json(f"links/{first}.json") if first else None
    if not link:
        raise FatalError(f"'{path}' is neither runs/ID/... nor a known alias; `git data runs` "
                         "lists runs and `git data link` makes aliases")
    target = str(link["target"]).strip("/")
    return f"{target}/{rest}" if rest else target


def run_id_of(store: Store, text: str) -> int:
    """A run number from ``12``, ``runs/12`` or an alias pointing into a run."""
    if text.isdigit():
        return int(text)
    parsed = split_run_path(resolve_path(store, text))
    if parsed is None:
        raise FatalError(f"'{text}' does not name a run")
    return parsed[0]


def kind_of(store: Store, key: str) -> str | None:
    """'file', 'dir' or None for a store path."""
    if not store.exists(key):
        return None
    return "dir" if store.fs.isdir(store.path(key)) else "file"


def link(store: Store, alias: str, target: str, who: str) -> str | None:
    """Point ``alias`` at ``target``; returns what it pointed at before."""
    check_alias(alias)
    key = resolve_path(store, target)
    if split_run_path(key) is None or kind_of(store, key) is None:
        raise FatalError(f"{target}: nothing there in {store.describe()}")
    old = store.read_json(f"links/{alias}.json")
    store.write_json(f"links/{alias}.json", {"target": key, "created": now_iso(), "by": who})
    return str(old["target"]) if old else None
