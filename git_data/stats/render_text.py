"""A profile as an aligned terminal table with unicode sparkline histograms."""

from __future__ import annotations

from git_data.stats import fmt
from git_data.stats.model import ColumnProfile, Profile

HEADERS = ("column", "type", "missing", "distinct", "mean", "std", "min", "median", "max",
           "distribution")
RIGHT = {"missing", "distinct", "mean", "std", "min", "median", "max"}
NAME_WIDTH = 24
CELL_WIDTH = 19


def render_text(profile: Profile) -> str:
    """Summary line, one row per column, then the warnings."""
    lines = [summary_line(profile)]
    if profile.kind == "image" and profile.image:
        lines.append(_image_line(profile.image))
    if profile.columns:
        lines += [""] + _table([HEADERS] + [column_row(c) for c in profile.columns])
    if profile.warnings:
        lines += ["", "warnings:"] + [f"  {w}" for w in profile.warnings]
    return "\n".join(lines) + "\n"


def summary_line(profile: Profile) -> str:
    parts = [] if profile.kind == "images" else [profile.format]
    if profile.size is not None:
        parts.append(fmt.size(profile.size))
    if profile.kind == "images":
        parts.append(f"{fmt.count(profile.rows)} images")
    elif profile.rows is not None:
        parts.append(f"{fmt.count(profile.rows)} rows × {len(profile.columns)} columns")
    return f"{profile.name} — {', '.join(parts)}"


def _image_line(info: dict) -> str:
    extra = [str(info[k]) for k in ("mode",) if k in info]
    if "bit_depth" in info:
        extra.append(f"{info['bit_depth']}-bit")
    size = f"{info.get('width', '?')} × {info.get('height', '?')}"
    return "  ".join([f"{info.get('format', '')} image", size, *extra])


def column_row(col: ColumnProfile) -> tuple[str, ...]:
    distinct = fmt.count(col.distinct) if col.distinct_exact else f"~{fmt.count(col.distinct)}"
    missing = fmt.rate(col.missing_rate) if col.missing else "0"
    kind = col.type
    if col.is_numeric or kind == "bool":
        median = col.quantiles.get("p50")
        return (fmt.clip(col.name, NAME_WIDTH), kind, missing, distinct, fmt.value(col.mean, kind),
                fmt.spread(col.std, kind) if kind != "bool" else "",
                _cell(col.min, kind), _cell(median, kind), _cell(col.max, kind), _distribution(col))
    return (fmt.clip(col.name, NAME_WIDTH), kind, missing, distinct, "", "", "", "", "",
            _distribution(col))


def _cell(x: object, kind: str) -> str:
    return "" if kind == "bool" else fmt.clip(fmt.value(x, kind), CELL_WIDTH)


def _distribution(col: ColumnProfile) -> str:
    if col.histogram is not None and col.type != "bool":
        return fmt.sparkline(col.histogram.counts)
    if not col.top or not col.count:
        return ""
    note = fmt.no_frequent_values(col)
    if note:
        return f"{note} ({'' if col.distinct_exact else '~'}{fmt.count(col.distinct)})"
    exact = "" if col.top_exact else "≥"
    shown = [f"{fmt.clip(str(v), 16)} {exact}{n / col.count:.0%}" for v, n in col.top[:3]]
    rest = col.distinct - len(shown)
    return " · ".join(shown) + (f" (+{fmt.count(rest)})" if rest > 0 else "")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.rjust(w) if HEADERS[i] in RIGHT else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return out
