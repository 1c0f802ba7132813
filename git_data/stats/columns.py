"""One column's accumulator: infers the type and feeds the sketches batch by batch.

Text cells (CSV/TSV) are parsed a whole batch at a time (``map(int, cells)`` first, then
float, bool, ISO datetime, and only then cell by cell), Python values (JSON Lines, Parquet,
image metadata) are classified one by one. A column's type is the narrowest one that
covers every non-missing value: int < float; bool, datetime and string stand alone, and any
mix other than int/float makes it a string column (for which numeric parsing then stops).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import xxhash

from git_data.stats.model import ColumnProfile
from git_data.stats.sketches import (
    DistinctCounter,
    Moments,
    Reservoir,
    StreamHistogram,
    TopValues,
)

# pandas.read_csv's default na_values (pandas 2.x), so a table's missing values are the
# ones pandas would find
MISSING_TOKENS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
     "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)


@dataclass(frozen=True)
class TextOptions:
    """How delimited text is read: ``delimiter`` (None: guessed from the first line),
    ``header`` (False: the first line is data, columns are column_1...; None: guessed),
    ``missing`` (the tokens that mean missing)."""

    delimiter: str | None = None
    header: bool | None = None
    missing: frozenset[str] = MISSING_TOKENS
BOOL_TOKENS = {"true": 1, "false": 0, "True": 1, "False": 0, "TRUE": 1, "FALSE": 0}
DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?"
                         r"(Z|[+-]\d{2}:?\d{2})?")
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
TOP_REPORTED = 20


@dataclass(frozen=True)
class SketchSizes:
    reservoir: int = 4096
    distinct: int = 4096
    top: int = 1024
    top_exact: int = 16_384  # distinct values counted exactly before Misra-Gries takes over

    @classmethod
    def for_columns(cls, ncols: int) -> SketchSizes:
        """Smaller sketches for wide tables, so memory stays bounded whatever the width
        (about 1 M exact top-value counts in all)."""
        scale = min(1.0, 64 / max(ncols, 1))
        return cls(max(32, int(4096 * scale)), max(32, int(4096 * scale)),
                   max(8, int(1024 * scale)), max(32, int(16_384 * scale)))


def column_type(kinds: set[str]) -> str:
    if not kinds:
        return "empty"
    if kinds <= {"int"}:
        return "int"
    if kinds <= {"int", "float"}:
        return "float"
    if len(kinds) == 1:
        return next(iter(kinds))
    return "string"


def parse_datetime(text: str) -> float:
    """POSIX seconds of an ISO 8601 date or datetime (naive means UTC); ValueError if not.
    Parsed the same way on every Python version (3.9's fromisoformat is stricter)."""
    match = DATETIME_RE.fullmatch(text)
    if not match:
        raise ValueError(text)
    day, clock, fraction, zone = match.groups()
    moment = datetime.fromisoformat(f"{day}T{clock}" if clock else day)
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
        moment = moment.replace(tzinfo=timezone(sign * offset))
    return _timestamp(moment)


def _timestamp(value: datetime | date) -> float:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def parse_text_batch(cells: Sequence[str]) -> tuple[set[str], list[Any] | None]:
    """Kinds present in non-missing text cells and their numeric values (None for strings)."""
    try:
        return {"int"}, list(map(int, cells))
    except ValueError:
        pass
    try:
        return {"float"}, list(map(float, cells))
    except ValueError:
        pass
    if all(c in BOOL_TOKENS for c in cells):
        return {"bool"}, [BOOL_TOKENS[c] for c in cells]
    if DATETIME_RE.match(cells[0]):
        try:
            return {"datetime"}, list(map(parse_datetime, cells))
        except ValueError:
            pass
    return _parse_each(cells)


ZONE_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def canonical_keys(keys: Sequence[str], kinds: set[str], numbers: list[Any]) -> list[str]:
    """The text a number or an instant is counted under: ``1``, ``1.0`` and ``01`` are one
    value in a numeric column, and one instant written in three time zones is one."""
    if kinds == {"int"}:
        return list(map(str, numbers))
    if kinds <= {"int", "float"}:
        return number_keys(numbers)
    if kinds == {"datetime"}:
        return [_utc_key(n) if len(k) > 10 and ZONE_RE.search(k) else k
                for k, n in zip(keys, numbers)]
    return list(keys)


def number_keys(numbers: Sequence[Any]) -> list[str]:
    """``number_key`` of each, a batch at a time: repr, then ``2.0`` -> ``2`` (cheaper than
    testing each float; ``1e+16`` and larger keep repr's form)."""
    return [k[:-2] if k[-2:] == ".0" else k for k in map(repr, numbers)]


def number_key(x: Any) -> str:
    if type(x) is int:
        return str(x)
    if math.isfinite(x) and x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def _utc_key(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _parse_each(cells: Sequence[str]) -> tuple[set[str], list[Any] | None]:
    kinds: set[str] = set()
    numbers: list[Any] = []
    for cell in cells:
        kind, number = _parse_cell(cell)
        kinds.add(kind)
        if column_type(kinds) == "string":
            return kinds | {"string"}, None
        numbers.append(number)
    return kinds, numbers


def _parse_cell(cell: str) -> tuple[str, Any]:
    for kind, parse in (("int", int), ("float", float), ("datetime", parse_datetime)):
        try:
            return kind, parse(cell)
        except ValueError:
            pass
    if cell in BOOL_TOKENS:
        return "bool", BOOL_TOKENS[cell]
    return "string", None


def classify_value(value: Any) -> tuple[str, str, Any]:
    """(kind, key, number) of one non-missing Python value; key is its text form."""
    t = type(value)
    if t is str:
        if DATETIME_RE.match(value):
            try:
                return "datetime", value, parse_datetime(value)
            except ValueError:
                pass
        return "string", value, None
    if t is bool:
        return "bool", "true" if value else "false", int(value)
    if t is int:
        return "int", str(value), value
    if t is float:
        return "float", number_key(value), value
    if isinstance(value, (datetime, date)):
        return "datetime", value.isoformat(), _timestamp(value)
    if isinstance(value, Decimal):
        return "float", str(value), float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "string", f"<{len(value)} bytes {stable_text_hash(bytes(value))}>", None
    if isinstance(value, (dict, list, tuple)):
        return "string", json.dumps(value, sort_keys=True, default=str), None
    return "string", str(value), None


def stable_text_hash(data: bytes) -> str:
    return xxhash.xxh64_hexdigest(data)


def is_missing_value(value: Any) -> bool:
    return value is None or (type(value) is float and value != value)


class ColumnAccumulator:
    """Everything known about one column so far, in bounded memory."""

    def __init__(self, name: str, sizes: SketchSizes, seed: int = 0, missing: int = 0,
                 missing_tokens: frozenset[str] = MISSING_TOKENS) -> None:
        self.name = name
        self.missing_tokens = missing_tokens
        self.missing = missing
        self.count = 0
        self.kinds: set[str] = set()
        self.is_string = False
        self.nonfinite = 0
        self.posinf = self.neginf = 0  # inf / -inf: shown in min, max and mean
        self.mixed = False  # numbers first, then text: worth a note
        self.moments = Moments()
        self.sample = Reservoir(sizes.reservoir, seed)
        self.histogram = StreamHistogram()
        self.distinct = DistinctCounter(sizes.distinct)
        self.top = TopValues(sizes.top, sizes.top_exact)
        self.lengths = [0, 0, None, None]  # count, total, shortest, longest

    def add_text(self, cells: Sequence[str]) -> None:
        tokens = self.missing_tokens
        if tokens.isdisjoint(cells):
            keys = cells
        else:
            keys = [c for c in cells if c not in tokens]
            self.missing += len(cells) - len(keys)
        if not keys:
            return
        if self.is_string:
            self._add_keys(keys)
            return
        kinds, numbers = parse_text_batch(keys)
        if numbers is not None and column_type(self.kinds | kinds) != "string":
            # distinct and top values of a number or an instant, not of its spelling
            self._add_keys(canonical_keys(keys, kinds, numbers))
        else:
            self._add_keys(keys)
        self._add_kinds(kinds, numbers)

    def add_numbers(self, numbers: list[Any], kind: str, missing: int = 0) -> None:
        """Numbers of a typed column (Parquet int or float, NaN and nulls already taken out
        and counted in ``missing``), without classifying each value."""
        self.missing += missing
        if not numbers:
            return
        self._add_keys(list(map(str, numbers)) if kind == "int" else number_keys(numbers))
        if not self.is_string:
            self._add_kinds({kind}, numbers)

    def add_keyed(self, keys: list[str], numbers: list[Any] | None, kind: str,
                  missing: int = 0) -> None:
        """Values of a typed column given as their keys (and numbers, None for text)."""
        self.missing += missing
        if not keys:
            return
        self._add_keys(keys)
        if not self.is_string:
            self._add_kinds({kind}, numbers)

    def add_values(self, values: Sequence[Any]) -> None:
        keys: list[str] = []
        numbers: list[Any] = []
        kinds: set[str] = set()
        for value in values:
            if is_missing_value(value):
                self.missing += 1
                continue
            kind, key, number = classify_value(value)
            keys.append(key)
            kinds.add(kind)
            numbers.append(number)
        if keys:
            self._add_keys(keys)
            if not self.is_string:
                self._add_kinds(kinds, numbers)

    def _add_keys(self, keys: Sequence[str]) -> None:
        self.count += len(keys)
        self.distinct.add_batch(keys)
        if self.top.exact or self.kinds != {"float"}:  # no heavy hitters among many floats
            self.top.add_batch(keys)
        sizes = list(map(len, keys))
        n, total, shortest, longest = self.lengths
        self.lengths = [n + len(sizes), total + sum(sizes),
                        min(sizes) if shortest is None else min(shortest, min(sizes)),
                        max(sizes) if longest is None else max(longest, max(sizes))]

    def _add_kinds(self, kinds: set[str], numbers: list[Any] | None) -> None:
        merged = self.kinds | kinds
        if {"int", "float"} & merged and (numbers is None or column_type(merged) == "string"):
            self.mixed = True
        self.kinds |= kinds
        if column_type(self.kinds) == "string" or numbers is None:
            self.is_string = True
            self.kinds.add("string")
            return
        try:
            total = sum(numbers)
            self._add_numbers(numbers if not isinstance(total, float) or math.isfinite(total)
                              else self._finite(numbers), kinds)
        except OverflowError:  # integers too large for floats: keep the column as text
            self.is_string = True
            self.kinds.add("string")

    def _finite(self, numbers: list[Any]) -> list[Any]:
        finite = [x for x in numbers if math.isfinite(x)]
        if len(finite) < len(numbers):
            positive = sum(1 for x in numbers if x == math.inf)
            self.posinf += positive
            self.neginf += len(numbers) - len(finite) - positive
            self.nonfinite += len(numbers) - len(finite)
        return finite

    def _add_numbers(self, numbers: list[Any], kinds: set[str]) -> None:
        if not numbers:
            return
        lo, hi = min(numbers), max(numbers)
        self.moments.add_batch(numbers, lo, hi)
        if self.kinds != {"bool"}:  # a bool column reports its true rate, not quantiles
            self.sample.add_batch(numbers)
            self.histogram.add_batch(numbers, lo, hi, column_type(kinds))

    def result(self) -> ColumnProfile:
        kind = "string" if self.is_string else column_type(self.kinds)
        col = ColumnProfile(
            name=self.name, type=kind, count=self.count, missing=self.missing,
            distinct=self.distinct.estimate(), distinct_exact=self.distinct.exact,
            top=self.top.most_common(TOP_REPORTED), top_exact=self.top.exact,
            nonfinite=self.nonfinite,
        )
        n, total, shortest, longest = self.lengths
        if kind == "string" and n:
            col.length = {"min": shortest, "mean": total / n, "max": longest}
        elif kind != "string" and (self.moments.n or self.nonfinite):
            self._numeric_result(col)
            if self.nonfinite:
                self._infinite_result(col)
        return col

    def _infinite_result(self, col: ColumnProfile) -> None:
        """inf and -inf as pandas gives them: max inf, min -inf, and the mean inf, -inf or
        nan (inf + -inf); std nan. Quantiles and the histogram cover the finite values."""
        if self.posinf:
            col.max = math.inf
            col.min = math.inf if col.min is None else col.min
        if self.neginf:
            col.min = -math.inf
            col.max = -math.inf if col.max is None else col.max
        col.mean = math.nan if self.posinf and self.neginf else \
            (math.inf if self.posinf else -math.inf)
        col.std = math.nan

    def _numeric_result(self, col: ColumnProfile) -> None:
        m = self.moments
        col.min, col.max, col.mean, col.std = m.min, m.max, m.mean, m.std
        if col.type == "bool" or not m.n:
            return
        col.quantiles = dict(zip(QUANTILES, self.sample.quantiles(QUANTILES.values())))
        col.histogram = self.histogram.result()
