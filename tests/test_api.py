"""The Python API (`git_data.open`, `ls`, `stats`) and the `gitdata://` fsspec filesystem,
on real repositories: any version, without a checkout, from the cache or the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest
from conftest import Repo, make_repo

import git_data
from git_data import hashing
from git_data.errors import FatalError

V1 = b"a,b\n1,x\n2,y\n"
V2 = b"a,b\n1,x\n2,y\n3,z\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """main: data/x.csv (V1), data/sub/t.bin, README; branch feature/x: data/x.csv (V2).
    Built once for the module; the tests only read it."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = T\n"
                                     "\temail = t@example.com\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        repo = make_repo(tmp_path_factory.mktemp("history") / "repo")
        repo.write("data/x.csv", V1)
        repo.write("data/sub/t.bin", b"\x00" * 300)
        repo.write("README", b"plain git file\n")
        repo.commit_all("v1")
        repo.git("switch", "-q", "-c", "feature/x")
        repo.write("data/x.csv", V2)
        repo.commit_all("v2")
        repo.git("switch", "-q", "main")
    return repo


@pytest.fixture
def history(built: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    monkeypatch.chdir(built.path)
    return built


def test_open_any_version(history: Repo) -> None:
    with git_data.open("data/x.csv") as f:
        assert f.read() == V1
    assert git_data.open("./data//x.csv", rev="feature/x").read() == V2
    assert git_data.open("README").read() == b"plain git file\n"
    assert git_data.open("data/x.csv", repo=str(history.path / "data")).read() == V1


def test_open_errors_are_clear(history: Repo) -> None:
    for path, rev, message in [
        ("data", "HEAD", "data is a folder in HEAD, not a file"),
        ("data/nope.csv", "HEAD", "data/nope.csv is not tracked in HEAD"),
        ("data/x.csv", "v7", "revision 'v7' does not exist in"),
        ("../x.csv", "HEAD", "../x.csv is outside the repository"),
    ]:
        with pytest.raises(FatalError) as caught:
            git_data.open(path, rev=rev)
        assert str(caught.value).startswith(message)


def test_open_streams_from_the_store_and_verifies(team, monkeypatch) -> None:
    repo, bare = team
    content = bytes(range(256)) * 4000
    repo.write("data/big.bin", content)
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    for path in repo.cache_objects():
        path.chmod(0o644)
        path.unlink()
    monkeypatch.chdir(repo.path)
    assert git_data.open("data/big.bin").read() == content
    assert repo.cache_objects() == []  # streamed
    with git_data.open("data/big.bin", seekable=True) as f:
        f.seek(1000)
        assert f.read(3) == content[1000:1003]
    assert len(repo.cache_objects()) == 1  # seekable: downloaded, verified, then opened
    for path in repo.cache_objects():
        path.chmod(0o644)
        path.unlink()
    stored = next(p for p in (bare / "data" / "objects").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(content[:-1] + b"!")
    with pytest.raises(FatalError, match="bytes from the store do not match"):
        git_data.open("data/big.bin").read()
    with pytest.raises(FatalError, match="hash to"):
        git_data.open("data/big.bin", seekable=True)
    assert repo.cache_objects() == []  # nothing corrupt was kept


def test_ls(history: Repo) -> None:
    assert git_data.ls() == [
        {"path": "data/sub/t.bin", "oid": hashing.hash_bytes(b"\x00" * 300), "size": 300},
        {"path": "data/x.csv", "oid": hashing.hash_bytes(V1), "size": len(V1)}]
    assert git_data.ls("feature/x")[1]["oid"] == hashing.hash_bytes(V2)


def test_stats_returns_a_profile_that_renders_in_notebooks(history: Repo) -> None:
    p = git_data.stats("data/x.csv")
    assert (p.name, p.rows, p.column_names) == ("data/x.csv", 2, ["a", "b"])
    assert git_data.stats("data/x.csv", rev="feature/x").rows == 3
    assert git_data.stats("data/x.csv", rev=None).rows == 2  # the work tree
    assert p._repr_html_().startswith('<div class="gd-stats">')
    from git_data.stats import Profile

    assert isinstance(p, Profile)


@pytest.mark.parametrize("first", ["import git_data", "from git_data.stats import profile",
                                   "import git_data.stats.model"])
def test_git_data_stats_is_both_the_package_and_the_function(history: Repo, first: str) -> None:
    script = (f"{first}\nimport git_data\nfrom git_data.stats import render_text\n"
              "p = git_data.stats('data/x.csv', rev='feature/x')\n"
              "print(render_text(p).splitlines()[0])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=history.path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "data/x.csv — csv, 16 B, 3 rows × 2 columns"


# ----- gitdata:// --------------------------------------------------------------------
def test_fsspec_open_and_branch_with_a_slash(history: Repo) -> None:
    with fsspec.open("gitdata://HEAD/data/x.csv") as f:
        assert f.read() == V1
    with fsspec.open("gitdata://feature%2Fx/data/x.csv", "rt") as f:
        assert f.read().splitlines()[-1] == "3,z"
    with fsspec.open("gitdata://main/data/x.csv", repo=str(history.path)) as f:
        assert f.read() == V1
    with pytest.raises(FileNotFoundError):
        fsspec.open("gitdata://HEAD/data/missing.csv").open()


def test_fsspec_listing_names_reopen(history: Repo) -> None:
    fs = fsspec.filesystem("gitdata")
    assert fs.ls("feature%2Fx/data", detail=False) == ["feature%2Fx/data/sub",
                                                      "feature%2Fx/data/x.csv"]
    found = fs.find("feature%2Fx/data")
    assert found == ["feature%2Fx/data/sub/t.bin", "feature%2Fx/data/x.csv"]
    assert fs.cat(found[1]) == V2
    assert fs.ls("HEAD/data/x.csv", detail=False) == ["HEAD/data/x.csv"]
    info = fs.info("HEAD/data/sub/t.bin")
    assert (info["type"], info["size"], info["oid"]) == ("file", 300,
                                                         hashing.hash_bytes(b"\x00" * 300))
    assert fs.info("HEAD/README")["size"] == 15 and fs.isdir("HEAD/data")
    assert not fs.exists("HEAD/nope") and fs.glob("HEAD/data/*.csv") == ["HEAD/data/x.csv"]


def test_table_readers_through_fsspec(history: Repo) -> None:
    pacsv = pytest.importorskip("pyarrow.csv")
    with fsspec.open("gitdata://feature%2Fx/data/x.csv") as f:
        table = pacsv.read_csv(f)
    assert table.num_rows == 3 and table.column("a").to_pylist() == [1, 2, 3]


def test_pandas_reads_gitdata_urls(history: Repo) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv("gitdata://feature%2Fx/data/x.csv")
    assert list(frame["b"]) == ["x", "y", "z"]


def test_fsspec_in_a_subdirectory_uses_the_enclosing_repository(history: Repo,
                                                                 monkeypatch) -> None:
    monkeypatch.chdir(Path(history.path) / "data" / "sub")
    with fsspec.open("gitdata://HEAD/data/x.csv") as f:
        assert f.read() == V1


def test_parquet_through_fsspec_from_the_store(team, monkeypatch) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    repo, _ = team
    path = repo.path / "data" / "t.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": list(range(300))}), str(path))
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    for obj in repo.cache_objects():
        obj.chmod(0o644)
        obj.unlink()
    monkeypatch.chdir(repo.path)
    with fsspec.open("gitdata://main/data/t.parquet") as f:
        assert pq.read_table(f).column("x").to_pylist() == list(range(300))
