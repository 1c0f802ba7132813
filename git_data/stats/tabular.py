"""Tables: CSV/TSV through the stdlib ``csv`` module over decoded lines, JSON Lines through
``json``; rows are gathered into bounded batches and handed to per-column accumulators.

Bad input never raises: a malformed record (unbalanced quote...) is skipped, a ragged row is
padded or cut to the header's width, an invalid JSON line is skipped, and each becomes a
warning naming the file and line.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from git_data.stats.columns import ColumnAccumulator, SketchSizes, TextOptions, classify_value
from git_data.stats.model import Profile, StatsError, WarningLog
from git_data.stats.sketches import Reservoir
from git_data.stats.sniff import decoded_lines

BATCH_CELLS = 200_000
MAX_COLUMNS = 50_000  # sketches shrink with the width (SketchSizes), so memory stays bounded
MAX_CELL_CHARS = 200
MAX_DEPTH = 4
READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class TableBuilder:
    """Column accumulators for a table whose columns may appear as rows arrive (JSON)."""

    def __init__(self, names: Sequence[str], sample_size: int, log: WarningLog,
                 options: TextOptions = TextOptions()) -> None:
        self.options = options
        self.sizes = SketchSizes.for_columns(len(names))
        self.columns: list[ColumnAccumulator] = []
        self.index: dict[str, int] = {}
        self.rows = 0
        self.sample = Reservoir(sample_size, seed=0)
        self.log = log
        for name in names:
            self.add_column(name)

    def add_column(self, name: str) -> bool:
        if len(self.columns) >= MAX_COLUMNS:
            return False
        self.index[name] = len(self.columns)
        self.columns.append(ColumnAccumulator(name, self.sizes, len(self.columns), self.rows,
                                              self.options.missing))
        return True

    @property
    def batch_rows(self) -> int:
        return max(64, min(8192, BATCH_CELLS // max(1, len(self.columns))))

    def add_text_rows(self, rows: list[list[str]]) -> None:
        for acc, cells in zip(self.columns, zip(*rows)):
            acc.add_text(cells)
        self.sample.add_batch(rows)
        self.rows += len(rows)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            for key in record:
                if key not in self.index and not self.add_column(key):
                    if len(self.index) == MAX_COLUMNS:
                        self.log.add(f"more than {MAX_COLUMNS} keys; key {key!r} and later "
                                     "new keys are not profiled")
                    self.index[key] = -1
        for acc in self.columns:
            acc.add_values([r.get(acc.name) for r in records])
        self.sample.add_batch(records)
        self.rows += len(records)

    def add_value_columns(self, columns: list[list[Any]], rows: Sequence[Any]) -> None:
        for acc, values in zip(self.columns, columns):
            acc.add_values(values)
        self.sample.add_batch(rows)
        self.rows += len(rows)

    def sample_table(self) -> dict[str, list[Any]]:
        header = [acc.name for acc in self.columns]
        rows = []
        for row in self.sample.items:
            if isinstance(row, dict):
                row = [row.get(name) for name in header]
            rows.append([cell_text(cell) for cell in row])
        return {"header": header, "rows": rows}

    def result(self, name: str, fmt: str, size: int | None) -> Profile:
        for acc in self.columns:
            if acc.mixed:
                self.log.add(f"{name}: column {acc.name!r} mixes numbers and text; profiled "
                             "as text (check for a stray value or a second header)")
        return Profile(name=name, kind="table", format=fmt, size=size, rows=self.rows,
                       columns=[acc.result() for acc in self.columns],
                       sample=self.sample_table(), warnings=self.log.result())


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else classify_value(value)[1]
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def profile_text_table(stream: BinaryIO, name: str, fmt: str, size: int | None,
                       sample_size: int = 10, options: TextOptions = TextOptions()) -> Profile:
    """Profile a CSV, TSV or JSON Lines stream in one pass."""
    log = WarningLog()
    lines = decoded_lines(stream, name, log)
    try:
        if fmt == "jsonl":
            builder = TableBuilder([], sample_size, log)
            records = jsonl_records(lines, name, log)

            def next_batch(n: int) -> list[Any]:
                return list(itertools.islice(records, n))

            add: Callable[[Any], None] = builder.add_records
        else:
            reader = DelimitedReader(lines, name, fmt, log, options)
            builder = TableBuilder(reader.header, sample_size, log, options)
            next_batch, add = reader.batch, builder.add_text_rows
    except READ_ERRORS as exc:
        log.add(_truncated(name, 0, exc))
        return Profile(name=name, kind="table", format=fmt, size=size, rows=0,
                       warnings=log.result())
    _consume(builder, name, next_batch, add)
    if builder.rows == 0 and not builder.columns:
        log.add(f"{name}: empty file: no header and no rows")
    return builder.result(name, fmt, size)


def _truncated(name: str, rows: int, exc: BaseException) -> str:
    return (f"{name}: compressed data is truncated or corrupt after {rows:,} rows ({exc}); "
            "the profile covers those rows only")


def _consume(builder: TableBuilder, name: str, next_batch: Callable[[int], list[Any]],
             add: Callable[[Any], None]) -> None:
    try:
        while True:
            batch = next_batch(builder.batch_rows)
            if not batch:
                return
            add(batch)
    except READ_ERRORS as exc:
        builder.log.add(_truncated(name, builder.rows, exc))


class DelimitedReader:
    """CSV/TSV rows in batches, each row exactly as wide as the header. Malformed records
    are skipped and ragged rows padded or cut, each with a warning naming the lines."""

    def __init__(self, lines: Iterator[str], name: str, fmt: str, log: WarningLog,
                 options: TextOptions = TextOptions()) -> None:
        self.name, self.log = name, log
        self.header: list[str] = []
        self.width = 0
        self.reader: Any = None
        self.done = False
        self._pending: list[list[str]] = []
        lines = itertools.dropwhile(lambda line: not line.strip(), lines)
        first = next(lines, None)
        if first is None:
            self.done = True
            return
        delimiter = options.delimiter or ("\t" if fmt == "tsv" else _guess_delimiter(first))
        self.reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter,
                                 strict=True)
        try:
            header = next(self.reader)
        except csv.Error as exc:
            raise StatsError(f"{name}: line 1: cannot parse the header ({exc})") from None
        self.header, has_header = header_names(header, options.header)
        self.width = len(self.header)
        if self.width > MAX_COLUMNS:
            log.add(f"{name}: {self.width:,} columns; only the first {MAX_COLUMNS} are profiled")
            self.header = self.header[:MAX_COLUMNS]
        if not has_header and options.header is None:
            log.add(f"{name}: line 1 looks like data, not a header; columns are named "
                    "column_1, column_2, ... (--no-header says so)")
        if not has_header:
            self._pending.append(header[:MAX_COLUMNS])

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            batch = self.batch(4096)
            if not batch:
                return
            yield from batch

    def batch(self, n: int) -> list[list[str]]:
        rows, self._pending = self._pending, []
        reader, width, keep = self.reader, self.width, MAX_COLUMNS
        prev = reader.line_num if reader is not None else 0
        while not self.done and len(rows) < n:
            try:
                for row in reader:
                    if len(row) != width:
                        row = self._fix(row, prev + 1, reader.line_num)
                    elif width > keep:
                        row = row[:keep]
                    prev = reader.line_num
                    if row:
                        rows.append(row)
                        if len(rows) >= n:
                            break
                else:
                    self.done = True
            except csv.Error as exc:
                self.log.add(f"{self.name}: {_span(prev + 1, reader.line_num)}: malformed CSV "
                             f"record ({exc}){_quote_hint(prev + 1, reader.line_num)}; "
                             "record skipped")
                prev = reader.line_num
        return rows

    def _fix(self, row: list[str], first: int, last: int) -> list[str]:
        if not row:
            return row  # a blank line
        width = self.width
        self.log.add(f"{self.name}: {_span(first, last)}: ragged row with {len(row)} fields, "
                     f"expected {width}{_quote_hint(first, last)}; "
                     + ("missing fields counted as missing" if len(row) < width
                        else "extra fields ignored"))
        return (row + [""] * (width - len(row)))[:min(width, MAX_COLUMNS)]


def _guess_delimiter(first_line: str) -> str:
    if "," in first_line:
        return ","
    counts = {d: first_line.count(d) for d in ";\t|"}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def header_names(header: list[str], given: bool | None = None) -> tuple[list[str], bool]:
    """Unique, non-empty column names, and whether ``header`` is a header at all (``given``
    when the user said; else guessed: a line of numbers is data)."""
    has_header = not all(_is_number(cell) for cell in header) if given is None else given
    return unique_names(header if has_header else [""] * len(header)), has_header


def unique_names(raw: Sequence[str]) -> list[str]:
    """Names made non-empty (``column_N``) and unique (``name.1``, ``name.2``...)."""
    names: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(raw):
        base = cell.strip() or f"column_{i + 1}"
        candidate, k = base, 1
        while candidate in seen:
            candidate, k = f"{base}.{k}", k + 1
        seen.add(candidate)
        names.append(candidate)
    return names


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _span(first: int, last: int) -> str:
    return f"line {first}" if first >= last else f"lines {first}-{last}"


def _quote_hint(first: int, last: int) -> str:
    return f" (an unbalanced quote on line {first}?)" if last > first else ""


def jsonl_records(lines: Iterator[str], name: str, log: WarningLog) -> Iterator[dict[str, Any]]:
    """One flat dict per JSON object line (nested objects become ``a.b`` keys)."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            log.add(f"{name}: line {lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                    "line skipped")
            continue
        except RecursionError:
            log.add(f"{name}: line {lineno}: JSON nested too deeply; line skipped")
            continue
        if not isinstance(obj, dict):
            log.add(f"{name}: line {lineno}: expected a JSON object, found "
                    f"{type(obj).__name__}; line skipped")
            continue
        yield flatten(obj) if any(type(v) is dict for v in obj.values()) else obj


def flatten(obj: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        if type(value) is dict and depth < MAX_DEPTH:
            flat.update(flatten(value, f"{prefix}{key}.", depth + 1))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
