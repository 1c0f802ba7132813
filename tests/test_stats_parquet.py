"""Parquet profiles through pyarrow (the optional ``git-data[stats]`` extra)."""

from __future__ import annotations

import io
import random
import statistics
from datetime import date, datetime, timezone

import pytest
from conftest import OneWay

from git_data.stats import StatsError, profile, sample_rows, write_sample

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")




@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory) -> tuple[bytes, dict[str, list]]:
    rng = random.Random(9)
    n = 20_000
    cols = {
        "id": list(range(n)),
        "price": [round(rng.lognormvariate(3, 0.5), 2) if i % 25 else None for i in range(n)],
        "label": [rng.choice(["cat", "dog", "bird"]) for _ in range(n)],
        "ok": [rng.random() < 0.3 for _ in range(n)],
        "at": [datetime(2024, 1, 1, tzinfo=timezone.utc).replace(hour=rng.randint(0, 23))
               for _ in range(n)],
        "day": [date(2024, 2, rng.randint(1, 29)) for _ in range(n)],
    }
    out = io.BytesIO()
    pq.write_table(pa.table(cols), out, row_group_size=3000)
    return out.getvalue(), cols


def test_parquet_types_and_statistics(parquet_file) -> None:
    data, cols = parquet_file
    p = profile(io.BytesIO(data), "shop/items.parquet")
    assert (p.kind, p.format, p.rows, p.size) == ("table", "parquet", 20_000, len(data))
    assert {c.name: c.type for c in p.columns} == {
        "id": "int", "price": "float", "label": "string", "ok": "bool", "at": "datetime",
        "day": "datetime"}
    prices = [x for x in cols["price"] if x is not None]
    price = p.column("price")
    assert (price.count, price.missing) == (len(prices), 800)
    assert price.mean == pytest.approx(statistics.fmean(prices), rel=1e-9)
    assert price.std == pytest.approx(statistics.stdev(prices), rel=1e-9)
    assert p.column("ok").mean == pytest.approx(sum(cols["ok"]) / 20_000)
    assert p.column("label").distinct == 3
    assert p.column("day").min == datetime(2024, 2, 1, tzinfo=timezone.utc).timestamp()
    assert len(p.sample["rows"]) == 10 and p.sample["header"][0] == "id"


def test_parquet_matches_the_same_data_as_csv(parquet_file) -> None:
    data, cols = parquet_file
    csv_text = "id,label\n" + "".join(f"{i},{lab}\n" for i, lab in zip(cols["id"], cols["label"]))
    from_csv = profile(io.BytesIO(csv_text.encode()), "items.csv")
    from_parquet = profile(io.BytesIO(data), "items.parquet")
    for name in ("id", "label"):
        a, b = from_csv.column(name), from_parquet.column(name)
        assert (a.type, a.count, a.distinct, a.mean, a.std, a.top) == (
            b.type, b.count, b.distinct, b.mean, b.std, b.top)


def test_parquet_from_a_path(parquet_file, tmp_path) -> None:
    data, _ = parquet_file
    path = tmp_path / "items.parquet"
    path.write_bytes(data)
    assert profile(path).to_json() == profile(io.BytesIO(data), "items.parquet").to_json()


def test_truncated_parquet_is_a_stats_error(parquet_file) -> None:
    data, _ = parquet_file
    with pytest.raises(StatsError, match=r"cut.parquet: not a readable Parquet file .*"
                                         r"truncated"):
        profile(io.BytesIO(data[: len(data) // 2]), "cut.parquet")


def test_corrupt_page_is_a_stats_error(parquet_file) -> None:
    data, _ = parquet_file
    broken = bytearray(data)
    broken[200:4000] = bytes(3800)
    with pytest.raises(StatsError, match="broken.parquet"):
        profile(io.BytesIO(bytes(broken)), "broken.parquet")


def test_parquet_needs_a_seekable_stream(parquet_file) -> None:
    data, _ = parquet_file
    with pytest.raises(StatsError, match="needs a seekable file"):
        profile(io.BufferedReader(OneWay(data)), "items.parquet")


def test_parquet_sample_rows_and_csv_output(parquet_file) -> None:
    data, cols = parquet_file
    header, rows = sample_rows(io.BytesIO(data), "items.parquet", 50, seed=4)
    assert header == list(cols) and len(rows) == 50
    assert all(cols["label"][r[0]] == r[2] for r in rows)
    out = io.BytesIO()
    assert write_sample(io.BytesIO(data), "items.parquet", out, 50, seed=4) == 50
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == ",".join(cols) and len(lines) == 51
