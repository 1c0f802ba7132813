"""`git data mlflow`: runs written into an MLflow tracking store through MLflow's own client
(``MlflowClient``), so `mlflow ui` shows them; any backend MLflow takes (its default SQLite
one, a server). Each MLflow run carries the tags ``git-data.store`` and ``git-data.run``;
a second export finds it by them and adds only what is new (metric points not there yet,
params not set yet, tags, the status), so running it twice duplicates nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import FatalError
from .runmetrics import RunMetrics

BATCH = 1000  # MLflow's limit of metrics per log_batch
TAG_MAX = 5000
STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "stopped": "KILLED", "lost": "KILLED"}


@dataclass
class Exported:
    run_id: int
    mlflow_id: str
    what: str  # created, updated or unchanged


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise FatalError("`git data mlflow` needs the mlflow package: pip install "
                         "'git-data[experiments]' (or mlflow)") from None
    return MlflowClient(tracking_uri=tracking_uri)


def ms(stamp: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def metric_key(name: str) -> str:
    """MLflow takes letters, digits, _ - . space / in names; anything else becomes _."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


def export(tracking_uri: str, experiment: str, store_url: str,
           runs: list[tuple[dict[str, Any], RunMetrics, dict[str, str]]]) -> list[Exported]:
    """``runs``: (record, metrics, extra tags) each."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else client.create_experiment(experiment)
    known = _known(client, exp_id, store_url)
    return [_one(client, exp_id, store_url, record, result, extra, known.get(result.run_id))
            for record, result, extra in runs]


def _known(client: Any, exp_id: str, store_url: str) -> dict[int, Any]:
    """The MLflow runs already exported from this store, by git-data run id."""
    known: dict[int, Any] = {}
    token = None
    while True:
        page = client.search_runs([exp_id], filter_string="tags.`git-data.run` != ''",
                                  max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            if tags.get("git-data.store") == store_url and tags.get("git-data.run", "").isdigit():
                known.setdefault(int(tags["git-data.run"]), run)
        token = page.token
        if not token:
            return known


def _signature(record: dict[str, Any], result: RunMetrics) -> str:
    return json.dumps([record.get("status"), record.get("ended"), result.params,
                       {k: s.count for k, s in result.metrics.items()}], sort_keys=True)


def _one(client: Any, exp_id: str, store_url: str, record: dict[str, Any],
         result: RunMetrics, extra: dict[str, str], existing: Any) -> Exported:
    from mlflow.entities import Metric, Param, RunTag

    signature = _signature(record, result)
    if existing is not None and existing.data.tags.get("git-data.synced") == signature:
        return Exported(result.run_id, existing.info.run_id, "unchanged")
    start = ms(record.get("started") or record.get("created"))
    tags = {**_tags(record, store_url), **extra}
    if existing is None:
        run = client.create_run(exp_id, start_time=start, tags=tags,
                                run_name=f"git-data run {result.run_id}")
        mlflow_id, have_params, what = run.info.run_id, {}, "created"
    else:
        mlflow_id, have_params = existing.info.run_id, existing.data.params
        what = "updated"
    params = [Param(k[:250], v[:6000]) for k, v in result.params.items()
              if k[:250] not in have_params]
    metrics = [Metric(metric_key(name), value, int(when * 1000) if when else (start or 0), step)
               for name, series in result.metrics.items()
               for step, value, when in _new_points(client, mlflow_id, name, series, existing)]
    client.log_batch(mlflow_id, tags=[RunTag(k, v) for k, v in tags.items()])
    for i in range(0, len(params), 100):
        client.log_batch(mlflow_id, params=params[i:i + 100])
    for i in range(0, len(metrics), BATCH):
        client.log_batch(mlflow_id, metrics=metrics[i:i + BATCH])
    status = STATUS.get(str(record.get("status")))
    if status:
        client.set_terminated(mlflow_id, status, end_time=ms(record.get("ended")))
    client.set_tag(mlflow_id, "git-data.synced", signature)  # last: a killed export redoes
    return Exported(result.run_id, mlflow_id, what)


def _new_points(client: Any, mlflow_id: str, name: str, series: Any, existing: Any
                ) -> list[tuple[int, float, float | None]]:
    curve = series.curve()
    if existing is None:
        return curve
    seen = {(m.step, m.value) for m in client.get_metric_history(mlflow_id, metric_key(name))}
    return [p for p in curve if (p[0], p[1]) not in seen]


def _tags(record: dict[str, Any], store_url: str) -> dict[str, str]:
    host = record.get("host") if isinstance(record.get("host"), dict) else {}
    command = record.get("command")
    tags = {
        "git-data.store": store_url, "git-data.run": str(record["id"]),
        "git-data.status": str(record.get("status")),
        "git-data.host": str(host.get("name") or ""),
        "git-data.hostname": str(host.get("hostname") or ""),
        "git-data.outputs": f"{store_url.rstrip('/')}/runs/{record['id']}/outputs/",
        "mlflow.source.git.commit": str(record.get("commit") or ""),
        "mlflow.source.name": " ".join(map(str, command)) if isinstance(command, list) else "",
        "mlflow.source.type": "JOB",
        "mlflow.user": str(record.get("user") or ""),
    }
    return {k: v[:TAG_MAX] for k, v in tags.items() if v}
