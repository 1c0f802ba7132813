from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import Repo, random_bytes


def states(repo: Repo) -> dict[str, dict]:
    out = json.loads(repo.data("status", "--json").stdout)
    return {f["path"]: f for f in out["files"]} | {"__totals__": out["totals"]}


def test_status_states(repo: Repo) -> None:
    for seed, name in enumerate(("keep", "edit", "drop", "gone")):
        repo.write(f"data/{name}.bin", random_bytes(10_000 + seed, seed=seed))
    repo.commit_all()
    repo.write("data/edit.bin", b"changed")
    (repo.path / "data/drop.bin").unlink()
    gone = repo.git("show", "HEAD:data/gone.bin").stdout
    for obj in repo.cache_objects():
        if obj.name in gone:
            obj.unlink()
    (repo.path / "data/gone.bin").unlink()
    repo.git("checkout", "--", "data/gone.bin")
    result = states(repo)
    assert result["data/keep.bin"]["state"] == "present"
    assert result["data/edit.bin"]["state"] == "modified"
    assert result["data/drop.bin"]["state"] == "deleted"
    assert result["data/gone.bin"]["state"] == "pointer"
    assert result["data/gone.bin"]["cached"] is False
    assert result["data/keep.bin"]["size"] == 10_000
    totals = result["__totals__"]
    assert (totals["files"], totals["present"], totals["modified"], totals["deleted"],
            totals["pointer"], totals["not_cached"]) == (4, 1, 1, 1, 1, 1)
    text = repo.data("status").stdout
    assert "4 data files" in text and "git data pull" in text


def test_ls_files_reads_any_revision_without_checkout(repo: Repo) -> None:
    repo.write("data/a.bin", b"a" * 100)
    first = repo.commit_all()
    repo.write("data/b.bin", b"b" * 200)
    repo.commit_all()
    listed = json.loads(repo.data("ls-files", first, "--json").stdout)
    assert [(e["path"], e["size"]) for e in listed] == [("data/a.bin", 100)]
    assert len(json.loads(repo.data("ls-files", "--json").stdout)) == 2
    proc = repo.data("ls-files", "no-such-rev", check=False)
    assert proc.returncode == 1 and "no-such-rev" in proc.stderr


def test_status_says_when_pushed_commit_data_is_not_in_store(team: tuple[Repo, Path]) -> None:
    """A push that uploaded nothing (hooks skipped, as in a clone without git-data's hooks):
    status names the pushed commit, the count and what to run."""
    repo, bare = team
    repo.write("data/a.bin", random_bytes(30_000, seed=1))
    repo.write("data/b.bin", random_bytes(40_000, seed=2))
    commit = repo.commit_all()
    repo.git("push", "-q", "--no-verify", "-u", "origin", "main")
    text = repo.data("status").stdout
    warning = [x for x in text.splitlines() if x.startswith("warning:")]
    assert len(warning) == 1, text
    assert "origin/main" in warning[0] and commit[:12] in warning[0]
    assert "2 data object(s)" in warning[0] and "not in the store" in warning[0]
    assert "git data push" in warning[0]
    pushed = json.loads(repo.data("status", "--json").stdout)["pushed"]
    assert pushed["upstream"] == "origin/main" and pushed["commit"] == commit
    assert sorted(e["path"] for e in pushed["missing"]) == ["data/a.bin", "data/b.bin"]
    repo.data("push")
    assert "warning:" not in repo.data("status").stdout
    assert json.loads(repo.data("status", "--json").stdout)["pushed"]["missing"] == []


def test_status_quiet_about_a_push_through_the_hook(team: tuple[Repo, Path]) -> None:
    repo, _ = team
    repo.write("data/a.bin", random_bytes(30_000, seed=1))
    repo.commit_all()
    repo.git("push", "-q", "-u", "origin", "main")
    assert "warning:" not in repo.data("status").stdout


def test_status_checks_the_pushed_tip_not_the_local_one(team: tuple[Repo, Path]) -> None:
    """Local commits since the push change and delete files: the pushed commit still needs
    its own objects, and status names those (read from where the two differ)."""
    repo, _ = team
    repo.write("data/a.bin", random_bytes(30_000, seed=1))
    repo.write("data/b.bin", random_bytes(40_000, seed=2))
    repo.write("data/c.bin", random_bytes(50_000, seed=3))
    repo.commit_all()
    repo.git("push", "-q", "--no-verify", "-u", "origin", "main")
    repo.write("data/a.bin", random_bytes(31_000, seed=4))
    (repo.path / "data/b.bin").unlink()
    repo.commit_all("local")
    pushed = json.loads(repo.data("status", "--json").stdout)["pushed"]
    assert sorted((e["path"], e["size"]) for e in pushed["missing"]) == [
        ("data/a.bin", 30_000), ("data/b.bin", 40_000), ("data/c.bin", 50_000)]
    repo.data("push")
    assert json.loads(repo.data("status", "--json").stdout)["pushed"]["missing"] == []


def test_status_of_a_routed_branch_counts_the_default_store(tmp_path: Path) -> None:
    """exp/a (routed to scratch) made from main: main's objects are in the default store,
    which exp/a's readers fall back to, so they are pushed; the pushed tip's one object no
    store holds (pushed without hooks) is the one status names."""
    import subprocess

    from conftest import make_repo, populate

    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", str(tmp_path / "origin-store"), "--default")
    repo.data("remote", "add", "scratch", str(tmp_path / "scratch-store"), "--branch", "exp/*")
    populate(repo, {f"data/m{i}.bin": random_bytes(3_000, seed=i) for i in range(5)})
    repo.git("push", "-q", "origin", "main")
    repo.git("checkout", "-q", "-b", "exp/a")
    populate(repo, {"data/new.bin": random_bytes(4_000, seed=9)}, "exp")
    repo.git("push", "-q", "--no-verify", "-u", "origin", "exp/a")
    out = json.loads(repo.data("status", "--json").stdout)
    assert out["totals"]["not_pushed"] == 1
    assert [e["path"] for e in out["pushed"]["missing"]] == ["data/new.bin"]
    assert "scratch" in out["pushed"]["store"]
    repo.data("push")
    out = json.loads(repo.data("status", "--json").stdout)
    assert out["totals"]["not_pushed"] == 0 and out["pushed"]["missing"] == []
    for record in (repo.cache / "stores").iterdir():  # forgotten: the stores are asked
        record.unlink()
    assert json.loads(repo.data("status", "--json").stdout)["pushed"]["missing"] == []
    assert json.loads(repo.data("status", "--json").stdout)["totals"]["not_pushed"] == 0


def test_status_during_a_merge_conflict_lists_each_file_once(repo: Repo) -> None:
    """Both branches changed data/a.bin: the index holds it at stages 1, 2 and 3. Status
    lists it once, as a conflict, with our side's object."""
    repo.write("data/a.bin", random_bytes(10_000, seed=1))
    repo.write("data/b.bin", random_bytes(11_000, seed=2))
    repo.commit_all()
    repo.git("switch", "-q", "-c", "other")
    repo.write("data/a.bin", random_bytes(12_000, seed=3))
    repo.commit_all()
    repo.git("switch", "-q", "main")
    repo.write("data/a.bin", random_bytes(13_000, seed=4))
    repo.commit_all()
    assert repo.git("merge", "-q", "other", check=False).returncode != 0
    assert len(repo.git("ls-files", "-u").stdout.splitlines()) == 3
    out = json.loads(repo.data("status", "--json").stdout)
    paths = [f["path"] for f in out["files"]]
    assert sorted(paths) == ["data/a.bin", "data/b.bin"]
    conflicted = next(f for f in out["files"] if f["path"] == "data/a.bin")
    assert (conflicted["state"], conflicted["size"]) == ("conflict", 13_000)
    assert out["totals"]["files"] == 2 and out["totals"]["conflict"] == 1
    text = repo.data("status").stdout
    assert text.count("data/a.bin") == 1 and "1 in conflict" in text


def test_status_warns_once_when_the_filter_is_not_configured(repo: Repo) -> None:
    repo.write("data/a.bin", random_bytes(1_000, seed=1))
    repo.commit_all()
    assert "git data install" not in repo.data("status").stderr
    # as in a plain `git clone`: no filter.data.* at all (with filter.data.required left
    # set, git itself refuses to read the files, and says so)
    repo.git("config", "--remove-section", "filter.data")
    proc = repo.data("status")
    lines = [line for line in proc.stderr.splitlines() if "git data install" in line]
    assert len(lines) == 1 and "filter.data.process" in lines[0], proc.stderr
    assert "1 data files" in proc.stdout
    repo.data("install")
    assert "git data install" not in repo.data("status").stderr


def test_status_among_many_clean_files(repo: Repo) -> None:
    """Among 300 clean files (past the blob memo's threshold), each changed one is reported:
    edited, deleted, checked out as a pointer, replaced by its pointer text where that is
    as long as its data (only a read tells them apart), touched only (still present). The
    same answer from git's listing where status cannot read the index (a split index)."""
    files = {f"data/f{i:03d}.bin": random_bytes(1000 if i % 2 else 71, seed=i)
             for i in range(300)}
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all()
    pointer_text = repo.git("show", "HEAD:data/f000.bin").stdout.encode()
    assert len(pointer_text) == 71  # as long as its data: same size, the content differs
    repo.write("data/f000.bin", pointer_text)
    gone = repo.git("show", "HEAD:data/f001.bin").stdout  # checked out as a pointer
    for obj in repo.cache_objects():
        if obj.name in gone:
            obj.unlink()
    (repo.path / "data/f001.bin").unlink()
    repo.git("checkout", "--", "data/f001.bin")
    repo.write("data/f002.bin", b"edited")
    (repo.path / "data/f003.bin").unlink()
    stat = (repo.path / "data/f004.bin").stat()
    os.utime(repo.path / "data/f004.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    expected = {"data/f000.bin": "pointer", "data/f001.bin": "pointer",
                "data/f002.bin": "modified", "data/f003.bin": "deleted"}
    first = json.loads(repo.data("status", "--json").stdout)
    assert {f["path"]: f["state"] for f in first["files"]} == {
        name: expected.get(name, "present") for name in files}
    assert first["totals"]["present"] == 296 and first["totals"]["files"] == 300
    assert [f["path"] for f in first["files"] if not f["cached"]] == ["data/f001.bin"]
    again = json.loads(repo.data("status", "--json").stdout)  # the blob memo answers now
    assert again == first
    repo.git("update-index", "--split-index")
    assert list((repo.path / ".git").glob("sharedindex.*"))
    assert json.loads(repo.data("status", "--json").stdout) == first
