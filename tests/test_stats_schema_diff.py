"""Schemas inferred from profiles, validation anomalies, and diffs between versions."""

from __future__ import annotations

import io
import random

import pytest

from git_data.stats import Schema, StatsError, diff_profiles, infer_schema, profile, validate


def table(n: int, seed: int = 1, *, shift: float = 0.0, colors=("red", "green", "blue"),
          missing_every: int = 0, age_max: int = 80, extra: bool = False,
          drop_score: bool = False, score_text: bool = False) -> bytes:
    rng = random.Random(seed)
    header = ["id", "age", "color", "score", "when"] + (["extra"] if extra else [])
    if drop_score:
        header.remove("score")
    lines = [",".join(header)]
    for i in range(n):
        row = {"id": str(i), "age": str(rng.randint(18, age_max)), "color": rng.choice(colors),
               "score": "oops" if score_text and i == 3 else f"{rng.gauss(50 + shift, 5):.4f}",
               "when": f"2023-05-{rng.randint(1, 30):02d}", "extra": str(rng.random())}
        if missing_every and i % missing_every == 0:
            row["color"] = ""
        lines.append(",".join(row[h] for h in header))
    return ("\n".join(lines) + "\n").encode()


def prof(data: bytes):
    return profile(io.BytesIO(data), "data/t.csv")


@pytest.fixture(scope="module")
def base():
    return prof(table(5000))


def test_inferred_schema_describes_the_data(base) -> None:
    schema = infer_schema(base)
    cols = {c.name: c for c in schema.columns}
    assert [c.name for c in schema.columns] == ["id", "age", "color", "score", "when"]
    assert cols["age"].type == "int" and (cols["age"].min, cols["age"].max) == (18, 80)
    assert cols["color"].values == ["blue", "green", "red"]
    assert cols["id"].values is None and cols["score"].values is None
    assert cols["when"].min == "2023-05-01" and cols["when"].max == "2023-05-30"
    assert all(c.required and c.max_missing_rate == 0 for c in schema.columns)
    again = Schema.from_json(schema.to_json())
    assert again == schema
    assert validate(base, again) == []


def test_validation_names_each_problem_in_one_line(base) -> None:
    schema = infer_schema(base)
    changed = prof(table(5000, seed=2, colors=("red", "green", "blue", "purple"),
                         missing_every=50, age_max=130, extra=True, drop_score=True))
    anomalies = validate(changed, schema)
    messages = [str(a) for a in anomalies]
    assert {a.kind for a in anomalies} == {"missing_column", "new_column", "range", "missing",
                                           "values"}
    assert "column 'score' is missing from the data" in messages
    assert "column 'extra' is not in the schema (new column of type float)" in messages
    assert any(m.startswith("column 'age': maximum 1") and "above the allowed maximum 80" in m
               for m in messages)
    assert "column 'color': 100 missing values (2.00%) in a required column" in messages
    assert any(m.startswith("column 'color': unexpected values 'purple' (") for m in messages)
    assert all("\n" not in m and m.startswith("column '") for m in messages)


def test_type_change_and_missing_rate_above_saved(base) -> None:
    schema = infer_schema(prof(table(5000, missing_every=100)))
    color = schema.column("color")
    assert not color.required and color.max_missing_rate == pytest.approx(0.01)
    worse = prof(table(5000, missing_every=20, score_text=True))
    messages = [str(a) for a in validate(worse, schema)]
    assert "column 'color': 5.00% of values missing, above the allowed 1.00%" in messages
    assert "column 'score': type changed from float to string" in messages


def test_datetime_range_and_int_widening_to_float_is_fine(base) -> None:
    schema = infer_schema(base)
    schema.column("when").max = "2023-05-15"
    schema.column("age").type = "float"
    messages = [str(a) for a in validate(base, schema)]
    assert messages == ["column 'when': maximum 2023-05-30 is above the allowed maximum "
                        "2023-05-15"]


def test_schema_json_errors_are_clear() -> None:
    with pytest.raises(StatsError, match="not a schema"):
        Schema.from_json('{"columns": [{"nope": 1}]}')


def test_diff_reports_rows_columns_and_shifts(base) -> None:
    new = prof(table(6000, seed=3, shift=5.0, missing_every=10, extra=True,
                     colors=("red", "green", "blue", "purple")))
    diff = diff_profiles(base, new)
    assert (diff.old_rows, diff.new_rows, diff.row_delta) == (5000, 6000, 1000)
    assert diff.added == [("extra", "float")] and diff.removed == [] and diff.retyped == []
    shifted = {(s.column, s.statistic) for s in diff.shifts}
    assert ("score", "mean") in shifted and ("color", "missing") in shifted
    assert ("color", "values") in shifted and ("age", "mean") not in shifted
    score = diff.shifted("score", "mean")
    assert score.note.startswith("+1.") and score.note.endswith("std")
    text = diff.render()
    assert "rows: 5,000 -> 6,000 (+1,000, +20.0%)" in text
    assert "columns added: extra (float)" in text
    assert "new 'purple'" in text


def test_diff_of_identical_profiles_is_empty_and_retyping_is_shown(base) -> None:
    same = diff_profiles(base, base)
    assert not same.changed
    assert "no differences" in str(same)
    retyped = diff_profiles(base, prof(table(5000, score_text=True)))
    assert retyped.retyped == [("score", "float", "string")]
    assert "columns retyped: score: float -> string" in retyped.render()
