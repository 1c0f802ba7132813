"""Run records in the store: ``runs/<id>/run.json`` (numbered 1, 2, 3 ... per store), aliases
``links/<alias>.json``, and the resolution of run paths.

A new run takes the number after the highest present and claims it by creating its record
with :meth:`Store.create_exclusive`; a client that loses the race takes the next number, so
numbers stay unique with any number of clients starting runs at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
from datetime import datetime, timezone
from typing import Any

from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..store import Store
from ..store.remotes import resolve
from .host import parts
from .host.paths import ALIAS_RE, check_alias, run_key, split_run_path

ID_RE = re.compile(r"[0-9]{1,18}")
FINAL = ("succeeded", "failed", "stopped", "lost")


def exit_text(record: dict[str, Any]) -> str:
    """How a run ended, never "exit None": its exit code, or that it has none (yet). A run
    record says ``status``; the end frame a host sends says ``run_status``."""
    code = record.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        return f"exit {code}"
    if (record.get("status") or record.get("run_status")) in FINAL:
        return "no exit code recorded"
    return "still running"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_store(repo: Repo, config: Config, remote: str | None = None) -> Store:
    """The store that holds this repository's runs (the default data store)."""
    return resolve(repo, config, remote).open()


def read_json(store: Store, key: str, quiet: bool = False) -> Any:
    """A JSON file of the store, None when absent; one line (or None with ``quiet``) when it
    is not JSON."""
    try:
        return store.read_json(key)
    except ValueError:
        if quiet:
            return None
        raise FatalError(f"{key} in {store.describe()} is not valid JSON; it was damaged or "
                         "written by something else than git-data") from None


def run_ids(store: Store) -> list[int]:
    """The run numbers in the store, from the names under runs/ that are plain numbers
    (anything else listed there is ignored)."""
    return sorted(int(name) for name in store.list("runs") if ID_RE.fullmatch(name))


def claim(store: Store, record: dict[str, Any]) -> int:
    taken = run_ids(store)
    run_id = max(taken, default=0) + 1
    while True:
        record["id"] = run_id
        data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        if store.create_exclusive(f"{run_key(run_id)}/run.json", data):
            return run_id
        run_id += 1


def load(store: Store, run_id: int) -> dict[str, Any]:
    record = read_json(store, f"{run_key(run_id)}/run.json")
    if record is None:
        raise FatalError(f"no run {run_id} in {store.describe()}; `git data runs` lists them")
    return _checked(record, run_id, store)


def _checked(record: Any, run_id: int, store: Store) -> dict[str, Any]:
    """A record read from the store: a JSON object, numbered by the folder it lies in (the
    ``id`` written inside is not trusted to name a path)."""
    if not isinstance(record, dict):
        raise FatalError(f"{run_key(run_id)}/run.json in {store.describe()} is not a run "
                         "record (not a JSON object)")
    return {**record, "id": run_id}


def save(store: Store, record: dict[str, Any]) -> None:
    store.write_json(f"{run_key(int(record['id']))}/run.json", record)


def all_records(store: Store, lost_after: float | None = None) -> list[dict[str, Any]]:
    """Every run's record; with ``lost_after``, runs whose host went silent show as lost."""
    ids = run_ids(store)

    def one(run_id: int) -> Any:
        found = read_json(store, f"{run_key(run_id)}/run.json", quiet=True)
        if not isinstance(found, dict):
            return None
        found = {**found, "id": run_id}
        return found if lost_after is None else liveness(store, found, lost_after)

    with cf.ThreadPoolExecutor(8) as pool:
        return [r for r in pool.map(one, ids) if r is not None]


def resolve_path(store: Store, path: str) -> str:
    """A store path for ``runs/ID/...``, ``ALIAS/...`` or ``links/ALIAS/...``."""
    clean = path.strip().strip("/")
    first, _, rest = clean.partition("/")
    if first == "runs":
        return _normal(split_run_path(clean), path, "is not a path inside a run (runs/ID/...)")
    if first == "links":
        first, _, rest = rest.partition("/")
    if not ALIAS_RE.fullmatch(first):
        raise FatalError(f"'{path}' is neither runs/ID/... nor a known alias; `git data runs` "
                         "lists runs and `git data link` makes aliases")
    link = read_json(store, f"links/{first}.json")
    if not link:
        raise FatalError(f"'{path}' is neither runs/ID/... nor a known alias; `git data runs` "
                         "lists runs and `git data link` makes aliases")
    target = link.get("target") if isinstance(link, dict) else None
    where = f"links/{first}.json in {store.describe()}"
    key = _normal(split_run_path(str(target or "")), path,
                  f"points at {target!r} ({where}), which is not a path inside a run; "
                  f"point it again with `git data link {first} runs/ID/...`")
    return _normal(split_run_path(f"{key}/{rest}" if rest else key), path,
                   "leaves the run it names")


def _normal(parsed: tuple[int, str] | None, path: str, problem: str) -> str:
    """The store key of a checked run path, or one line saying why ``path`` is refused."""
    if parsed is None:
        raise FatalError(f"refusing '{path}': it {problem}")
    run_id, rest = parsed
    return f"{run_key(run_id)}/{rest}" if rest else run_key(run_id)


def run_id_of(store: Store, text: str) -> int:
    """A run number from ``12``, ``runs/12`` or an alias pointing into a run."""
    if ID_RE.fullmatch(text):
        return int(text)
    parsed = split_run_path(resolve_path(store, text))
    if parsed is None:
        raise FatalError(f"'{text}' does not name a run")
    return parsed[0]


def kind_of(store: Store, key: str) -> str | None:
    """'file', 'dir' or None for a store path (a file the host has sent only in parts so
    far counts: runner/host/parts.py)."""
    if not store.exists(key):
        if parts.manifest(store, key) is not None:
            return "file"
        return "dir" if parts.files_under(store, key) else None
    return "dir" if store.is_dir(key) else "file"


def link(store: Store, alias: str, target: str, who: str) -> str | None:
    """Point ``alias`` at ``target``; returns what it pointed at before."""
    check_alias(alias)
    key = resolve_path(store, target)
    if split_run_path(key) is None or kind_of(store, key) is None:
        raise FatalError(f"{target}: nothing there in {store.describe()}")
    old = read_json(store, f"links/{alias}.json", quiet=True)
    store.write_json(f"links/{alias}.json", {"target": key, "created": now_iso(), "by": who})
    return str(old.get("target")) if isinstance(old, dict) else None


# ----- liveness (the host side's heartbeat: runner/host/heartbeat.py) ---------------------
def _seconds(stamp: Any) -> float | None:
    """An ISO time a record or heartbeat holds as seconds since the epoch; None when it is
    not one (the store's content is not trusted to be well formed)."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def last_sign(store: Store, record: dict[str, Any]) -> float | None:
    """When the run last showed it was alive: the newest of its heartbeat file, the time
    the host last wrote its record, and the claim of its number (a host that never started
    counts from there)."""
    beat = read_json(store, f"{run_key(int(record['id']))}/heartbeat.json", quiet=True)
    stamps = [_seconds(record.get("heartbeat")), _seconds(record.get("created")),
              _seconds(beat.get("at")) if isinstance(beat, dict) else None]
    return max((s for s in stamps if s is not None), default=None)


def liveness(store: Store, record: dict[str, Any], lost_after: float) -> dict[str, Any]:
    """The record as the user should see it: a run that has not ended and whose host has
    shown no sign of life for ``lost_after`` seconds is ``lost``, with the reason in
    ``error`` (nothing is written; :func:`mark_lost` does that)."""
    if record.get("status") in FINAL:
        return record
    if record.get("status") == "queued" and record.get("slurm"):
        return record  # Slurm holds it (runner/slurm.py asks Slurm); no supervisor beats yet
    last = last_sign(store, record)
    age = None if last is None else datetime.now(timezone.utc).timestamp() - last
    if age is not None and age <= lost_after:
        return record
    host = (record.get("host") or {}).get("name") if isinstance(record.get("host"), dict) \
        else None
    since = "ever" if age is None else f"{age:.0f}s"
    reason = (f"no heartbeat from host {host or '?'} for {since} (data.run.lostAfter = "
              f"{lost_after:g}s): its supervisor or the machine is gone")
    return {**record, "status": "lost", "error": reason, "was": record.get("status")}


def mark_lost(store: Store, run_id: int, reason: str) -> dict[str, Any]:
    """Record that run ``run_id`` is lost, unless its host wrote a final record meanwhile
    (read again first); the record as it now stands."""
    record = load(store, run_id)
    if record.get("status") in FINAL:
        return record
    record.update(status="lost", error=reason, lost=now_iso())
    save(store, record)
    return record
