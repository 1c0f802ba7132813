"""Parquet through pyarrow (the optional ``git-data[stats]`` extra), record batch by record
batch; values go through the same column accumulators as every other table."""

from __future__ import annotations

from typing import Any, BinaryIO

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

    def __init__(self, columns: list[list[Any]], n: int) -> None:
        self.columns = columns
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> list[Any]:
        return [col[i] for col in self.columns]


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
    names = unique_names([str(n) for n in pf.schema_arrow.names])
    builder = TableBuilder(names, sample_size, WarningLog())
    for batch in parquet_batches(pf, name, builder.batch_rows):
        columns = [col.to_pylist() for col in batch.columns]
        builder.add_value_columns(columns, _Rows(columns, batch.num_rows))
    return builder.result(name, "parquet", size)
