"""What changed between two profiles of a table: rows, columns, and statistic shifts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from git_data.stats import fmt
from git_data.stats.model import ColumnProfile, Profile


@dataclass
class Shift:
    """A statistic of one column that moved beyond the threshold."""

    column: str
    statistic: str  # mean | std | missing | distinct | values
    old: Any
    new: Any
    note: str = ""
    type: str = ""  # the column's type, for formatting old and new


@dataclass
class TableDiff:
    old_name: str
    new_name: str
    old_rows: int | None
    new_rows: int | None
    added: list[tuple[str, str]] = field(default_factory=list)  # (column, type)
    removed: list[tuple[str, str]] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (column, old, new)
    shifts: list[Shift] = field(default_factory=list)

    @property
    def row_delta(self) -> int:
        return (self.new_rows or 0) - (self.old_rows or 0)

    @property
    def changed(self) -> bool:
        return bool(self.row_delta or self.added or self.removed or self.retyped or self.shifts)

    def shifted(self, column: str, statistic: str) -> Shift | None:
        return next((s for s in self.shifts
                     if s.column == column and s.statistic == statistic), None)

    def render(self) -> str:
        return render_diff(self)

    def __str__(self) -> str:
        return render_diff(self)


def diff_profiles(old: Profile, new: Profile, threshold: float = 0.1,
                  missing_threshold: float = 0.01) -> TableDiff:
    """Compare two profiles of (versions of) a table. A mean shift is reported when it
    exceeds ``threshold`` old standard deviations, a std change beyond ``threshold``
    relative, a missing-rate change beyond ``missing_threshold`` absolute."""
    diff = TableDiff(old.name, new.name, old.rows, new.rows)
    old_cols = {c.name: c for c in old.columns}
    new_cols = {c.name: c for c in new.columns}
    diff.added = [(c.name, c.type) for c in new.columns if c.name not in old_cols]
    diff.removed = [(c.name, c.type) for c in old.columns if c.name not in new_cols]
    for col in new.columns:
        before = old_cols.get(col.name)
        if before is None:
            continue
        if before.type != col.type:
            diff.retyped.append((col.name, before.type, col.type))
        else:
            diff.shifts += column_shifts(before, col, threshold, missing_threshold)
    return diff


def column_shifts(old: ColumnProfile, new: ColumnProfile, threshold: float,
                  missing_threshold: float) -> list[Shift]:
    shifts = []
    name, kind = new.name, new.type
    if abs(new.missing_rate - old.missing_rate) > missing_threshold:
        shifts.append(Shift(name, "missing", old.missing_rate, new.missing_rate,
                            f"{fmt.rate(old.missing_rate)} -> {fmt.rate(new.missing_rate)}"))
    if old.mean is not None and new.mean is not None and old.std is not None:
        delta = new.mean - old.mean
        scale = old.std or abs(old.mean) or 1.0
        if abs(delta) > threshold * scale:
            unit = f"{delta / old.std:+.2f} std" if old.std else f"{delta:+.3g}"
            shifts.append(Shift(name, "mean", old.mean, new.mean, unit, kind))
    if old.std and new.std is not None and abs(new.std - old.std) > threshold * old.std:
        shifts.append(Shift(name, "std", old.std, new.std,
                            f"{(new.std - old.std) / old.std:+.0%}", kind))
    return shifts + _value_shifts(old, new, threshold)


def _value_shifts(old: ColumnProfile, new: ColumnProfile, threshold: float) -> list[Shift]:
    if old.type not in ("string", "bool", "int"):
        return []
    complete = all(c.top_exact and c.distinct <= len(c.top) for c in (old, new))
    if complete:
        before = {str(v) for v, _ in old.top}
        after = {str(v) for v, _ in new.top}
        if before != after:
            parts = [f"new {', '.join(map(repr, sorted(after - before)))}" if after - before
                     else "", f"gone {', '.join(map(repr, sorted(before - after)))}"
                     if before - after else ""]
            return [Shift(new.name, "values", sorted(before), sorted(after),
                          "; ".join(p for p in parts if p))]
        return []
    categorical = old.count and old.distinct < 0.5 * old.count
    if categorical and abs(new.distinct - old.distinct) > threshold * max(old.distinct, 1):
        return [Shift(new.name, "distinct", old.distinct, new.distinct,
                      f"{(new.distinct - old.distinct) / max(old.distinct, 1):+.0%}")]
    return []


def render_diff(diff: TableDiff) -> str:
    lines = []
    if diff.old_rows is not None or diff.new_rows is not None:
        old, new = diff.old_rows or 0, diff.new_rows or 0
        pct = f", {diff.row_delta / old:+.1%}" if old else ""
        change = f" ({diff.row_delta:+,}{pct})" if diff.row_delta else " (unchanged)"
        lines.append(f"rows: {old:,} -> {new:,}{change}")
    if diff.added:
        lines.append("columns added: " + ", ".join(f"{n} ({t})" for n, t in diff.added))
    if diff.removed:
        lines.append("columns removed: " + ", ".join(f"{n} ({t})" for n, t in diff.removed))
    if diff.retyped:
        lines.append("columns retyped: " + ", ".join(f"{n}: {a} -> {b}"
                                                     for n, a, b in diff.retyped))
    if diff.shifts:
        lines.append("changed statistics:")
        width = max(len(s.column) for s in diff.shifts)
        for s in diff.shifts:
            lines.append(f"  {s.column:<{width}}  {s.statistic:<8}  {_shift_text(s)}")
    if not diff.changed:
        lines.append("no differences in rows, columns or statistics")
    return "\n".join(lines) + "\n"


def _shift_text(shift: Shift) -> str:
    if shift.statistic in ("mean", "std"):
        show = fmt.value if shift.statistic == "mean" else fmt.spread
        return f"{show(shift.old, shift.type)} -> {show(shift.new, shift.type)}  ({shift.note})"
    if shift.statistic == "distinct":
        return f"{shift.old:,} -> {shift.new:,}  ({shift.note})"
    return shift.note
