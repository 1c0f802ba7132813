"""Formatting of statistics for people: counts, sizes, rates, values, durations."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

BARS = "▁▂▃▄▅▆▇█"


def count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def size(n: float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def rate(r: float) -> str:
    if r == 0:
        return "0"
    if r < 0.001:
        return "<0.1%"
    return f"{r:.1%}"


def number(x: float | None) -> str:
    if x is None:
        return ""
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if x == 0:
        return "0"
    magnitude = abs(x)
    if magnitude >= 1e9 or magnitude < 1e-3:
        return f"{x:.3g}"
    if magnitude >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def moment(seconds: float) -> str:
    when = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if when.hour == when.minute == when.second == when.microsecond == 0:
        return when.date().isoformat()
    return when.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    for unit, length in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.3g} {unit}"
    return f"{seconds:.3g} s"


def value(x: Any, kind: str) -> str:
    """A statistic (min, mean, quantile...) of a column of type ``kind``."""
    if x is None:
        return ""
    if kind == "datetime":
        return moment(x)
    if kind == "bool":
        return f"{x:.1%} true" if isinstance(x, float) else ("true" if x else "false")
    return number(x)


def spread(x: float | None, kind: str) -> str:
    """A standard deviation, in seconds turned into a duration for datetimes."""
    if x is None:
        return ""
    return duration(x) if kind == "datetime" else number(x)


def sparkline(counts: list[int], width: int = 16) -> str:
    if not counts:
        return ""
    group = max(1, -(-len(counts) // width))
    grouped = [sum(counts[i:i + group]) for i in range(0, len(counts), group)]
    top = max(grouped) or 1
    return "".join(" " if c == 0 else BARS[max(0, math.ceil(c / top * 8) - 1)] for c in grouped)


def clip(text: str, width: int) -> str:
    text = text.replace("\n", "⏎").replace("\t", "→")
    return text if len(text) <= width else text[:width - 1] + "…"


def no_frequent_values(col: Any) -> str | None:
    """A note replacing the top-values chart when no value stands out (ids, free text)."""
    if not col.top or not col.count:
        return None
    if col.top[0][1] > 1 and col.top[0][1] / col.count >= 0.01:
        return None
    if col.distinct_exact and col.distinct == col.count:
        return "all values distinct"
    return "no value above 1%"
