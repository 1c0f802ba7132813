"""Text and HTML views of profiles; the HTML page is also rendered in headless Chromium."""

from __future__ import annotations

import io
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from git_data.stats import Profile, profile, render_html, render_text, sample_rows
from git_data.stats.render_html import rebin

COLUMNS = ["user_id", "height_cm", "city", "signup", "active", "comment"]


def people_csv(n: int, seed: int, shift: float = 0.0, extra: bool = False) -> bytes:
    rng = random.Random(seed)
    header = COLUMNS + (["loyalty"] if extra else [])
    lines = [",".join(header)]
    for i in range(n):
        row = [str(i), f"{rng.gauss(170 + shift, 9):.1f}", rng.choice(["Oslo", "Rome", "Lima"]),
               f"2022-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
               rng.choice(["true", "false"]), "" if i % 7 else f'"said ""hi"", {i}"']
        if extra:
            row.append(str(rng.randint(0, 5)))
        lines.append(",".join(row))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def old() -> Profile:
    return profile(io.BytesIO(people_csv(3000, 1)), "data/people.csv")


@pytest.fixture(scope="module")
def new() -> Profile:
    return profile(io.BytesIO(people_csv(3600, 2, shift=6.0, extra=True)), "data/people.csv")


def test_text_table_is_aligned_with_sparklines(old) -> None:
    text = render_text(old)
    lines = text.splitlines()
    assert lines[0] == f"data/people.csv — csv, {old.size / 1000:.1f} KB, 3,000 rows × 6 columns"
    header = lines[2]
    assert header.split() == ["column", "type", "missing", "distinct", "mean", "std", "min",
                              "median", "max", "distribution"]
    rows = {line.split()[0]: line for line in lines[3:9]}
    assert set(rows) == set(COLUMNS)
    assert re.search(r"[▁▂▃▄▅▆▇█]{5,}", rows["height_cm"])
    assert "Oslo" in rows["city"] and "%" in rows["city"]
    assert "85.7%" in rows["comment"]  # 6 of 7 comments are empty
    assert "all values distinct (429)" in rows["comment"]
    starts = {line.index(line.split()[1]) for line in lines[3:9]}
    assert len(starts) == 1  # the type column is aligned
    assert "2022-01-01" in rows["signup"] and "days" in rows["signup"]


def test_text_shows_warnings() -> None:
    p = profile(io.BytesIO(b"a,b\n1,2\n3\n"), "w.csv")
    assert render_text(p).rstrip().endswith("w.csv: line 3: ragged row with 1 fields, expected "
                                            "2; missing fields counted as missing")


def test_html_is_self_contained_and_escaped() -> None:
    data = b'<b>name</b>,x\n"<script>alert(1)</script>",1\nok,2\n'
    page = render_html(profile(io.BytesIO(data), "evil<>.csv"))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;name&lt;/b&gt;" in page and "evil&lt;&gt;.csv" in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "@import" not in page and "url(" not in page


def test_html_has_a_chart_per_column_and_sample_rows(old) -> None:
    page = render_html(old)
    for name in COLUMNS:
        assert f'<div class="name">{name}</div>' in page
    assert page.count("<svg") == len(COLUMNS) - 1  # comments are all distinct: no chart
    assert "all values distinct" in page
    assert "Sample rows (10)" in page
    header, rows = sample_rows(io.BytesIO(people_csv(3000, 1)), "people.csv", 3, seed=1)
    custom = render_html(old, sample_rows=(header, rows))
    assert "Sample rows (3)" in custom and rows[0][1] in custom
    assert "Sample rows" not in render_html(old, sample_rows=0)
    assert old._repr_html_().startswith('<div class="gd-stats">')


def test_html_compare_marks_added_columns_and_shifts(old, new) -> None:
    page = render_html(new, compare=old)
    assert "<b>old</b>" in page and "<b>new</b>" in page
    assert '<span class="badge added">added</span>' in page and "loyalty" in page
    assert "rows 3,000 → 3,600 (+600)" in page
    shifted = re.findall(r'<td class="num shift" title="([^"]+)">([^<]+)</td>', page)
    assert shifted and any(note.endswith("std") for note, _ in shifted)
    assert page.count("<svg") == len(COLUMNS)
    removed = render_html(old, compare=new)
    assert '<span class="badge removed">removed</span>' in removed


def test_rebin_keeps_the_total_and_spreads_evenly() -> None:
    from git_data.stats import Histogram

    hist = Histogram(0.0, 10.0, [10, 20, 30])
    assert sum(rebin(hist, -10.0, 40.0, 5)) == pytest.approx(60)
    assert rebin(hist, 0.0, 30.0, 6) == pytest.approx([5, 5, 10, 10, 15, 15])


def test_image_and_file_profiles_render() -> None:
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big")
           + (480).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + bytes(20))
    page = render_html(profile(io.BytesIO(png), "cat.png"))
    assert "640 × 480" in page and "RGB" in page
    assert "zip" in render_text(profile(io.BytesIO(b"PK\x03\x04" + bytes(10)), "m.bin"))


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(binary: str, tmp: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp / 'chrome-profile'}",
            "--window-size=1200,2000", *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_html_page_renders_in_headless_chromium(old, new, tmp_path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "compare.html"
    page.write_text(render_html(new, compare=old), encoding="utf-8")
    dom = run_chromium(binary, tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in COLUMNS + ["loyalty"]:
        assert f">{name}<" in dom.stdout
    assert dom.stdout.count("<rect") > 50  # the histograms and bars were parsed as SVG
    shot = tmp_path / "compare.png"
    result = run_chromium(binary, tmp_path, page, f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 30_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(shot.read_bytes()[16:20], "big") == 1200
