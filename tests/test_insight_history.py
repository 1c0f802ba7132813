"""`git data log` and `git data diff` over real histories, file samples for `clone --sample`,
Parquet read from the store, and the core commands staying free of pyarrow and Pillow."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import hashing
from git_data.cli import main as cli_main
from git_data.commands.stats import pull_sample, select_sample
from git_data.gitrepo import PointerEntry
from git_data.gitrepo import Repo as GitRepo
from git_data.stats import choose_sample


@pytest.fixture
def gd(repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def run(*args: str, where: Repo = repo) -> tuple[int, str, str]:
        monkeypatch.chdir(where.path)
        capsys.readouterr()
        code = cli_main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def table(n: int, columns: int = 2) -> bytes:
    header = ",".join(f"c{j}" for j in range(columns))
    return (header + "\n" + "".join(",".join(str(i * (j + 1)) for j in range(columns)) + "\n"
                                    for i in range(n))).encode()


def short(data: bytes) -> str:
    return hashing.hash_bytes(data).split(":")[1][:12]


# ----- log -----------------------------------------------------------------------------
def test_log_lists_versions_with_rows_and_columns_when_saved(repo: Repo, gd) -> None:
    v1, v2, v3 = table(10), table(15, 3), table(12, 3)
    repo.write("data/t.csv", v1)
    repo.commit_all("first")
    repo.write("notes.txt", b"not data")
    repo.commit_all("unrelated")
    repo.write("data/t.csv", v2)
    repo.git("add", "data/t.csv")
    assert gd("stats", "data/t.csv", "--save")[0] == 0
    repo.commit_all("second")
    repo.write("data/t.csv", v3)  # no saved stats for this one
    repo.commit_all("third")
    for path in repo.cache.glob("stats/*/*.json"):
        path.unlink()  # forget what stats computed locally: only saved stats count
    code, out, err = gd("log", "data/t.csv")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(f"{len(v3)} B  {short(v3)}  third")
    assert lines[1].endswith(f"{short(v2)}  15 rows × 3 columns  second")  # v1 not saved
    assert lines[2].endswith(f"{short(v1)}  (added)  first")
    assert gd("stats", "data/t.csv", "--rev", "HEAD~3", "--save")[0] == 0  # v1, saved later
    _, out, _ = gd("log", "data/t.csv", "--json", "-n", "2")
    entries = json.loads(out)
    assert [e["subject"] for e in entries] == ["third", "second"]
    assert (entries[1]["rows"], entries[1]["rows_change"], entries[1]["columns_change"]) == (
        15, 5, 1)
    assert entries[0]["status"] == "modified" and "rows" not in entries[0]


def test_log_of_a_folder_and_of_a_deletion(repo: Repo, gd) -> None:
    repo.write("data/a.bin", b"a" * 100)
    repo.write("data/b.bin", b"b" * 200)
    repo.commit_all("two")
    repo.write("data/b.bin", b"B" * 250)
    repo.write("data/c.bin", b"c" * 50)
    repo.commit_all("change")
    repo.git("rm", "-q", "data/a.bin")
    repo.commit_all("remove a")
    _, out, _ = gd("log", "data")
    lines = out.splitlines()
    assert "2 data files, 300 B  +0 -1 ~0  remove a" in lines[0]
    assert "3 data files, 400 B  +1 -0 ~1  change" in lines[1]
    assert "2 data files, 300 B  +2 -0 ~0  two" in lines[2]
    _, out, _ = gd("log", "data/a.bin")
    assert out.splitlines()[0].endswith("deleted  remove a")
    code, _, err = gd("log", "data/zzz.bin")
    assert code == 1 and "data/zzz.bin has no data versions in the history of HEAD" in err


# ----- diff ----------------------------------------------------------------------------
def test_diff_between_revisions_and_against_the_work_tree(repo: Repo, gd) -> None:
    repo.write("data/t.csv", table(100))
    repo.write("data/old.bin", b"x" * 3000)
    repo.write("data/same.bin", b"s" * 10)
    repo.commit_all("v1")
    repo.write("data/t.csv", table(120, 3))
    repo.git("rm", "-q", "data/old.bin")
    repo.write("data/new.bin", b"n" * 1500)
    repo.commit_all("v2")
    code, out, err = gd("diff", "HEAD~1", "HEAD")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "A  data/new.bin  1.5 KB"
    assert lines[1] == "D  data/old.bin  3.0 KB"
    assert (len(table(100)), len(table(120, 3))) == (641, 1246)
    assert lines[2] == "M  data/t.csv  641 B -> 1.2 KB (+605 B)"
    assert lines[3] == "    rows: 100 -> 120 (+20, +20.0%)"
    assert lines[4] == "    columns added: c2 (int)"
    assert lines[-1] == "3 data files changed: 1 added, 1 removed, 1 modified"
    assert "same.bin" not in out
    _, out, _ = gd("diff", "HEAD~1", "HEAD", "--no-stats", "data/t.csv")
    assert out.splitlines()[1:] == ["1 data file changed: 0 added, 0 removed, 1 modified"]
    assert gd("diff")[1] == ""  # a clean work tree
    repo.write("data/t.csv", table(90, 3))
    _, out, _ = gd("diff", "data")
    assert "    rows: 120 -> 90 (-30, -25.0%)" in out.splitlines()
    _, out, _ = gd("diff", "HEAD~1")
    assert "    rows: 100 -> 90 (-10, -10.0%)" in out.splitlines()
    code, _, err = gd("diff", "HEAD", "nothing-here")
    assert code == 1 and "nothing-here: neither a revision nor a data path" in err


# ----- samples of files ----------------------------------------------------------------
def entries(n: int) -> list[PointerEntry]:
    return [PointerEntry(f"data/{i}.bin", hashing.hash_bytes(str(i).encode()), i)
            for i in range(n)]


def test_select_sample_is_deterministic_nested_and_keeps_duplicates_together() -> None:
    many = entries(2000)
    half = select_sample(many, 0.5)
    assert 900 < len(half) < 1100
    assert half == select_sample(list(reversed(many)), 0.5)[::-1]
    assert {e.oid for e in half} == set(choose_sample([e.oid for e in many], 0.5))
    tenth = select_sample(many, 0.1)
    assert set(tenth) <= set(half)
    assert select_sample(many, 0.0) == [] and select_sample(many, 1.0) == many
    twin = PointerEntry("copy/of.bin", half[0].oid, half[0].size)
    assert twin in select_sample([*many, twin], 0.5)


def test_pull_sample_in_a_clone_without_data(team, tmp_path: Path, monkeypatch) -> None:
    repo, bare = team
    files = {f"data/f{i}.bin": bytes([i]) * (100 + i) for i in range(40)}
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all("forty files")
    repo.git("push", "-q", "origin", "main")
    subprocess.run(["git-data", "-q", "clone", str(bare), str(tmp_path / "copy"), "--no-data"],
                   check=True, cwd=tmp_path)
    copy = tmp_path / "copy"
    monkeypatch.chdir(copy)
    assert pull_sample(GitRepo("."), 0.25, None, None, quiet=True) == 0
    chosen = set(choose_sample([hashing.hash_bytes(c) for c in files.values()], 0.25))
    present = {n for n, c in files.items() if (copy / n).read_bytes() == c}
    assert present == {n for n, c in files.items() if hashing.hash_bytes(c) in chosen}
    assert 0 < len(present) < 40
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True,
                            text=True, check=True)
    assert status.stdout == ""


# ----- Parquet from the store ----------------------------------------------------------
def test_parquet_from_the_store_is_verified_into_the_cache(team, gd) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    repo, _ = team
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(5000)), "y": [i % 7 for i in range(5000)]}),
                   buffer, row_group_size=1000)
    repo.write("data/t.parquet", buffer.getvalue())
    repo.commit_all("parquet")
    repo.git("push", "-q", "origin", "main")
    for path in repo.cache_objects():
        path.chmod(0o644)
        path.unlink()
    code, out, err = gd("stats", "data/t.parquet", "--rev", "HEAD", "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["rows"] == 5000 and p["columns"][1]["mean"] == pytest.approx(
        sum(i % 7 for i in range(5000)) / 5000)
    assert [o.name for o in repo.cache_objects()] == [
        hashing.hash_bytes(buffer.getvalue()).split(":")[1]]


# ----- optional dependencies -----------------------------------------------------------
def test_core_commands_do_not_import_pyarrow_or_pillow(repo: Repo) -> None:
    repo.write("data/t.csv", table(5))
    repo.commit_all()
    script = ("import sys; from git_data.cli import main\n"
              "for args in (['status'], ['ls-files'], ['log'], ['diff', '--no-stats'],"
              " ['stats', 'data/t.csv']):\n"
              "    assert main(args) == 0, args\n"
              "bad = [m for m in ('pyarrow', 'PIL') if m in sys.modules]\n"
              "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=repo.path, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_save_stats_for_add_saves_tables_and_image_folders(repo: Repo, monkeypatch) -> None:
    from git_data.commands.stats import save_stats

    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (64).to_bytes(4, "big")
           + (32).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + bytes(20))
    repo.write("data/a.csv", table(3))
    repo.write("data/b.csv", table(4))
    repo.write("data/img/1.png", png)
    repo.write("data/blob.bin", b"\x00" * 10)
    repo.git("add", "-A")
    monkeypatch.chdir(repo.path)
    assert save_stats(GitRepo("."), ["data", "data/missing.csv"]) == 1
    staged = repo.git("diff", "--cached", "--name-only", "--", ".gitdata-stats").stdout.split()
    keys = {hashing.hash_bytes(d).split(":")[1] for d in (table(3), table(4))}
    assert len(staged) == 4 and ".gitdata-stats/.gitattributes" in staged
    assert {f".gitdata-stats/{k}.json" for k in keys} <= set(staged)
    folder = json.loads((repo.path / (set(staged) - {f".gitdata-stats/{k}.json" for k in keys}
                                      - {".gitdata-stats/.gitattributes"}).pop()).read_text())
    assert (folder["kind"], folder["rows"]) == ("images", 1)


def test_clone_sample_fetches_a_deterministic_subset(team: tuple[Repo, Path],
                                                      tmp_path: Path) -> None:
    repo, bare = team
    for i in range(40):
        repo.write(f"data/img{i}.bin", random_bytes(2000, seed=500 + i))
    repo.commit_all("images")
    repo.git("push", "-q", "origin", "main")
    present = []
    for name in ("s1", "s2"):
        Repo(tmp_path).data("clone", str(bare), name, "--sample", "0.25")
        files = json.loads(Repo(tmp_path / name).data("status", "--json").stdout)["files"]
        present.append(sorted(f["path"] for f in files if f["state"] == "present"))
    assert present[0] == present[1]  # the same files on every machine
    assert 2 <= len(present[0]) <= 20  # about a quarter of 40
    for path in present[0]:
        expected = random_bytes(2000, seed=500 + int(path[8:-4]))
        assert (tmp_path / "s1" / path).read_bytes() == expected
