"""Profiles of CSV, TSV and JSON Lines data generated here, and of broken input."""

from __future__ import annotations

import gzip
import io
import json
import random
import statistics
from datetime import datetime, timezone

import pytest
from conftest import OneWay as _OneWay

from git_data.stats import Profile, StatsError, profile
from git_data.stats import tabular as tabular_module


def OneWay(data: bytes) -> io.RawIOBase:  # noqa: N802  (reads of 7919 bytes)
    return _OneWay(data, chunk=7919)


def to_csv(header: list[str], rows: list[list[object]], sep: str = ",") -> bytes:
    lines = [sep.join(header)] + [sep.join("" if v is None else str(v) for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def people() -> tuple[bytes, dict[str, list]]:
    rng = random.Random(42)
    n = 30_000
    cols: dict[str, list] = {
        "id": list(range(1, n + 1)),
        "height": [round(rng.gauss(170.0, 10.0), 3) for _ in range(n)],
        "age": [rng.randint(18, 90) if i % 20 else None for i in range(n)],
        "city": [rng.choice(["Paris", "Lyon", "Nice", "Lille"]) for _ in range(n)],
        "member": [rng.choice(["true", "false"]) for _ in range(n)],
        "joined": [f"2021-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" for _ in range(n)],
        "email": [f"user{rng.randrange(10**9)}@example.org" for _ in range(n)],
    }
    rows = [list(r) for r in zip(*cols.values())]
    return to_csv(list(cols), rows), cols


def test_csv_columns_types_and_statistics(people) -> None:
    data, cols = people
    p = profile(io.BytesIO(data), "data/people.csv")
    assert (p.kind, p.format, p.rows, p.size) == ("table", "csv", 30_000, len(data))
    assert p.column_names == list(cols)
    types = {c.name: c.type for c in p.columns}
    assert types == {"id": "int", "height": "float", "age": "int", "city": "string",
                     "member": "bool", "joined": "datetime", "email": "string"}
    height = p.column("height")
    assert height.mean == pytest.approx(statistics.fmean(cols["height"]), rel=1e-9)
    assert height.std == pytest.approx(statistics.stdev(cols["height"]), rel=1e-9)
    assert (height.min, height.max) == (min(cols["height"]), max(cols["height"]))
    assert height.quantiles["p50"] == pytest.approx(statistics.median(cols["height"]), abs=0.5)
    assert height.quantiles["p5"] == pytest.approx(170 - 1.645 * 10, abs=1.0)
    assert sum(height.histogram.counts) == 30_000
    ages = [a for a in cols["age"] if a is not None]
    age = p.column("age")
    assert (age.count, age.missing, age.min, age.max) == (len(ages), 1500, 18, 90)
    assert age.missing_rate == pytest.approx(0.05)
    assert age.distinct == 73 and age.distinct_exact


def test_csv_distinct_top_values_and_lengths(people) -> None:
    data, cols = people
    p = profile(io.BytesIO(data), "people.csv")
    city = p.column("city")
    assert city.distinct == 4 and city.top_exact
    assert dict(map(tuple, city.top)) == dict(statistics_counter(cols["city"]))
    assert city.length == {"min": 4, "mean": pytest.approx(
        statistics.fmean(map(len, cols["city"]))), "max": 5}
    email = p.column("email")
    assert not email.distinct_exact
    assert email.distinct == pytest.approx(len(set(cols["email"])), rel=0.05)
    member = p.column("member")
    assert member.mean == pytest.approx(cols["member"].count("true") / 30_000)
    joined = p.column("joined")
    assert joined.min == datetime(2021, 1, 1, tzinfo=timezone.utc).timestamp()
    assert joined.max <= datetime(2021, 12, 28, tzinfo=timezone.utc).timestamp()
    assert joined.histogram.width % 86400 == 0


def statistics_counter(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def test_same_profile_from_non_seekable_stream_and_path(people, tmp_path) -> None:
    data, _ = people
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    from_bytes = profile(io.BytesIO(data), "people.csv")
    from_stream = profile(io.BufferedReader(OneWay(data)), "people.csv")
    from_path = profile(path)
    assert from_stream.to_json() == from_bytes.to_json() == from_path.to_json()
    assert from_stream.size == len(data)


def test_profile_json_is_small_stable_and_round_trips(people, tmp_path) -> None:
    data, _ = people
    p = profile(io.BytesIO(data), str(tmp_path / "people.csv"))
    text = p.to_json()
    assert p.name == "people.csv"  # absolute paths are reduced to the file name
    assert str(tmp_path) not in text
    assert len(text) < 20_000
    assert json.loads(text)["version"] == 1
    again = Profile.from_json(text)
    assert again == p and again.to_json() == text
    assert profile(io.BytesIO(data), "people.csv").to_json() == text


def test_profile_json_from_a_newer_version_is_refused() -> None:
    with pytest.raises(StatsError, match="newer"):
        Profile.from_json('{"kind": "table", "name": "x", "format": "csv", "version": 99}')
    with pytest.raises(StatsError, match="not a profile"):
        Profile.from_json("[1, 2]")


def test_tsv_semicolons_bom_and_crlf() -> None:
    rows = [[i, i * 0.5, f"n{i}"] for i in range(100)]
    tsv = profile(io.BytesIO(to_csv(["a", "b", "c"], rows, "\t")), "t.tsv")
    assert tsv.format == "tsv" and tsv.column_names == ["a", "b", "c"]
    assert tsv.column("b").mean == pytest.approx(24.75)
    semi = b"\xef\xbb\xbfa;b\r\n1;x\r\n2;y\r\n"
    p = profile(io.BytesIO(semi), "semi.csv")
    assert p.column_names == ["a", "b"] and p.rows == 2
    assert p.column("a").type == "int" and p.column("b").top == [["x", 1], ["y", 1]]


def test_quoted_fields_with_newlines_and_delimiters() -> None:
    data = b'id,text\n1,"hello, world"\n2,"two\nlines"\n3,plain\n'
    p = profile(io.BytesIO(data), "q.csv")
    assert p.rows == 3 and not p.warnings
    assert {v for v, _ in p.column("text").top} == {"hello, world", "two\nlines", "plain"}


def test_ragged_rows_warn_with_line_numbers_and_keep_other_columns() -> None:
    lines = ["a,b,c"] + [f"{i},{i * 2},{i * 3}" for i in range(1, 11)]
    lines[4] = "4,8"  # line 5 of the file: too short
    lines[7] = "7,14,21,99"  # line 8: too long
    p = profile(io.BytesIO(("\n".join(lines) + "\n").encode()), "r.csv")
    assert p.rows == 10
    assert any("r.csv: line 5: ragged row with 2 fields, expected 3" in w for w in p.warnings)
    assert any("r.csv: line 8: ragged row with 4 fields, expected 3" in w for w in p.warnings)
    assert p.column("a").count == 10 and p.column("a").mean == pytest.approx(5.5)
    assert p.column("c").missing == 1 and p.column("c").count == 9


def test_unbalanced_quote_is_reported_and_skipped() -> None:
    data = b'id,name\n1,ok\n2,"broken\n3,fine\n4,"closed" here\n5,last\n'
    p = profile(io.BytesIO(data), "bad.csv")
    assert any(w.startswith("bad.csv: lines 3-5: malformed CSV record") and
               "unbalanced quote on line 3" in w for w in p.warnings), p.warnings
    assert p.rows == 2  # rows 1 and 5 survive
    assert [int(v) for v, _ in p.column("id").top] == [1, 5]


def test_quote_left_open_at_end_of_file() -> None:
    p = profile(io.BytesIO(b'a,b\n1,2\n3,"never closed\n'), "eof.csv")
    assert p.rows == 1
    assert any("eof.csv: line 3" in w and "malformed" in w for w in p.warnings), p.warnings


def test_non_utf8_lines_are_named_and_replaced() -> None:
    data = "name,n\nZoë,1\n".encode() + "Zoë,2\n".encode("latin-1") + b"Al,3\n"
    p = profile(io.BytesIO(data), "enc.csv")
    assert p.rows == 3
    assert p.warnings == ["enc.csv: line 3: not valid UTF-8 (byte 0xeb at column 3); "
                          "undecodable bytes replaced with U+FFFD"]
    assert "Zo\ufffd" in {v for v, _ in p.column("name").top}


def test_empty_file_header_only_and_headerless() -> None:
    empty = profile(io.BytesIO(b""), "empty.csv")
    assert empty.kind == "table" and empty.rows == 0 and empty.columns == []
    assert empty.warnings == ["empty.csv: empty file: no header and no rows"]
    header_only = profile(io.BytesIO(b"a,b\n"), "h.csv")
    assert header_only.rows == 0 and [c.type for c in header_only.columns] == ["empty"] * 2
    headerless = profile(io.BytesIO(b"1,2.5\n3,4.5\n"), "n.csv")
    assert headerless.column_names == ["column_1", "column_2"] and headerless.rows == 2
    assert any("looks like data" in w for w in headerless.warnings)
    dupes = profile(io.BytesIO(b"x,x,,y\n1,2,3,4\n"), "d.csv")
    assert dupes.column_names == ["x", "x.1", "column_3", "y"]


def test_mixed_values_make_a_string_column_and_numbers_widen() -> None:
    data = to_csv(["mixed", "widen", "inf"], [[1, 1, 1.5], [2, 2.5, "inf"], ["three", 3, 2.5]])
    p = profile(io.BytesIO(data), "m.csv")
    assert [c.type for c in p.columns] == ["string", "float", "float"]
    assert p.column("widen").mean == pytest.approx(6.5 / 3)
    inf = p.column("inf")
    # inf is kept where pandas keeps it (max, mean); quantiles cover the finite values
    assert inf.nonfinite == 1 and inf.count == 3 and inf.mean == inf.max == float("inf")
    assert inf.min == 1.5 and inf.quantiles["p50"] == pytest.approx(2.0)


def test_many_warnings_are_capped() -> None:
    lines = ["a,b"] + ["1"] * 500
    p = profile(io.BytesIO("\n".join(lines).encode()), "many.csv")
    assert len(p.warnings) == 51 and p.warnings[-1] == "... and 450 more warnings"
    assert p.rows == 500


def test_too_many_columns_are_cut(monkeypatch) -> None:
    monkeypatch.setattr(tabular_module, "MAX_COLUMNS", 3)
    p = profile(io.BytesIO(b"a,b,c,d,e\n1,2,3,4,5\n6,7,8,9,10\n"), "wide.csv")
    assert p.column_names == ["a", "b", "c"] and p.rows == 2 and not [
        w for w in p.warnings if "ragged" in w]
    assert any("5 columns; only the first 3" in w for w in p.warnings)


def test_gzip_csv_is_profiled_through_the_decompressor() -> None:
    raw = to_csv(["x"], [[i] for i in range(1000)])
    p = profile(io.BytesIO(gzip.compress(raw)), "x.csv.gz")
    assert p.format == "csv.gz" and p.rows == 1000
    assert p.column("x").mean == pytest.approx(499.5)
    cut = gzip.compress(raw)[:-200]
    partial = profile(io.BytesIO(cut), "x.csv.gz")
    assert any("truncated or corrupt" in w for w in partial.warnings)


def test_jsonl_nested_keys_late_columns_and_bad_lines() -> None:
    records = [{"id": i, "score": i / 10, "meta": {"source": "a" if i % 2 else "b"}}
               for i in range(200)]
    records[150]["late"] = "x"
    lines = [json.dumps(r) for r in records]
    lines.insert(10, "{not json")
    lines.insert(20, "[1, 2]")
    lines.insert(30, "")
    p = profile(io.BytesIO(("\n".join(lines) + "\n").encode()), "events.jsonl")
    assert p.format == "jsonl" and p.rows == 200
    assert p.column_names == ["id", "score", "meta.source", "late"]
    assert p.column("score").mean == pytest.approx(statistics.fmean(r["score"] for r in records))
    late = p.column("late")
    assert (late.count, late.missing) == (1, 199)
    assert p.column("meta.source").distinct == 2
    assert any("events.jsonl: line 11: invalid JSON" in w for w in p.warnings), p.warnings
    assert any("events.jsonl: line 21: expected a JSON object, found list" in w
               for w in p.warnings)


def test_jsonl_types_nulls_and_nested_lists() -> None:
    lines = [{"when": "2022-03-04T05:06:07Z", "ok": True, "n": None, "tags": ["a", "b"]},
             {"when": "2022-03-05T05:06:07Z", "ok": False, "n": 3, "tags": []}]
    data = "\n".join(json.dumps(r) for r in lines).encode()
    p = profile(io.BytesIO(data), "t.ndjson")
    types = {c.name: c.type for c in p.columns}
    assert types == {"when": "datetime", "ok": "bool", "n": "int", "tags": "string"}
    assert p.column("n").missing == 1
    assert p.column("when").min == datetime(2022, 3, 4, 5, 6, 7,
                                            tzinfo=timezone.utc).timestamp()


def test_format_sniffed_from_content_without_extension() -> None:
    assert profile(io.BytesIO(b"a,b\n1,2\n3,4\n"), "noext").format == "csv"
    assert profile(io.BytesIO(b'{"a": 1}\n{"a": 2}\n'), "noext").format == "jsonl"
    binary = profile(io.BytesIO(b"PK\x03\x04" + bytes(100)), "model.bin")
    assert (binary.kind, binary.format, binary.size) == ("file", "zip", 104)
    text = profile(io.BufferedReader(OneWay(b"just some words\n" * 10)), "notes")
    assert (text.kind, text.format, text.size) == ("file", "text", 160)


def test_utf16_table_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="u16.csv: UTF-16"):
        profile(io.BytesIO("a,b\n1,2\n".encode("utf-16")), "u16.csv")


def test_missing_path_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(StatsError, match="cannot open"):
        profile(tmp_path / "nope.csv")
