"""One metric's values over steps, kept in bounded memory whatever the length of the run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_POINTS = 5000  # per series: enough for a curve and an export, however long the run
MAX_SERIES = 1000  # per run: names past this are counted, not kept
MAX_NAME = 200


@dataclass
class Series:
    """count/last/min/max over every finite value; ``points`` (step, value, time or None)
    thinned to every ``stride``-th value once MAX_POINTS is reached, the last one always kept
    in ``last``."""

    count: int = 0
    last: tuple[int, float, float | None] | None = None
    low: float = math.inf
    high: float = -math.inf
    points: list[tuple[int, float, float | None]] = field(default_factory=list)
    stride: int = 1

    def add(self, step: int, value: float, when: float | None = None) -> None:
        if not math.isfinite(value):
            return
        point = (step, value, when)
        if self.count % self.stride == 0:
            self.points.append(point)
            if len(self.points) > MAX_POINTS:
                self.points = self.points[::2]
                self.stride *= 2
        self.count += 1
        self.last = point
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def extend(self, other: Series) -> None:
        for step, value, when in other.curve():
            self.add(step, value, when)

    def curve(self) -> list[tuple[int, float, float | None]]:
        """The kept points, the last value included."""
        if self.last is not None and (not self.points or self.points[-1] != self.last):
            return [*self.points, self.last]
        return list(self.points)

    def summary(self) -> dict[str, Any]:
        if self.last is None:
            return {"count": 0}
        return {"count": self.count, "last": self.last[1], "last_step": self.last[0],
                "min": self.low, "max": self.high}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "points": [list(p) for p in self.curve()]}

    @classmethod
    def from_json(cls, value: Any) -> Series:
        """From a cache file (ours, but checked: a bad entry gives an empty series)."""
        series = cls()
        if not isinstance(value, dict):
            return series
        for point in value.get("points") or []:
            if isinstance(point, list) and len(point) == 3:
                step, val, when = point
                if isinstance(step, int) and isinstance(val, (int, float)):
                    series.points.append((step, float(val),
                                          float(when) if isinstance(when, (int, float)) else None))
        if series.points:
            series.last = series.points[-1]
            count = value.get("count")
            series.count = count if isinstance(count, int) else len(series.points)
            low, high = value.get("min"), value.get("max")
            values = [p[1] for p in series.points]
            series.low = float(low) if isinstance(low, (int, float)) else min(values)
            series.high = float(high) if isinstance(high, (int, float)) else max(values)
        return series


def clean_name(name: str) -> str | None:
    """A metric or param name from untrusted content: printable, at most MAX_NAME long."""
    text = "".join(ch for ch in str(name) if ch.isprintable()).strip()
    return text[:MAX_NAME] or None


def number(value: Any) -> float | None:
    """A metric value: an int or float (not a bool), or a number written as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None
