"""Schemas inferred from a profile, and validation of a new profile against one.

A schema records, per column: its type, whether it is required (never missing), the
highest missing rate seen, the value range (numbers; ISO text for datetimes) and, for
low-cardinality string and bool columns, the set of allowed values. It is plain JSON,
meant to be committed and edited by hand."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from git_data.stats.columns import parse_datetime
from git_data.stats.model import ColumnProfile, Profile, StatsError

SCHEMA_VERSION = 1
MAX_VALUES = 20
COMPATIBLE = {("float", "int"), ("string", "empty"), ("int", "empty"), ("float", "empty"),
              ("bool", "empty"), ("datetime", "empty")}


@dataclass
class ColumnSchema:
    name: str
    type: str
    required: bool = False
    max_missing_rate: float = 1.0
    min: Any = None
    max: Any = None
    values: list[str] | None = None


@dataclass
class Schema:
    columns: list[ColumnSchema] = field(default_factory=list)
    version: int = SCHEMA_VERSION

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version,
                "columns": [{k: v for k, v in asdict(c).items() if v is not None}
                            for c in self.columns]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Schema:
        try:
            data = json.loads(text)
            version = data.get("version", 1)
            columns = [ColumnSchema(**c) for c in data["columns"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StatsError(f"not a schema: {exc}") from None
        if version > SCHEMA_VERSION:
            raise StatsError(f"schema version {version} is newer than this git-data reads "
                             f"({SCHEMA_VERSION}); upgrade git-data")
        return cls(columns, version)


@dataclass
class Anomaly:
    """One problem found by :func:`validate`; ``str()`` gives the one-line message."""

    column: str | None
    kind: str  # new_column | missing_column | type | range | missing | values
    message: str

    def __str__(self) -> str:
        return self.message


def infer_schema(profile: Profile, max_values: int = MAX_VALUES) -> Schema:
    """A schema that the profiled data satisfies, as the baseline for later versions."""
    return Schema([_infer_column(c, max_values) for c in profile.columns])


def _infer_column(col: ColumnProfile, max_values: int) -> ColumnSchema:
    schema = ColumnSchema(col.name, col.type, required=col.missing == 0 and col.count > 0,
                          max_missing_rate=math.ceil(col.missing_rate * 10000) / 10000)
    if col.type in ("int", "float") and col.min is not None:
        schema.min, schema.max = col.min, col.max
    elif col.type == "datetime" and col.min is not None:
        schema.min, schema.max = _iso(col.min), _iso(col.max)
    if (col.type in ("string", "bool") and col.top_exact and col.distinct_exact
            and 0 < col.distinct <= max_values and col.count >= 2 * col.distinct):
        schema.values = sorted(str(value) for value, _ in col.top)
    return schema


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def validate(profile: Profile, schema: Schema) -> list[Anomaly]:
    """Differences between the profiled data and the schema, one Anomaly per problem."""
    anomalies: list[Anomaly] = []
    for expected in schema.columns:
        col = profile.column(expected.name)
        if col is None:
            anomalies.append(Anomaly(expected.name, "missing_column",
                                     f"column {expected.name!r} is missing from the data"))
        else:
            anomalies.extend(_check_column(col, expected))
    known = {c.name for c in schema.columns}
    for col in profile.columns:
        if col.name not in known:
            anomalies.append(Anomaly(col.name, "new_column", f"column {col.name!r} is not in "
                                     f"the schema (new column of type {col.type})"))
    return anomalies


def _check_column(col: ColumnProfile, expected: ColumnSchema) -> list[Anomaly]:
    name = col.name
    if col.type != expected.type and (expected.type, col.type) not in COMPATIBLE:
        return [Anomaly(name, "type", f"column {name!r}: type changed from {expected.type} "
                        f"to {col.type}")]
    found = _check_missing(col, expected)
    if col.count:
        found += _check_range(col, expected) + _check_values(col, expected)
    return found


def _check_missing(col: ColumnProfile, expected: ColumnSchema) -> list[Anomaly]:
    name, rate = col.name, col.missing_rate
    if expected.required and col.missing:
        return [Anomaly(name, "missing", f"column {name!r}: {col.missing:,} missing values "
                        f"({rate:.2%}) in a required column")]
    if rate > expected.max_missing_rate + 1e-12:
        return [Anomaly(name, "missing", f"column {name!r}: {rate:.2%} of values missing, "
                        f"above the allowed {expected.max_missing_rate:.2%}")]
    return []


def _bound(value: Any, kind: str) -> float | None:
    if value is None:
        return None
    return parse_datetime(value) if kind == "datetime" and isinstance(value, str) else value


def _check_range(col: ColumnProfile, expected: ColumnSchema) -> list[Anomaly]:
    if col.min is None or expected.type not in ("int", "float", "datetime"):
        return []
    low, high = _bound(expected.min, expected.type), _bound(expected.max, expected.type)
    show = _iso if expected.type == "datetime" else _num
    found = []
    if low is not None and col.min < low:
        found.append(Anomaly(col.name, "range", f"column {col.name!r}: minimum {show(col.min)} "
                             f"is below the allowed minimum {show(low)}"))
    if high is not None and col.max > high:
        found.append(Anomaly(col.name, "range", f"column {col.name!r}: maximum {show(col.max)} "
                             f"is above the allowed maximum {show(high)}"))
    return found


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.6g}"


def _check_values(col: ColumnProfile, expected: ColumnSchema) -> list[Anomaly]:
    if expected.values is None:
        return []
    allowed = set(expected.values)
    if not col.top_exact:
        return [Anomaly(col.name, "values", f"column {col.name!r}: about {col.distinct:,} "
                        f"distinct values, but the schema allows {len(allowed)}")]
    unexpected = [(value, n) for value, n in col.top if str(value) not in allowed]
    at_least = max(len(unexpected), col.distinct - len(allowed) if col.distinct_exact else 0)
    if not at_least:
        return []
    shown = ", ".join(f"{value!r} ({n:,} rows)" for value, n in unexpected[:5])
    hidden = at_least - min(len(unexpected), 5)
    text = f"unexpected values {shown}" if shown else "unexpected values"
    if hidden:
        text += f" and {hidden} more" if shown else f" ({hidden} distinct)"
    return [Anomaly(col.name, "values", f"column {col.name!r}: {text}")]
