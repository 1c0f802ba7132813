"""Parsers for the files training code writes, each read once as a stream, line by line:
a line longer than MAX_LINE is skipped, never held whole, so a 10 GB log costs its reading
time and no more memory than a short one.

- ``metrics.jsonl``: one JSON object a line, ``{"step": 3, "loss": 0.25, ...}`` (every
  number but step/time is a metric; ``epoch`` stands in for a missing step) or
  ``{"name": "loss", "value": 0.25, "step": 3}``;
- ``metrics.csv``: a header, then rows (PyTorch Lightning's CSVLogger writes these);
- MLflow's file store: ``metrics/<key>`` lines ``<timestamp ms> <value> <step>`` and
  ``params/<key>`` holding the value;
- TensorBoard event files, through tensorboard's own reader (a local file).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .series import MAX_SERIES, Series, clean_name, number

MAX_LINE = 1 << 16
MAX_PARAM = 8192
STEP_KEYS = ("step", "global_step")
TIME_KEYS = ("time", "timestamp", "wall_time", "created_at")


class Collector:
    """The series of one source, by name; at most MAX_SERIES names, the rest counted."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.dropped = 0

    def add(self, name: Any, step: int, value: Any, when: float | None = None) -> None:
        val = number(value)
        key = clean_name(name) if val is not None else None
        if key is None or val is None:
            return
        series = self.series.get(key)
        if series is None:
            if len(self.series) >= MAX_SERIES:
                self.dropped += 1
                return
            series = self.series[key] = Series()
        series.add(step, val, when)


def lines(stream: BinaryIO) -> Iterator[bytes]:
    """Complete lines of at most MAX_LINE bytes (a longer one is skipped, in pieces)."""
    skipping = False
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        complete = line.endswith(b"\n")
        if not skipping and complete and len(line) <= MAX_LINE + 1:
            yield line
        skipping = not complete


def _int(value: Any) -> int | None:
    val = number(value)
    return int(val) if val is not None and val.is_integer() else None


def read_jsonl(stream: BinaryIO, into: Collector) -> None:
    for index, line in enumerate(lines(stream)):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line being written, or not JSON: skipped
        if not isinstance(row, dict):
            continue
        step = next((s for s in (_int(row.get(k)) for k in (*STEP_KEYS, "epoch"))
                     if s is not None), index)
        when = next((t for t in (number(row.get(k)) for k in TIME_KEYS) if t is not None), None)
        if "value" in row and isinstance(row.get("name", row.get("key")), str):
            into.add(row.get("name", row.get("key")), step, row["value"], when)
            continue
        for key, value in row.items():
            if key not in STEP_KEYS and key not in TIME_KEYS:
                into.add(key, step, value, when)


def read_csv(stream: BinaryIO, into: Collector) -> None:
    rows = csv.reader(line.decode("utf-8", "replace") for line in lines(stream))
    try:
        header = next(rows)
        for index, row in enumerate(rows):
            values = dict(zip(header, row))
            step = next((s for s in (_int(values.get(k)) for k in (*STEP_KEYS, "epoch"))
                         if s is not None), index)
            when = next((t for t in (number(values.get(k)) for k in TIME_KEYS)
                         if t is not None), None)
            for key, value in values.items():
                if key not in STEP_KEYS and key not in TIME_KEYS:
                    into.add(key, step, value, when)
    except (StopIteration, csv.Error):
        pass


def read_mlflow_metric(stream: BinaryIO, name: str, into: Collector) -> None:
    """MLflow's file store: ``<timestamp ms> <value> <step>`` a line."""
    for line in lines(stream):
        parts = line.split()
        if len(parts) < 2:
            continue
        when = number(parts[0].decode("ascii", "replace"))
        step = _int(parts[2].decode("ascii", "replace")) if len(parts) > 2 else 0
        into.add(name, step or 0, parts[1].decode("ascii", "replace"),
                 when / 1000 if when is not None else None)


def read_param(stream: BinaryIO) -> str:
    return stream.read(MAX_PARAM).decode("utf-8", "replace").strip()


def read_tfevents(path: Path, into: Collector) -> None:
    """Scalars of one event file (TensorBoard's reader: TF1 simple_value and TF2 tensors
    alike); a truncated file gives what it holds."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    try:
        for event in EventFileLoader(str(path)).Load():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                array = tensor_util.make_ndarray(value.tensor)
                if array.size == 1:
                    into.add(value.tag, int(event.step), float(array.reshape(-1)[0]),
                             float(event.wall_time))
    except Exception:  # noqa: BLE001  (a damaged file: what was read so far stands)
        return
