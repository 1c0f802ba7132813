"""`git data stats / show / schema / validate / sample` on real repositories: the work tree,
committed versions read without a checkout, objects streamed from the store, saved
statistics in clones without data, and bad input reported in one line per problem."""

from __future__ import annotations

import io
import json
import random
import statistics
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from conftest import Repo

from git_data import hashing
from git_data.cli import main as cli_main

PEOPLE = ["user_id", "height_cm", "city", "active"]


def people_csv(n: int, seed: int, shift: float = 0.0, extra: bool = False) -> bytes:
    rng = random.Random(seed)
    lines = [",".join(PEOPLE + (["loyalty"] if extra else []))]
    for i in range(n):
        height = "" if i % 10 == 9 else f"{rng.gauss(170 + shift, 9):.1f}"
        row = [str(i), height, rng.choice(["Oslo", "Rome", "Lima"]), rng.choice(["true", "false"])]
        lines.append(",".join(row + ([str(rng.randint(0, 5))] if extra else [])))
    return ("\n".join(lines) + "\n").encode()


def heights(data: bytes) -> list[float]:
    rows = [line.split(",") for line in data.decode().splitlines()[1:]]
    return [float(r[1]) for r in rows if r[1]]


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"".join(b"\x00" + bytes(width * 3) for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def run(repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, str, str]:
    """`git data ARGS` in this process (fast), through the real click tree and error
    handling; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(repo.path)
    capsys.readouterr()
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def gd(repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    return lambda *args: run(repo, monkeypatch, capsys, *args)


def cached(repo: Repo) -> list[Path]:
    return repo.cache_objects()


# ----- stats ---------------------------------------------------------------------------
def test_stats_of_a_committed_table_has_exact_numbers(repo: Repo, gd) -> None:
    data = people_csv(500, 1)
    repo.write("data/people.csv", data)
    repo.commit_all("people")
    code, out, err = gd("stats", "data/people.csv", "--json")
    assert code == 0, err
    p = json.loads(out)
    assert (p["rows"], p["size"], p["format"]) == (500, len(data), "csv")
    col = {c["name"]: c for c in p["columns"]}
    assert (col["height_cm"]["count"], col["height_cm"]["missing"]) == (450, 50)
    assert col["height_cm"]["mean"] == pytest.approx(statistics.fmean(heights(data)), rel=1e-9)
    assert col["user_id"]["type"] == "int" and col["user_id"]["distinct"] == 500
    assert "computed from the work tree" in err
    code, out, _ = gd("stats", "data/people.csv", "--rev", "HEAD")
    assert out.startswith("data/people.csv@HEAD — csv, ")
    assert "500 rows × 4 columns" in out.splitlines()[0]


def test_stats_streams_from_the_store_without_filling_the_cache(team, gd) -> None:
    repo, bare = team
    data = people_csv(300, 2)
    repo.write("data/people.csv", data)
    repo.commit_all("people")
    repo.git("push", "-q", "origin", "main")
    for path in cached(repo):
        path.chmod(0o644)
        path.unlink()
    code, out, err = gd("stats", "data/people.csv", "--rev", "HEAD", "--json", "--recompute")
    assert code == 0, err
    assert json.loads(out)["rows"] == 300
    assert f"computed from store embedded:origin ({(bare / 'data').as_uri()})" in err
    assert cached(repo) == []  # streamed and verified, not downloaded


def test_a_corrupt_store_object_is_refused(team, gd) -> None:
    repo, bare = team
    repo.write("data/people.csv", people_csv(50, 3))
    repo.commit_all("people")
    repo.git("push", "-q", "origin", "main")
    for path in cached(repo):
        path.chmod(0o644)
        path.unlink()
    stored = next(p for p in (bare / "data" / "objects").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b"Oslo", b"Oslx"))
    code, out, err = gd("stats", "data/people.csv", "--rev", "HEAD")
    assert code == 1 and out == ""
    assert "data/people.csv@HEAD from embedded:origin" in err and "do not match" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input_is_one_line_each_and_the_rest_is_profiled(repo: Repo, gd) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(1000))}), buffer)
    files = {
        "data/good.csv": b"a,b\n1,2\n3,4\n",
        "data/quote.csv": b'a,b\n1,"unbalanced\n2,3\n',
        "data/ragged.csv": b"a,b\n1,2\n3\n4,5\n",
        "data/latin1.csv": "name,city\nJosé,Zürich\n".encode("latin-1"),
        "data/empty.csv": b"",
        "data/cut.parquet": buffer.getvalue()[:-100],
    }
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all("bad data")
    code, out, err = gd("stats", *files, "data/nope.csv", "data/good.csv")
    assert code == 1
    assert "Traceback" not in out + err
    assert "data/ragged.csv: line 3: ragged row with 1 fields, expected 2; missing fields " \
           "counted as missing" in out
    assert "data/quote.csv: lines 2-3: malformed CSV record" in out
    assert "data/latin1.csv: line 2: not valid UTF-8 (byte 0xe9 at column 4)" in out
    assert "data/empty.csv: empty file" in out
    errors = [line for line in err.splitlines() if line.startswith("git-data: ")]
    assert errors[0].startswith("git-data: data/cut.parquet: not a readable Parquet file")
    assert errors[1] == ("git-data: data/nope.csv: no such tracked file or folder in the work "
                         "tree; pass --rev REV for a committed version")
    assert errors[2] == "git-data: 2 of 8 paths could not be profiled"
    assert out.count("data/good.csv — csv, 12 B, 2 rows × 2 columns") == 2


def test_unknown_revision_and_untracked_path(repo: Repo, gd) -> None:
    repo.write("data/a.csv", b"a\n1\n")
    repo.commit_all()
    repo.write("notes.csv", b"x\n1\n")
    code, _, err = gd("stats", "data/a.csv", "--rev", "v9")
    assert code == 1 and err.strip().startswith("git-data: revision 'v9' does not exist in")
    assert len(err.strip().splitlines()) == 1
    code, _, err = gd("show", "notes.csv")
    assert code == 1 and err.strip() == ("git-data: notes.csv is not tracked; `git data add "
                                         "notes.csv` and commit it first")
    code, _, err = gd("show", "data/a.csv", "--rev", "HEAD", "--compare", "nope")
    assert code == 1 and "revision 'nope' does not exist" in err


def test_folder_of_images(repo: Repo, gd) -> None:
    sizes = [(640, 480), (320, 240), (64, 64)]
    for i, (w, h) in enumerate(sizes):
        repo.write(f"data/images/{i}.png", png(w, h))
    repo.write("data/images/labels.txt", b"cat\ndog\n")
    repo.commit_all("images")
    repo.data("track", "*.json")  # saved statistics stay plain JSON in git all the same
    code, out, err = gd("stats", "data/images", "--json", "--save")
    assert code == 0, err
    p = json.loads(out)
    assert (p["kind"], p["rows"]) == ("images", 3)
    width = next(c for c in p["columns"] if c["name"] == "width")
    assert width["mean"] == pytest.approx(sum(w for w, _ in sizes) / 3)
    assert "1 files are not images" in " ".join(p["warnings"])
    saved = list((repo.path / ".gitdata-stats").glob("*.json"))
    assert len(saved) == 1
    staged = repo.git("show", f":.gitdata-stats/{saved[0].name}").stdout
    assert json.loads(staged)["rows"] == 3
    assert "+  \"kind\": \"images\"," in repo.git("diff", "--cached").stdout
    code, _, err = gd("show", "data/images", "--rev", "HEAD")
    assert code == 0 and "saved in .gitdata-stats/" in err  # same content, same key


# ----- save, clone without data --------------------------------------------------------
def test_saved_stats_show_in_a_clone_without_data(team, tmp_path: Path, monkeypatch,
                                                  capsys) -> None:
    repo, bare = team
    versions = [people_csv(400, 4), people_csv(460, 5, shift=8.0, extra=True)]
    for i, data in enumerate(versions):
        repo.write("data/people.csv", data)
        repo.git("add", "data/people.csv")
        assert run(repo, monkeypatch, capsys, "stats", "data/people.csv", "--save")[0] == 0
        repo.commit_all(f"version {i}")
    assert repo.git("ls-files", ".gitdata-stats").stdout.split() == sorted([
        ".gitdata-stats/.gitattributes",
        *[f".gitdata-stats/{hashing.hash_bytes(d).split(':')[1]}.json" for d in versions]])
    repo.git("push", "-q", "origin", "main")
    subprocess.run(["git-data", "-q", "clone", str(bare), str(tmp_path / "copy"), "--no-data"],
                   check=True, cwd=tmp_path)
    copy = Repo(tmp_path / "copy")
    (bare / "data").rename(bare / "data-away")  # no store: nothing can be downloaded
    code, out, err = run(copy, monkeypatch, capsys, "show", "data/people.csv")
    assert code == 0, err
    assert out.splitlines()[0].endswith("460 rows × 5 columns")
    assert "saved in .gitdata-stats/" in err
    code, out, err = run(copy, monkeypatch, capsys, "show", "data/people.csv", "--rev",
                         "HEAD~1", "--json")
    assert json.loads(out)["rows"] == 400
    code, out, err = run(copy, monkeypatch, capsys, "log", "data/people.csv")
    lines = out.splitlines()
    assert "460 rows (+60) × 5 columns (+1)  version 1" in lines[0]
    assert "400 rows × 4 columns  (added)  version 0" in lines[1]
    page = tmp_path / "page.html"
    code, _, err = run(copy, monkeypatch, capsys, "show", "data/people.csv", "--compare",
                       "HEAD~1", "--html", str(page))
    assert code == 0, err
    assert '<span class="badge added">added</span>' in page.read_text()
    code, out, _ = run(copy, monkeypatch, capsys, "diff", "HEAD~1", "HEAD")
    assert "rows: 400 -> 460 (+60, +15.0%)" in out and "columns added: loyalty (int)" in out
    assert copy.cache_objects() == []
    code, _, err = run(copy, monkeypatch, capsys, "stats", "data/people.csv", "--recompute")
    assert code == 1 and "is neither cached nor in any store" in err


# ----- show ----------------------------------------------------------------------------
def test_show_text_compare(repo: Repo, gd) -> None:
    repo.write("data/people.csv", people_csv(300, 6))
    repo.commit_all("v1")
    repo.write("data/people.csv", people_csv(360, 7, shift=10.0, extra=True))
    code, out, err = gd("show", "data/people.csv", "--compare", "HEAD")
    assert code == 0, err
    assert out.startswith("data/people.csv — csv")
    assert "changes from data/people.csv@HEAD to data/people.csv:" in out
    assert "rows: 300 -> 360 (+60, +20.0%)" in out
    assert "columns added: loyalty (int)" in out
    assert any(line.split()[:2] == ["height_cm", "mean"] for line in out.splitlines())


def chromium() -> str | None:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def run_chromium(binary: str, tmp: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp / 'chrome-profile'}",
            "--window-size=1200,1600", *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_show_html_compare_renders_in_headless_chromium(repo: Repo, gd, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    repo.write("data/people.csv", people_csv(300, 8))
    repo.commit_all("v1")
    repo.write("data/people.csv", people_csv(330, 9, shift=5.0, extra=True))
    repo.commit_all("v2")
    page = tmp_path / "people.html"
    code, _, err = gd("show", "data/people.csv", "--rev", "HEAD", "--compare", "HEAD~1",
                      "--html", str(page))
    assert code == 0, err
    dom = run_chromium(binary, tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in PEOPLE + ["loyalty"]:
        assert f'<div class="name">{name}</div>' in dom.stdout
    assert "data/people.csv@HEAD~1 vs data/people.csv@HEAD" in dom.stdout
    assert dom.stdout.count("<rect") > 20
    shot = tmp_path / "people.png"
    result = run_chromium(binary, tmp_path, page, f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# ----- schema and validate -------------------------------------------------------------
def test_schema_save_then_validate_lists_anomalies(repo: Repo, gd) -> None:
    def table(header: str, extra: str = "") -> bytes:
        rows = "".join(f"{20 + i % 30},{['Oslo', 'Rome'][i % 2]},{i / 10}{extra}\n"
                       for i in range(100))
        return (header + rows).encode()

    good = table("age,city,score\n")
    repo.write("data/t.csv", good)
    repo.commit_all("good")
    code, out, _ = gd("schema", "data/t.csv")
    schema = json.loads(out)
    assert [(c["name"], c["type"]) for c in schema["columns"]] == [
        ("age", "int"), ("city", "string"), ("score", "float")]
    code, _, err = gd("schema", "data/t.csv", "--save")
    assert code == 0 and ".gitdata-stats/schema/data/t.csv.json" in err
    assert "A  .gitdata-stats/schema/data/t.csv.json" in repo.git("status", "--short").stdout
    repo.commit_all("schema")
    assert gd("validate", "data/t.csv")[0] == 0
    repo.write("data/t.csv", table("age,city,score,extra\n", ",1") + b"230,Lima,1.0,1\n")
    code, out, err = gd("validate", "data/t.csv")
    assert code == 1
    assert out.splitlines() == [
        "data/t.csv: column 'age': maximum 230 is above the allowed maximum 49",
        "data/t.csv: column 'city': unexpected values 'Lima' (1 rows)",
        "data/t.csv: column 'extra' is not in the schema (new column of type int)",
    ]
    assert "3 anomalies against .gitdata-stats/schema/data/t.csv.json" in err
    assert gd("validate", "data/t.csv", "--rev", "HEAD")[0] == 0
    code, _, err = gd("validate", "data/other.csv", "--rev", "HEAD")
    assert code == 1 and "data/other.csv is not tracked in HEAD" in err


def test_validate_without_a_schema_says_how_to_make_one(repo: Repo, gd) -> None:
    repo.write("data/t.csv", b"a\n1\n")
    repo.commit_all()
    code, _, err = gd("validate", "data/t.csv")
    assert code == 1 and err.strip() == ("git-data: data/t.csv has no schema; create one with "
                                         "`git data schema data/t.csv --save`")


# ----- sample --------------------------------------------------------------------------
def test_sample_is_uniform_seeded_and_streams(repo: Repo, gd, tmp_path: Path) -> None:
    data = people_csv(2000, 10)
    repo.write("data/people.csv", data)
    repo.commit_all()
    out_file = tmp_path / "s.csv"
    code, _, err = gd("sample", "data/people.csv", "-n", "100", "--seed", "7", "-o",
                      str(out_file), "--rev", "HEAD")
    assert code == 0 and "sampled 100 rows (seed 7)" in err
    lines = out_file.read_bytes().decode().splitlines()
    assert lines[0] == ",".join(PEOPLE) and len(lines) == 101
    original = data.decode().splitlines()
    assert set(lines[1:]) <= set(original[1:])
    ids = [int(line.split(",")[0]) for line in lines[1:]]
    assert ids == sorted(ids) and len(set(ids)) == 100  # file order, no repeats
    _, again, _ = gd("sample", "data/people.csv", "-n", "100", "--seed", "7")
    assert again.splitlines() == lines
    _, other, _ = gd("sample", "data/people.csv", "-n", "100", "--seed", "8")
    assert other.splitlines() != lines
    _, everything, _ = gd("sample", "data/people.csv", "-n", "5000")
    assert everything.encode() == data


def test_stats_reading_options_on_the_command_line(repo: Repo, gd) -> None:
    repo.write("data/raw.csv", b"1;2.5;?\n3;4.5;x\n5;?;y\n")
    repo.commit_all("raw")
    code, out, err = gd("stats", "data/raw.csv", "--json", "--no-header",
                        "--delimiter", ";", "--na-values", "?")
    assert code == 0, err
    p = json.loads(out)
    assert p["rows"] == 3 and [c["name"] for c in p["columns"]] == [
        "column_1", "column_2", "column_3"]
    assert [c["missing"] for c in p["columns"]] == [0, 1, 1]
    assert "(with options)" in err
    code, out, err = gd("show", "data/raw.csv", "--json", "--no-header", "--delimiter", ";",
                        "--na-values", "?")
    assert code == 0 and json.loads(out)["columns"][1]["type"] == "float", err
    code, out, err = gd("schema", "data/raw.csv", "--no-header", "--delimiter", ";")
    assert code == 0 and "column_3" in out, err
    code, _, err = gd("sample", "data/raw.csv", "--no-header", "--delimiter", ";", "-o",
                      str(repo.path / "x.parquet"))
    assert code == 0 and (repo.path / "x.parquet").read_bytes()[:4] == b"PAR1", err
    import pyarrow.parquet as pq

    assert pq.read_table(repo.path / "x.parquet").num_rows == 3
    code, _, err = gd("stats", "data/raw.csv", "--delimiter", ";;")
    assert code != 0 and err.count("\n") == 1 and "--delimiter must be one character" in err
    code, _, err = gd("stats", "data/raw.csv", "--no-header", "--save")
    assert code != 0 and "--save keeps profiles read the default way" in err
