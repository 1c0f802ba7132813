"""The metrics and params of runs, from the store's ``runs/<id>/outputs/``, cached per run.

Which output files are metric sources is decided by name alone (``source_kind``); each is
streamed once (event files through a temporary local copy: tensorboard's reader wants a
path). Series of the same name from sources in different folders are told apart by the
folder (``train/loss``, ``validation/loss``); files of one folder add up to one series (a
TensorBoard run restarted into the same folder). A run that has ended is cached in
``<cache>/experiments/<store>/<id>.json`` and never read from the store again; a run still
going is read afresh each time.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import safeio
from ..runner.host.paths import below, run_key
from ..runner.records import FINAL
from ..store import CHUNK, Store
from . import sources
from .series import Series, clean_name

CACHE_VERSION = 1
MLFLOW_RE = re.compile(r"(?:(.*)/)?mlruns/([^/.][^/]*)/([^/]+)/(metrics|params)/(.+)")
EVENTS_PREFIX = "events.out.tfevents."


@dataclass
class RunMetrics:
    run_id: int
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Series] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # paths below outputs/

    def to_json(self) -> dict[str, Any]:
        return {"params": self.params, "sources": self.sources,
                "metrics": {name: s.to_json() for name, s in self.metrics.items()}}

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {name: s.summary() for name, s in sorted(self.metrics.items())}


def source_kind(rel: str) -> tuple[str, str, str] | None:
    """(kind, folder label, metric or param name) of an output path, None when it is not a
    metric source."""
    folder, _, base = rel.rpartition("/")
    if base == "metrics.jsonl":
        return "jsonl", folder, ""
    if base == "metrics.csv":
        return "csv", folder, ""
    if base.startswith(EVENTS_PREFIX):
        return "tfevents", folder, ""
    match = MLFLOW_RE.fullmatch(rel)
    if match:
        return f"mlflow_{match[4]}", f"mlflow/{match[3][:8]}", match[5]
    return None


def cache_folder(cache_dir: Path, store: Store) -> Path:
    return cache_dir / "experiments" / hashlib.sha256(store.url.encode()).hexdigest()[:16]


def load_many(store: Store, found: list[dict[str, Any]], cache_dir: Path) -> list[RunMetrics]:
    """The RunMetrics of each record, in order (runs read in parallel)."""
    folder = cache_folder(cache_dir, store)
    with cf.ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda record: load(store, record, folder), found))


def load(store: Store, record: dict[str, Any], folder: Path) -> RunMetrics:
    run_id = int(record["id"])
    final = record.get("status") in FINAL
    stamp = str(record.get("ended") or "")
    cached = _read_cache(folder / f"{run_id}.json", stamp) if final else None
    if cached is not None:
        return _with_run_params(cached, record)
    result = _from_store(store, run_id)
    if final:
        body = {"version": CACHE_VERSION, "ended": stamp, **result.to_json()}
        folder.mkdir(parents=True, exist_ok=True)
        safeio.write_text(folder / f"{run_id}.json", json.dumps(body))
    return _with_run_params(result, record)


def _with_run_params(result: RunMetrics, record: dict[str, Any]) -> RunMetrics:
    """The run's own params (``--grid``, ``-p``) first, MLflow's where those say nothing."""
    own = record.get("params")
    params = {str(k): str(v) for k, v in own.items()} if isinstance(own, dict) else {}
    for key, value in result.params.items():
        params.setdefault(key, value)
    result.params = params
    return result


def _read_cache(path: Path, stamp: str) -> RunMetrics | None:
    try:
        with safeio.open_nofollow(None, path) as source:
            body = json.loads(source.read())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("version") != CACHE_VERSION \
            or body.get("ended") != stamp or not isinstance(body.get("metrics"), dict):
        return None
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    return RunMetrics(int(path.stem), {str(k): str(v) for k, v in params.items()},
                      {str(k): Series.from_json(v) for k, v in body["metrics"].items()},
                      [str(s) for s in body.get("sources") or []])


def _from_store(store: Store, run_id: int) -> RunMetrics:
    prefix = f"{run_key(run_id)}/outputs"
    keys = store.find(prefix) if store.exists(prefix) else []
    chosen = []
    for key in sorted(keys):
        rel = below(prefix, key, store.describe())
        kind = source_kind(rel) if rel else None
        if kind is not None:
            chosen.append((key, rel, kind))
    params: dict[str, str] = {}
    by_label: dict[tuple[str, str], Series] = {}
    for key, _rel, (kind, label, name) in chosen:
        if kind == "mlflow_params":
            clean = clean_name(name)
            with store.open(key, "rb") as stream:
                if clean:
                    params.setdefault(clean, sources.read_param(stream))
            continue
        for metric, series in _read_source(store, key, kind, name).items():
            if (label, metric) in by_label:
                by_label[label, metric].extend(series)
            else:
                by_label[label, metric] = series
    return RunMetrics(run_id, params, _named(by_label), [rel for _, rel, _ in chosen])


def _read_source(store: Store, key: str, kind: str, name: str) -> dict[str, Series]:
    into = sources.Collector()
    if kind == "tfevents":
        with tempfile.NamedTemporaryFile(prefix="git-data-events-") as local:
            with store.open(key, "rb") as stream:
                while chunk := stream.read(CHUNK):
                    local.write(chunk)
            local.flush()
            sources.read_tfevents(Path(local.name), into)
        return into.series
    with store.open(key, "rb") as stream:
        if kind == "jsonl":
            sources.read_jsonl(stream, into)
        elif kind == "csv":
            sources.read_csv(stream, into)
        else:
            sources.read_mlflow_metric(stream, name, into)
    return into.series


def _named(by_label: dict[tuple[str, str], Series]) -> dict[str, Series]:
    """A metric's plain name when one folder has it, ``folder/name`` when several do."""
    labels: dict[str, list[str]] = {}
    for label, metric in by_label:
        labels.setdefault(metric, []).append(label)
    named = {}
    for (label, metric), series in by_label.items():
        unique = len(labels[metric]) == 1
        named[metric if unique or not label else f"{label}/{metric}"] = series
    return dict(sorted(named.items()))
