"""`git data compare`, `git data mlflow` and `git data tensorboard`: runs side by side, in
MLflow, in TensorBoard. All read the store only (git_data.experiments), so they work from
any clone, one without data included."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from pathlib import Path
from typing import Any

from .. import safeio
from ..config import Config
from ..errors import FatalError
from ..experiments import report
from ..experiments.runmetrics import cache_folder, load_many
from ..gitrepo import Repo
from ..progress import note
from ..runner import records
from ..runner.host.paths import strip_password
from ..store import Store


def _chosen(repo: Repo, runs: list[str]) -> tuple[Config, Store, list[dict[str, Any]]]:
    """The records of RUN... (all runs when none is named), each once, in the order given."""
    config = Config(repo)
    store = records.open_store(repo, config)
    if not runs:
        found = records.all_records(store)
        if not found:
            raise FatalError(f"no runs yet in {store.describe()}; start one with "
                             "`git data run -- COMMAND`")
        return config, store, found
    ids = list(dict.fromkeys(records.run_id_of(store, text) for text in runs))
    return config, store, [records.load(store, run_id) for run_id in ids]


def compare(repo: Repo, runs: list[str], metrics: list[str], html_file: str | None) -> int:
    config, store, found = _chosen(repo, runs)
    results = load_many(store, found, config.cache_dir)
    names = report.metric_names(results, metrics)
    missing = [m for m in metrics if not any(m in r.metrics for r in results)]
    if missing:
        known = sorted({n for r in results for n in r.metrics})
        raise FatalError(f"no run of {', '.join(str(r['id']) for r in found)} has the metric "
                         f"{', '.join(missing)}; they have: {', '.join(known) or 'none'}")
    print(report.text_table(report.table(found, results, names[:report.MAX_TABLE])))
    same = report.common_params(results)
    if same:
        print("same in all: " + " ".join(f"{k}={v}" for k, v in same.items()))
    if len(names) > report.MAX_TABLE:
        note(f"{len(names) - report.MAX_TABLE} more metric(s) not shown; choose with --metric")
    if html_file:
        title = f"runs {', '.join(str(r['id']) for r in found)}"
        safeio.write_text(Path(html_file), report.render_html(found, results, names, title))
        note(f"wrote {html_file} (open it in a browser; it needs no network)")
    return 0


def mlflow_export(repo: Repo, runs: list[str], tracking_uri: str, experiment: str | None
                  ) -> int:
    from ..experiments import mlflow_sync

    config, store, found = _chosen(repo, runs)
    results = load_many(store, found, config.cache_dir)
    name = experiment or repo.root.name
    url = strip_password(store.url)
    done = mlflow_sync.export(tracking_uri, name, url, [
        (record, result, _data_tags(repo, record)) for record, result in zip(found, results)])
    for one in done:
        print(f"run {one.run_id} -> MLflow run {one.mlflow_id} ({one.what})")
    note(f"{len(done)} run(s) in experiment '{name}' of {tracking_uri}; see them with "
         f"`mlflow ui --backend-store-uri {tracking_uri}`")
    return 0


def _data_tags(repo: Repo, record: dict[str, Any]) -> dict[str, str]:
    """The data the run's commit names (path and oid), when this clone has the commit."""
    commit = str(record.get("commit") or "")
    try:
        entries = repo.rev_pointers(commit) if commit else []
    except Exception:  # noqa: BLE001  (a commit this clone lacks: no data tags)
        return {}
    listing = "\n".join(f"{e.oid} {e.path}" for e in sorted(entries, key=lambda e: e.path))
    tags = {"git-data.data.files": str(len(entries)),
            "git-data.data.digest": hashlib.sha256(listing.encode()).hexdigest()}
    if listing and len(listing) <= 5000:
        tags["git-data.data.oids"] = listing
    return tags


def tensorboard(repo: Repo, runs: list[str], logdir: str | None, print_only: bool,
                port: int) -> int:
    from ..experiments import tensorboard as tb

    if not runs:
        raise FatalError("name the runs to show, e.g. git data tensorboard 3 4")
    config, store, found = _chosen(repo, runs)
    root = Path(logdir) if logdir else cache_folder(config.cache_dir, store) / "tensorboard"
    root.mkdir(parents=True, exist_ok=True)
    folders = {}
    for record in found:
        paths, fetched = tb.fetch(store, int(record["id"]), root)
        if not paths:
            note(f"run {record['id']} has no TensorBoard event files (events.out.tfevents.*) "
                 "in its outputs; write them under the run's output folder")
            continue
        note(f"run {record['id']}: {len(paths)} event file(s), {fetched} fetched now")
        folders[int(record["id"])] = root / str(record["id"])
    if not folders:
        raise FatalError("none of these runs has TensorBoard event files in its outputs")
    argv = tb.command(folders, port)
    if print_only:
        print(shlex.join(argv))
        return 0
    note(f"TensorBoard on http://127.0.0.1:{port}/ (Ctrl-C ends it)")
    try:
        return subprocess.call(argv)
    except KeyboardInterrupt:
        return 0

