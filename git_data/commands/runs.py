"""Runs: `git data run` starts one (runner/launch.py); `runs`, `show-run`, `logs`, `stop`,
`cp`, `link` and `share` look at and handle them. Those read the store only, so they work
from any clone of the repository."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .. import safeio
from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import is_quiet, note
from ..runner import records, slurm
from ..runner.follow import Printer, follow_store
from ..runner.host import parts
from ..runner.host.paths import below, run_key
from ..runner.launch import RunOptions, intervals, launch
from ..store import CHUNK, Store

MAX_SHARE_S = 7 * 24 * 3600  # the longest an S3 (SigV4) presigned URL may live


def run(repo: Repo, options: RunOptions) -> int:
    """`git data run [options] -- COMMAND...`: COMMAND on a host from the exact commit."""
    return launch(repo, options)


def _store(repo: Repo) -> tuple[Config, Store]:
    config = Config(repo)
    return config, records.open_store(repo, config)


def _as_seen(config: Config, store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """A record as `runs` and `show-run` show it: what Slurm says of a Slurm job, then
    `lost` for a run whose host went silent (nothing is written for that)."""
    return records.liveness(store, slurm.refresh(config, store, record),
                            intervals(config)["lost"])


def runs(repo: Repo, as_json: bool, metrics: list[str] | None = None,
         sort: str | None = None) -> int:
    """The runs with their params and the last value of ``metrics``, in the order of
    ``sort`` (a metric, a param or a column; ``-NAME`` descending)."""
    from ..experiments.runmetrics import load_many

    config, store = _store(repo)
    found = [_as_seen(config, store, r) for r in records.all_records(store)]
    if not found:
        if as_json:
            print("[]")
            return 0
        note(f"no runs yet in {store.describe()}; start one with `git data run -- COMMAND`")
        return 0
    results = load_many(store, found, config.cache_dir)
    rows = list(zip(found, results))
    if sort:
        rows = _sorted(rows, sort)
    if as_json:
        print(json.dumps([{**r, "params": m.params, "metrics": m.summaries()} for r, m in rows],
                         indent=2, sort_keys=True))
        return 0
    _table(rows, list(dict.fromkeys(metrics or [])))
    return 0


def _table(rows: list[tuple[dict[str, Any], Any]], metrics: list[str]) -> None:
    params = [" ".join(f"{k}={v}" for k, v in m.params.items()) for _, m in rows]
    width = max([len("PARAMS"), *map(len, params)])
    heads = [f"{name[:12]:>12}" for name in metrics]
    print(f"{'ID':>4}  {'STATUS':<10} {'EXIT':>4}  {'HOST':<10} {'COMMIT':<10}  "
          f"{'CREATED':<19}  {'TIME':>7}  " + "".join(h + "  " for h in heads)
          + f"{'PARAMS':<{width}}  COMMAND")
    for (r, m), shown in zip(rows, params):
        code = r.get("exit_code")
        duration = r.get("duration_s")
        values = "".join(f"{_last(m, name):>12}  " for name in metrics)
        print(f"{r.get('id', '?'):>4}  {r.get('status', '?'):<10} "
              f"{'-' if code is None else code:>4}  {r.get('host', {}).get('name', '?'):<10} "
              f"{str(r.get('commit', ''))[:10]:<10}  {_when(r.get('created')):<19}  "
              f"{'' if duration is None else f'{duration:.1f}s':>7}  {values}"
              f"{shown:<{width}}  {command_text(r.get('command'))}".rstrip())


def _last(result: Any, name: str) -> str:
    series = result.metrics.get(name)
    return "-" if series is None or series.last is None else f"{series.last[1]:.6g}"


COLUMNS = {"id": "id", "status": "status", "exit": "exit_code", "created": "created",
           "time": "duration_s", "duration": "duration_s", "commit": "commit"}


def _sorted(rows: list[tuple[dict[str, Any], Any]], sort: str
            ) -> list[tuple[dict[str, Any], Any]]:
    """Rows by a metric's last value, else a param, else a column; runs without it last."""
    name, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if any(name in m.metrics for _, m in rows):
        def value(row: tuple[dict[str, Any], Any]) -> Any:
            series = row[1].metrics.get(name)
            return None if series is None or series.last is None else series.last[1]
    elif any(name in m.params for _, m in rows):
        def value(row: tuple[dict[str, Any], Any]) -> Any:
            return row[1].params.get(name)
    elif name in COLUMNS:
        def value(row: tuple[dict[str, Any], Any]) -> Any:
            return row[0].get(COLUMNS[name])
    else:
        known = sorted({n for _, m in rows for n in (*m.metrics, *m.params)})
        raise FatalError(f"--sort {sort}: no run has a metric or param '{name}', and it is no "
                         f"column ({', '.join(COLUMNS)}); metrics and params: "
                         f"{', '.join(known) or 'none'}")
    have = [(row, _key(value(row))) for row in rows if value(row) not in (None, "")]
    lacking = [row for row in rows if value(row) in (None, "")]
    have.sort(key=lambda pair: pair[1], reverse=descending)
    return [row for row, _ in have] + lacking


def _key(value: Any) -> tuple[int, float, str]:
    """Numbers (also written as text, as params are) before other text, each in order."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def command_text(command: Any) -> str:
    """A recorded command as a shell would need it typed (arguments with spaces or quotes
    quoted); a record without one (untrusted content) shows nothing."""
    if not isinstance(command, list):
        return ""
    return shlex.join(str(part) for part in command)


def _when(stamp: Any) -> str:
    return str(stamp or "")[:19].replace("T", " ")


def show_run(repo: Repo, run: str, as_json: bool) -> int:
    config, store = _store(repo)
    record = _as_seen(config, store, records.load(store, records.run_id_of(store, run)))
    if as_json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    host = record.get("host") or {}
    env = record.get("environment") or {}
    files = (record.get("outputs") or {}).get("files", 0)
    lines = {
        "run": record.get("id"), "status": record.get("status"),
        "exit code": record.get("exit_code"), "error": record.get("error"),
        "command": command_text(record.get("command")), "params": record.get("params"),
        "commit": record.get("commit"), "snapshot of": record.get("snapshot_of"),
        "host": f"{host.get('name')} ({host.get('url')}, {host.get('hostname')})",
        "gpus": record.get("gpus"), "environment": env.get("hash") and
        f"{env.get('kind')} {env.get('hash')} from {env.get('source')}"
        f"{' (reused)' if env.get('reused') else ''}",
        "data": record.get("data"), "created": record.get("created"),
        "started": record.get("started"), "ended": record.get("ended"),
        "resumes": record.get("resumed_from") and f"run {record['resumed_from']}",
        "heartbeat": record.get("status") not in records.FINAL and record.get("heartbeat"),
        "duration": record.get("duration_s") and f"{record['duration_s']:.1f}s",
        "outputs": f"{run_key(record['id'])}/outputs/ ({files} files)",
        "gpu use": record.get("gpu_summary"),
    }
    for key, value in lines.items():
        if value not in (None, "", {}, []):
            print(f"{key + ':':<13} {value if isinstance(value, str) else json.dumps(value)}")
    return 0


def logs(repo: Repo, run: str, follow: bool, quiet: bool = False) -> int:
    """``quiet`` is ignored (progress.is_quiet is the one source); kept while the CLI
    passes it."""
    config, store = _store(repo)
    run_id = records.run_id_of(store, run)
    records.load(store, run_id)
    every = intervals(config)
    poll = min(1.0, max(0.1, every["log"] / 2))
    record = follow_store(store, run_id, Printer(quiet=is_quiet()), follow, poll,
                          every["lost"])
    if record.get("status") == "lost" and follow:
        records.mark_lost(store, run_id, str(record.get("error")))
        raise FatalError(f"run {run_id} is lost: {record.get('error')}; `git data run "
                         f"--resume {run_id}` starts again from its outputs")
    if follow:
        code = record.get("exit_code")
        return int(code) if isinstance(code, int) else 1
    return 0


def stop(repo: Repo, run: str, wait_s: float | None = None) -> int:
    config, store = _store(repo)
    run_id = records.run_id_of(store, run)
    record = records.load(store, run_id)
    if record.get("status") in records.FINAL:
        note(f"run {run_id} already ended ({record.get('status')})")
        return 0
    store.write_json(f"{run_key(run_id)}/stop", {"requested": records.now_iso()})
    if slurm.cancel(config, record):  # scancel: SIGTERM to the supervisor, or never started
        time.sleep(0.5)
        record = slurm.refresh(config, store, record)
    every = intervals(config)
    if _recorded_lost(store, record, every["lost"]):
        return 0
    # long enough for the run to confirm, or for a host that died to count as lost
    wait_s = wait_s if wait_s is not None else max(every["log"] * 3 + every["grace"] + 30,
                                                   every["lost"] + 5)
    note(f"asked run {run_id} to stop; waiting for it to end (up to {wait_s:.0f}s)")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        record = records.load(store, run_id)
        if record.get("status") in records.FINAL:
            note(f"run {run_id} {record['status']} ({records.exit_text(record)})")
            return 0
        if _recorded_lost(store, record, every["lost"]):
            return 0
        time.sleep(0.3)
    raise FatalError(f"run {run_id} has not confirmed the stop within {wait_s:.0f}s; its host "
                     "may be unreachable. The request stays in the store and is obeyed as "
                     "soon as the run sees it")


def _recorded_lost(store: Store, record: dict[str, Any], lost_after: float) -> bool:
    """For `stop`: a run whose host is silent is recorded lost at once (nothing is left to
    wait for); the stop request stays, for a host that comes back."""
    seen = records.liveness(store, record, lost_after)
    if seen.get("status") != "lost":
        return False
    final = records.mark_lost(store, int(record["id"]), str(seen.get("error")))
    note(f"run {record['id']} {final.get('status')}: {final.get('error')}; recorded it "
         "(the stop request stays in the store, for a host that comes back)")
    return True


def _existing(store: Store, path: str) -> tuple[str, str]:
    """The store key a run path (or alias path) names and its kind ("file" or "dir")."""
    key = records.resolve_path(store, path)
    kind = records.kind_of(store, key)
    if kind is None:
        raise FatalError(f"{path}: nothing there in {store.describe()}")
    return key, kind


def cp(repo: Repo, source: str, dest: str) -> int:
    _, store = _store(repo)
    key, kind = _existing(store, source)
    if dest == "-":
        return _to_stdout(store, key, kind, source)
    target = Path(dest)
    if kind == "file":
        if target.is_dir() or dest.endswith("/"):
            target = target / key.rsplit("/", 1)[-1]
        _download(store, key, target)
        note(f"copied {key} to {target}")
        return 0
    keys = parts.listing(store, key)
    rels = [below(key, one, store.describe()) for one in keys]  # all checked before any copy
    for one, rel in zip(keys, rels):
        _download(store, one, target / rel if rel else target, target if rel else None)
    note(f"copied {len(keys)} file(s) from {key}/ to {target}/")
    return 0


def _to_stdout(store: Store, key: str, kind: str, source: str) -> int:
    """`git data cp FILE -`: the file's bytes on stdout, as cp and git show do."""
    if kind != "file":
        raise FatalError(f"{source} is a folder; `-` (stdout) takes one file: give a folder "
                         "to copy it into instead")
    out = sys.stdout.buffer
    with parts.open_file(store, key) as stream:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
    out.flush()
    return 0


def _file_mode() -> int:
    """The mode a new file gets here, as cp makes it: 0666 less the umask (read from
    /proc, which leaves the umask alone; else set and put back, in this one thread)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _download(store: Store, key: str, target: Path, root: Path | None = None) -> None:
    """One store file to ``target``, atomically and never through a symlink at its name (nor,
    below ``root``, through a symlinked folder), with the mode the umask gives."""
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    with safeio.atomic_path(target, mode=_file_mode(), root=root) as out, \
            parts.open_file(store, key) as source:
        while chunk := source.read(CHUNK):
            out.write(chunk)


def link(repo: Repo, alias: str, target: str) -> int:
    _, store = _store(repo)
    who = repo.git("config", "--get", "user.name", check=False).decode().strip()
    old = records.link(store, alias, target, who)
    key = records.resolve_path(store, alias)
    note(f"{alias} -> {key}" + (f" (was {old})" if old and old != key else ""))
    return 0


def share(repo: Repo, path: str, expires: str) -> int:
    _, store = _store(repo)
    key, kind = _existing(store, path)
    if kind == "dir":
        raise FatalError(f"{path} is a folder; share one file (`git data runs` and "
                         f"`git data show-run` tell what a run wrote)")
    seconds = parse_duration(expires)
    try:
        url = store.sign(key, seconds)
    except NotImplementedError:
        raise FatalError(f"the store {store.describe()} cannot make links for others to "
                         "download from (a local folder has no URLs to sign); share from an "
                         f"S3 store, or send the file itself: git data cp {path} .") from None
    print(url)
    note(f"this link to {key} works for {expires} (until it expires, anyone with it can read "
         "the file)")
    return 0


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+)\s*([smhdw]?)\s*", text)
    if not match:
        raise FatalError(f"--expires '{text}' is not a duration; write e.g. 30m, 12h or 7d")
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400,
                               "w": 604800}[match[2]]
    if not 0 < seconds <= MAX_SHARE_S:
        raise FatalError(f"--expires {text}: a shared link lives between 1 second and 7 days")
    return seconds
