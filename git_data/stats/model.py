"""The profile data model: plain dataclasses that serialize to small, stable JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from git_data.errors import FatalError

FORMAT_VERSION = 2  # the newest read; a profile is written as 1 unless it needs 2
NUMERIC_TYPES = ("int", "float", "datetime")
NONFINITE_KEYS = ("min", "max", "mean", "std")  # may be inf, -inf or nan: "inf" in JSON


class StatsError(FatalError):
    """A file that cannot be profiled at all (truncated Parquet, unsupported encoding...).
    The message names the file; the CLI prints it without a traceback."""


@dataclass
class Histogram:
    """Equal-width bins: bin ``i`` covers ``[start + i*width, start + (i+1)*width)``."""

    start: float
    width: float
    counts: list[int]

    @property
    def end(self) -> float:
        return self.start + self.width * len(self.counts)

    def edges(self) -> list[float]:
        return [self.start + i * self.width for i in range(len(self.counts) + 1)]

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "width": self.width, "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        return cls(data["start"], data["width"], list(data["counts"]))


@dataclass
class ColumnProfile:
    """Statistics of one column. ``count`` is the number of non-missing values; for
    ``datetime`` columns min/max/mean/quantiles/histogram are in POSIX seconds (UTC) and
    ``std`` in seconds. ``top`` holds ``[value, count]`` pairs, most frequent first; the
    counts are lower bounds when ``top_exact`` is false."""

    name: str
    type: str = "empty"  # int | float | bool | datetime | string | empty
    count: int = 0
    missing: int = 0
    distinct: int = 0
    distinct_exact: bool = True
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: Histogram | None = None
    top: list[list[Any]] = field(default_factory=list)
    top_exact: bool = True
    length: dict[str, float] | None = None  # string columns: min / mean / max length
    nonfinite: int = 0  # inf / -inf values, left out of the numeric statistics

    @property
    def total(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v is not None and v != {}}
        if not self.nonfinite:
            del data["nonfinite"]
        for key in NONFINITE_KEYS:  # JSON has no inf or nan: written as text
            value = data.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                data[key] = str(value)
        if self.histogram is not None:
            data["histogram"] = self.histogram.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in NONFINITE_KEYS:
            if known.get(key) in ("inf", "-inf", "nan"):
                known[key] = float(known[key])
        if known.get("histogram") is not None:
            known["histogram"] = Histogram.from_dict(known["histogram"])
        return cls(**known)


@dataclass
class Profile:
    """What ``profile()`` returns. ``kind`` is ``table`` (CSV/TSV/JSONL/Parquet), ``images``
    (a folder of images, profiled as a table with one row per image), ``image`` (one image:
    see ``image``) or ``file`` (anything else: format and size). Names are kept as given
    (relative paths); nothing machine-specific or time-dependent is stored."""

    name: str
    kind: str
    format: str
    size: int | None = None
    rows: int | None = None
    columns: list[ColumnProfile] = field(default_factory=list)
    image: dict[str, Any] | None = None
    sample: dict[str, list[Any]] | None = None  # {"header": [...], "rows": [[...], ...]}
    warnings: list[str] = field(default_factory=list)
    version: int = 1

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v is not None}
        data["columns"] = [c.to_dict() for c in self.columns]
        if any(isinstance(c.get(k), str) for c in data["columns"] for k in NONFINITE_KEYS):
            data["version"] = max(2, self.version)  # "inf" where version 1 had numbers
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, ensure_ascii=False,
                          allow_nan=False, separators=None if indent else (",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        version = data.get("version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StatsError(f"profile format version {version} is newer than this git-data "
                             f"reads ({FORMAT_VERSION}); upgrade git-data")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["columns"] = [ColumnProfile.from_dict(c) for c in known.get("columns", [])]
        return cls(**known)

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StatsError(f"not a profile: invalid JSON ({exc})") from None
        if not isinstance(data, dict) or "kind" not in data:
            raise StatsError("not a profile: expected a JSON object with a 'kind'")
        return cls.from_dict(data)

    def _repr_html_(self) -> str:
        from git_data.stats.render_html import render_fragment

        return render_fragment(self)


class WarningLog:
    """Collects per-file warnings, keeping the first ``limit`` so memory stays bounded."""

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self.messages: list[str] = []
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self.messages) < self.limit:
            self.messages.append(message)
        else:
            self.dropped += 1

    def result(self) -> list[str]:
        if self.dropped:
            return [*self.messages, f"... and {self.dropped:,} more warnings"]
        return list(self.messages)
