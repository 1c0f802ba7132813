"""Samples: uniform random rows of a table in one streaming pass (reservoir sampling, the
same rows for the same seed everywhere), and deterministic samples of files chosen by oid."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO, Union

from git_data.stats.files import gc_paused
from git_data.stats.model import StatsError, WarningLog
from git_data.stats.parquet import _Rows, open_parquet, parquet_batches
from git_data.stats.sketches import Reservoir, stable_hash
from git_data.stats.sniff import decoded_lines, detect, display_name, peek
from git_data.stats.tabular import DelimitedReader, flatten, unique_names

Input = Union[BinaryIO, str, "os.PathLike[str]"]
Output = Union[BinaryIO, str, "os.PathLike[str]"]
BATCH = 4096


class _Indexed:
    """A batch seen by the reservoir as (stream position, item) pairs."""

    def __init__(self, items: Sequence[Any], start: int) -> None:
        self.items, self.start = items, start

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Any]:
        return self.start + i, self.items[i]


def _reservoir(batches: Iterable[Sequence[Any]], n: int, seed: int) -> list[Any]:
    reservoir = Reservoir(n, seed)
    with gc_paused():
        for batch in batches:
            reservoir.add_batch(_Indexed(batch, reservoir.seen))
    return [item for _, item in sorted(reservoir.items, key=lambda pair: pair[0])]


def _batches(items: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _json_lines(lines: Iterator[str]) -> Iterator[str]:
    """Lines holding a JSON object; the others are skipped, as the profile skips them."""
    for line in lines:
        try:
            if isinstance(json.loads(line), dict):
                yield line if line.endswith("\n") else line + "\n"
        except (ValueError, RecursionError):
            continue


def _sampled(source: Input, name: str, n: int, seed: int,
             options: Any = None) -> tuple[str, list[str], list[Any]]:
    """(format, header, sampled records): rows for CSV/TSV/Parquet, raw lines for JSONL."""
    if n < 0:
        raise ValueError("sample size must be >= 0")
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as stream:
                return _sampled(stream, name, n, seed, options)
        except OSError as exc:
            raise StatsError(f"{name}: cannot open ({exc.strerror})") from None
    name = display_name(name)
    stream = source
    head, stream, _ = peek(stream)
    fmt = detect(name, head)
    log = WarningLog()
    if options is not None and options.delimiter and fmt == "text":
        fmt = "csv"
    if fmt in ("csv", "tsv"):
        reader = DelimitedReader(decoded_lines(stream, name, log), name, fmt, log,
                                 *([options] if options is not None else []))
        batches: Iterator[Sequence[Any]] = iter(lambda: reader.batch(BATCH), [])
        return fmt, reader.header, _reservoir(batches, n, seed)
    if fmt == "jsonl":
        lines = _json_lines(decoded_lines(stream, name, log))
        return fmt, [], _reservoir(_batches(lines), n, seed)
    if fmt == "parquet":
        pf = open_parquet(stream, name)
        header = unique_names([str(c) for c in pf.schema_arrow.names])
        batches = (_Rows([c.to_pylist() for c in b.columns], b.num_rows)
                   for b in parquet_batches(pf, name, BATCH))
        return fmt, header, _reservoir(batches, n, seed)
    raise StatsError(f"{name}: cannot sample rows of a {fmt} file (CSV, TSV, JSON Lines and "
                     "Parquet only)")


def sample_rows(stream: Input, name: str, n: int,
                seed: int = 0) -> tuple[list[str], list[list[Any]]]:
    """A uniform random sample of ``n`` rows (all rows if there are fewer), in file order,
    read in one pass from a stream or path. JSON Lines objects are flattened (``a.b`` keys);
    absent keys are None."""
    fmt, header, records = _sampled(stream, name, n, seed)
    if fmt != "jsonl":
        return header, records
    objects = [flatten(json.loads(line)) for line in records]
    keys = list(dict.fromkeys(key for obj in objects for key in obj))
    return keys, [[obj.get(key) for key in keys] for obj in objects]


def is_parquet_name(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith((".parquet", ".pq"))


def write_sample(stream: Input, name: str, out: Output, n: int, seed: int = 0, *,
                 parquet: bool | None = None, options: Any = None) -> int:
    """Write a sample of ``n`` rows to ``out`` (a path or binary stream). A path ending in
    ``.parquet``/``.pq`` gets Parquet (typed columns where the values allow, else text);
    otherwise JSON Lines input gives JSON Lines (lines copied unchanged), TSV gives TSV, CSV
    and Parquet give CSV; ``parquet=True`` asks for Parquet on a stream. ``options``
    (TextOptions) say how delimited text is read. Returns the number of rows written."""
    fmt, header, records = _sampled(stream, name, n, seed, options)
    if isinstance(out, (str, os.PathLike)):
        from .. import safeio  # written whole, then renamed into place

        as_parquet = is_parquet_name(out) if parquet is None else parquet
        with safeio.atomic_path(out) as file, open(file.fd, "wb", closefd=False) as target:
            if as_parquet:
                return _write_parquet(target, fmt, header, records)
            return _write(target, fmt, header, records)
    if parquet:
        return _write_parquet(out, fmt, header, records)
    return _write(out, fmt, header, records)


def _write_parquet(out: BinaryIO, fmt: str, header: list[str], records: list[Any]) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise StatsError("writing Parquet needs pyarrow (pip install 'git-data[stats]')")\
            from None
    if fmt == "jsonl":
        objects = [flatten(json.loads(line)) for line in records]
        header = list(dict.fromkeys(key for obj in objects for key in obj))
        records = [[obj.get(key) for key in header] for obj in objects]
    columns = {}
    for i, key in enumerate(header):
        values = [row[i] for row in records]
        if fmt in ("csv", "tsv"):  # text cells: the types a profile would infer
            values = [None if v == "" else v for v in values]
        try:
            array = pa.array(values)
            if fmt in ("csv", "tsv"):
                array = _typed(array)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([None if v is None else str(_cell(v)) for v in values],
                             pa.string())
        columns[key] = array
    pq.write_table(pa.table(columns) if columns else pa.table({}), out)
    return len(records)


def _typed(array: Any) -> Any:
    """A text column as int64, float64 or bool when every value parses, else as text."""
    import pyarrow as pa

    for kind in (pa.int64(), pa.float64(), pa.bool_()):
        try:
            return array.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return array


def _write(out: BinaryIO, fmt: str, header: list[str], records: list[Any]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        if fmt == "jsonl":
            text.writelines(records)
        else:
            writer = csv.writer(text, delimiter="\t" if fmt == "tsv" else ",",
                                lineterminator="\n")
            writer.writerow(header)
            writer.writerows([[_cell(v) for v in row] for row in records])
        text.flush()
    finally:
        text.detach()
    return len(records)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else value


def choose_sample(oids: Iterable[str], fraction: float) -> list[str]:
    """The oids whose 64-bit hash falls below ``fraction`` of the hash range: the same
    choice on every machine, in input order, without duplicates. A larger fraction always
    keeps every oid a smaller one kept."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    limit = int(fraction * 2**64)
    chosen = dict.fromkeys(oid for oid in oids if stable_hash(oid) < limit)
    return list(chosen)
