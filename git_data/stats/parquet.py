"""Parquet through pyarrow (the optional ``git-data[stats]`` extra), record batch by record
batch; values go through the same column accumulators as every other table."""

from __future__ import annotations

from typing import Any, BinaryIO

from git_data.stats.columns import DATETIME_RE, ColumnAccumulator
from git_data.stats.model import Profile, StatsError, WarningLog
from git_data.stats.tabular import TableBuilder, unique_names

INSTALL_HINT = "pip install 'git-data[stats]'"


def load_pyarrow() -> Any:
    """``pyarrow.parquet``, or None where pyarrow is not installed."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pq


class _Rows:
    """Rows of a batch built only when the row sample asks for them."""

    def __init__(self, columns: list[Any], n: int) -> None:  # lists or pyarrow arrays
        self.columns = columns
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> list[Any]:
        return [col[i].as_py() if hasattr(col, "type") else col[i] for col in self.columns]


def open_parquet(source: str | BinaryIO, name: str) -> Any:
    pq = load_pyarrow()
    if pq is None:
        raise StatsError(f"{name}: reading Parquet needs pyarrow ({INSTALL_HINT})")
    seekable = getattr(source, "seekable", None)
    if seekable is not None and not seekable():
        raise StatsError(f"{name}: Parquet needs a seekable file (its index is at the end); "
                         "fetch the file first")
    try:
        return pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise StatsError(f"{name}: not a readable Parquet file ({exc}); is it truncated?")\
            from None


def parquet_batches(pf: Any, name: str, batch_rows: int) -> Any:
    """Record batches, turning pyarrow's errors into a StatsError naming the file."""
    rows = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield batch
            rows += batch.num_rows
    except Exception as exc:  # ArrowInvalid, OSError from a corrupt page
        raise StatsError(f"{name}: cannot read Parquet data after {rows:,} rows ({exc}); "
                         "the file may be truncated or corrupt") from None


def profile_parquet(source: str | BinaryIO, name: str, size: int | None,
                    sample_size: int = 10) -> Profile:
    if load_pyarrow() is None:
        return Profile(name=name, kind="file", format="parquet", size=size,
                       warnings=[f"{name}: install pyarrow to profile Parquet columns "
                                 f"({INSTALL_HINT})"])
    pf = open_parquet(source, name)
    flat = flat_columns(pf.schema_arrow.empty_table())
    names = unique_names([n if not _is_list(c.type) else f"len({n})" for n, c in flat])
    builder = TableBuilder(names, sample_size, WarningLog())
    rows: list[list[Any]] = []
    for batch in parquet_batches(pf, name, builder.batch_rows):
        arrays = [c.combine_chunks() if hasattr(c, "combine_chunks") else c
                  for _, c in flat_columns(batch)]
        columns = [_column_values(acc, col) for acc, col in zip(builder.columns, arrays)]
        rows = [c if c is not None else col for c, col in zip(columns, arrays)]
        builder.sample.add_batch(_Rows(rows, batch.num_rows))
        builder.rows += batch.num_rows
    return builder.result(name, "parquet", size)


def flat_columns(data: Any) -> list[tuple[str, Any]]:
    """(name, array) of every leaf column: struct fields become ``a.b`` columns (nested
    ones ``a.b.c``); a list column stays one column, profiled by its lengths."""
    import pyarrow as pa

    out: list[tuple[str, Any]] = []
    for field, column in zip(data.schema, data.columns):
        _flatten_into(out, str(field.name), column, pa)
    return out


def _flatten_into(out: list[tuple[str, Any]], name: str, column: Any, pa: Any) -> None:
    if not pa.types.is_struct(column.type):
        out.append((name, column))
        return
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    for i in range(array.type.num_fields):
        # flatten() folds the struct's own nulls into each child
        child = array.flatten()[i] if hasattr(array, "flatten") else array.field(i)
        _flatten_into(out, f"{name}.{array.type.field(i).name}", child, pa)


def _is_list(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind)
                or pa.types.is_fixed_size_list(kind))


def _column_values(acc: ColumnAccumulator, column: Any) -> list[Any] | None:
    """Feed one column of a batch to its accumulator; integer and floating columns go
    through numpy (no per-value classification), the rest as Python values. Returns the
    Python values where they were made (the row sample reads them)."""
    import pyarrow as pa

    kind = column.type
    if _is_list(kind):  # list columns: statistics of their lengths
        import pyarrow.compute as pc

        lengths = pc.list_value_length(column).drop_null()
        acc.add_numbers(lengths.to_numpy().tolist(), "int", len(column) - len(lengths))
        return None
    if pa.types.is_integer(kind) and column.null_count == 0:
        acc.add_numbers(column.to_numpy().tolist(), "int")
        return None
    if pa.types.is_floating(kind):
        array = column.to_numpy(zero_copy_only=False).astype("float64", copy=False)
        finite = array[array == array]  # NaN and nulls (NaN here) count as missing
        acc.add_numbers(finite.tolist(), "float", len(array) - len(finite))
        return None
    if pa.types.is_boolean(kind):
        flags = column.drop_null().to_numpy(zero_copy_only=False).tolist()
        acc.add_keyed(["true" if f else "false" for f in flags], list(map(int, flags)), "bool",
                      column.null_count)
        return None
    if pa.types.is_date32(kind):
        valid = column.drop_null()
        days = valid.cast(pa.int32()).to_numpy().astype("float64") * 86400.0
        acc.add_keyed(valid.cast(pa.string()).to_pylist(), days.tolist(), "datetime",
                      column.null_count)
        return None
    values = column.to_pylist()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        keys = [v for v in values if v is not None]
        if not (keys and DATETIME_RE.match(keys[0])):  # text that may hold dates: classify
            acc.add_keyed(keys, None, "string", len(values) - len(keys))
            return values
    acc.add_values(values)
    return values
