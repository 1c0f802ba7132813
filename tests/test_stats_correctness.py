"""Profiles that were found wrong: exact top counts past 1,024 distinct values, values
counted by what they mean rather than how they are spelt, and input that used to be
profiled as garbage."""

from __future__ import annotations

import io
import random
from collections import Counter

import pytest

from git_data.stats import StatsError, profile, write_sample


def airports_like(rows: int = 3376, seed: int = 7) -> tuple[bytes, Counter, Counter]:
    """Shaped like vega_datasets' airports: ~3,000 distinct names and ~2,000 cities, a
    few of which repeat (Municipal, Regional...), in a 3,376-row file."""
    rng = random.Random(seed)
    common_names = ["Municipal", "County", "Regional", "Memorial Field"]
    common_cities = ["Houston", "Columbus", "Jackson", "Springfield", "Greenville"]
    names, cities = [], []
    for i in range(rows):
        names.append(rng.choice(common_names) if rng.random() < 0.08 else f"Airport {i}")
        cities.append(rng.choice(common_cities) if rng.random() < 0.05
                      else f"City {rng.randrange(2000)}")
    lines = ["iata,name,city"] + [f"A{i},{n},{c}" for i, (n, c) in enumerate(zip(names,
                                                                                 cities))]
    return ("\n".join(lines) + "\n").encode(), Counter(names), Counter(cities)


def test_top_counts_exact_with_more_than_1024_distinct_values() -> None:
    data, names, cities = airports_like()
    assert len(names) > 1024 and len(cities) > 1024
    p = profile(io.BytesIO(data), "airports.csv")
    for col, truth in (("name", names), ("city", cities)):
        c = p.column(col)
        assert c.top_exact and c.distinct_exact and c.distinct == len(truth)
        top = dict(map(tuple, c.top[:4]))
        assert top == {k: truth[k] for k in top}
        assert c.top[0][1] == truth.most_common(1)[0][1]


def test_numbers_counted_by_value_not_spelling() -> None:
    data = (b"x,when\n1,2024-01-01T12:00:00Z\n1.0,2024-01-01T13:00:00+01:00\n"
            b"01,2024-01-01T07:00:00-05:00\n2.5,2024-01-02T00:00:00Z\n")
    p = profile(io.BytesIO(data), "t.csv")
    x, when = p.column("x"), p.column("when")
    assert x.type == "float" and x.distinct == 2 and x.top[0] == ["1", 3]
    assert when.type == "datetime" and when.distinct == 2 and when.top[0][1] == 3


def test_mixed_numbers_and_text_gives_a_note() -> None:
    rows = "\n".join(str(i) for i in range(100))
    p = profile(io.BytesIO(f"code\n{rows}\nN/A\nabc\n".encode()), "m.csv")
    assert p.column("code").type == "string"
    assert any("'code' mixes numbers and text" in w for w in p.warnings)
    clean = profile(io.BytesIO(f"code\n{rows}\n".encode()), "c.csv")
    assert not clean.warnings


def test_utf16_without_bom_is_refused_in_one_line() -> None:
    data = "name,age\nAda,36\nAlan,41\n".encode("utf-16-le")
    with pytest.raises(StatsError, match=r"u\.csv: looks like UTF-16LE text without a byte"):
        profile(io.BytesIO(data), "u.csv")
    with pytest.raises(StatsError, match="UTF-16BE"):
        profile(io.BytesIO("name,age\nAda,36\n".encode("utf-16-be")), "u.csv")


def test_non_parquet_named_parquet_is_an_error() -> None:
    with pytest.raises(StatsError, match=r"fake\.parquet: not a Parquet file"):
        profile(io.BytesIO(b"a,b\n1,2\n"), "fake.parquet")


def test_sample_to_parquet_path_writes_parquet(tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    data = b"id,score,name\n" + b"".join(f"{i},{i / 2},n{i}\n".encode() for i in range(50))
    out = tmp_path / "x.parquet"
    assert write_sample(io.BytesIO(data), "d.csv", str(out), 10) == 10
    assert out.read_bytes()[:4] == b"PAR1"
    table = pq.read_table(out)
    assert table.num_rows == 10 and table.column_names == ["id", "score", "name"]
    assert str(table.schema.field("id").type) == "int64"
    assert str(table.schema.field("score").type) == "double"


def test_every_column_of_a_wide_table_is_profiled() -> None:
    width, rows = 6000, 30
    header = ",".join(f"c{i}" for i in range(width))
    body = "\n".join(",".join(str(r * i % 7) for i in range(width)) for r in range(rows))
    p = profile(io.BytesIO(f"{header}\n{body}\n".encode()), "wide.csv")
    assert len(p.columns) == width and p.rows == rows
    assert not any("only the first" in w for w in p.warnings)
    last = p.column(f"c{width - 1}")
    assert last.type == "int" and last.count == rows
    assert last.distinct == len({r * (width - 1) % 7 for r in range(rows)})


def test_inf_and_minus_inf_kept_in_text_html_and_json() -> None:
    import math

    from git_data.stats import Profile, render_html, render_text

    p = profile(io.BytesIO(b"x,y\ninf,1\n-inf,2\nnan,3\n5,inf\n"), "inf.csv")
    x, y = p.column("x"), p.column("y")
    # as pandas gives them: NaN is missing, max inf, min -inf, mean inf + -inf = nan
    assert (x.count, x.missing, x.nonfinite) == (3, 1, 2)
    assert x.max == math.inf and x.min == -math.inf and math.isnan(x.mean)
    assert (y.min, y.max, y.mean) == (1, math.inf, math.inf)
    assert p.to_dict()["version"] == 2 and p.to_dict()["columns"][0]["min"] == "-inf"
    assert profile(io.BytesIO(b"x\n1\n"), "f.csv").to_dict()["version"] == 1
    again = Profile.from_json(p.to_json())
    assert again.column("x").min == -math.inf and math.isnan(again.column("x").mean)
    text = render_text(p)
    line = next(row for row in text.splitlines() if row.split()[:1] == ["x"])
    assert "-inf" in line.split() and "inf" in line.split() and "nan" in line.split()
    page = render_html(p)
    assert ">-inf<" in page and ">inf<" in page


def test_parquet_structs_flattened_and_lists_profiled_by_length(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({
        "id": [1, 2, 3, 4],
        "meta": [{"src": "a", "pos": {"x": 1.5}}, {"src": "b", "pos": {"x": 2.5}},
                 {"src": "a", "pos": None}, None],
        "tags": [["x", "y"], [], None, ["z"]],
    })
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    p = profile(str(path))
    assert p.column_names == ["id", "meta.src", "meta.pos.x", "len(tags)"]
    src = p.column("meta.src")
    assert src.type == "string" and src.missing == 1 and src.top[0] == ["a", 2]
    x = p.column("meta.pos.x")
    assert x.type == "float" and x.count == 2 and x.mean == pytest.approx(2.0)
    tags = p.column("len(tags)")
    assert tags.type == "int" and tags.count == 3 and tags.missing == 1
    assert (tags.min, tags.max) == (0, 2)


def test_reading_options_delimiter_header_and_missing_tokens() -> None:
    from git_data.stats import MISSING_TOKENS, TextOptions

    # pandas.read_csv's default na_values, no more and no fewer
    assert {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "<NA>",
            "-nan", "1.#QNAN"} <= MISSING_TOKENS and "none" not in MISSING_TOKENS
    data = b"5.1;3.5;?\n4.9;3.0;setosa\n4.7;-;setosa\n"
    p = profile(io.BytesIO(data), "iris.csv",
                options=TextOptions(";", False, MISSING_TOKENS | {"?", "-"}))
    assert p.column_names == ["column_1", "column_2", "column_3"] and p.rows == 3
    assert p.column("column_2").type == "float" and p.column("column_2").missing == 1
    assert p.column("column_3").missing == 1 and not p.warnings
    # a line of text read as data: --no-header keeps line 1 as a row
    p = profile(io.BytesIO(b"a,b\nc,d\n"), "h.csv", options=TextOptions(header=False))
    assert p.rows == 2 and p.column("column_1").top == [["a", 1], ["c", 1]]


def test_parquet_typed_columns_match_the_same_table_as_csv(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import datetime as dt

    rng = random.Random(3)
    n = 2000
    cols = {"i": [rng.randrange(50) for _ in range(n)],
            "f": [rng.choice([1.0, 2.5, float("nan"), None, 7.25]) for _ in range(n)],
            "b": [rng.choice([True, False, None]) for _ in range(n)],
            "d": [dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(30)) for _ in range(n)],
            "s": [rng.choice(["x", "y", None]) for _ in range(n)]}
    pq.write_table(pa.table(cols), tmp_path / "t.parquet")
    text = {"i": map(str, cols["i"]),
            "f": ("" if v is None or v != v else repr(v) for v in cols["f"]),
            "b": ("" if v is None else str(v).lower() for v in cols["b"]),
            "d": (v.isoformat() for v in cols["d"]), "s": (v or "" for v in cols["s"])}
    rows = zip(*text.values())
    (tmp_path / "t.csv").write_text("i,f,b,d,s\n" + "".join(",".join(r) + "\n" for r in rows))
    a, b = profile(str(tmp_path / "t.parquet")), profile(str(tmp_path / "t.csv"))
    for name in cols:
        x, y = a.column(name), b.column(name)
        assert (x.type, x.count, x.missing, x.distinct, x.top, x.min, x.max) == (
            y.type, y.count, y.missing, y.distinct, y.top, y.min, y.max), name
        assert x.mean == pytest.approx(y.mean) if x.mean is not None else y.mean is None
