"""Stores and transfers on the embedded local store (a bare repository's data/ folder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Repo, make_repo, populate, random_bytes, store_objects

from git_data import hashing, pointer

FILES = {f"data/{d}/f{i}.bin": random_bytes(20_000 + i, seed=i * 10 + len(d))
         for d in ("train", "test") for i in range(5)}


def test_push_uploads_to_embedded_store_and_writes_manifest(team: tuple[Repo, Path]) -> None:
    repo, bare = team
    commit = populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    stored = store_objects(bare / "data")
    assert {f"xxh128:{n}" for n in stored} == {hashing.hash_bytes(c) for c in FILES.values()}
    for name, path in stored.items():
        assert hashing.hash_file(str(path))[0] == f"xxh128:{name}"
    manifest = json.loads((bare / "data" / "branches" / "main.json").read_text())
    assert manifest["commit"] == commit and manifest["objects"] == 10
    assert manifest["bytes"] == sum(len(c) for c in FILES.values())
    listed = json.loads(repo.data("ls-remote", "--json").stdout)
    assert [(r["branch"], r["commit"], r["objects"]) for r in listed] == [("main", commit, 10)]
    assert not list((bare / "data" / "tmp").glob("*")) if (bare / "data/tmp").exists() else True


def test_second_push_only_sends_new_objects(team: tuple[Repo, Path]) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    before = {n: p.stat().st_mtime_ns for n, p in store_objects(bare / "data").items()}
    repo.write("data/new.bin", b"new" * 1000)
    repo.commit_all("one more")
    proc = repo.git("push", "origin", "main")
    after = store_objects(bare / "data")
    assert set(after) - set(before) == {hashing.hash_bytes(b"new" * 1000).split(":")[1]}
    assert all(after[n].stat().st_mtime_ns == t for n, t in before.items())  # not rewritten
    assert "uploaded 1 object" in proc.stderr or proc.returncode == 0


def test_clone_with_data_and_clean_status(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    for name, content in FILES.items():
        assert clone.read(name) == content
    assert clone.git("status", "--porcelain").stdout == ""
    assert json.loads(clone.data("status", "--json").stdout)["totals"]["present"] == 10


@pytest.mark.parametrize("links", [True, False])
def test_local_store_links_or_copies_objects(team: tuple[Repo, Path], tmp_path: Path,
                                             links: bool) -> None:
    repo, bare = team
    if not links:
        repo.git("config", "data.localLinks", "false")
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    cached = {p.name: p.stat().st_ino for p in repo.cache_objects()}
    stored = {n: p.stat().st_ino for n, p in store_objects(bare / "data").items()}
    assert set(stored) == set(cached)
    assert all((stored[n] == cached[n]) == links for n in stored)
    assert all(p.stat().st_mode & 0o222 == 0 for p in store_objects(bare / "data").values())
    flag = ["-c", "data.localLinks=false"] if not links else []
    Repo(tmp_path).git(*flag, "data", "clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    assert {p.name: p.stat().st_ino == stored[p.name] for p in clone.cache_objects()} == {
        n: links for n in stored}
    for name, content in FILES.items():  # working files are always copies
        assert clone.read(name) == content
        assert (clone.path / name).stat().st_ino not in stored.values()


def test_clone_no_data_then_pull_one_folder(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    assert all(pointer.parse(clone.read(n)) is not None for n in FILES)
    assert clone.cache_objects() == []
    clone.data("pull", "--include", "data/test/**")
    for name, content in FILES.items():
        if name.startswith("data/test/"):
            assert clone.read(name) == content
        else:
            assert pointer.parse(clone.read(name)) is not None
    assert len(clone.cache_objects()) == 5
    assert clone.git("status", "--porcelain").stdout == ""
    totals = json.loads(clone.data("status", "--json").stdout)["totals"]
    assert (totals["present"], totals["pointer"], totals["not_pushed"]) == (5, 5, 0)
    repo.write("data/train/f0.bin", b"local change")
    repo.git("add", "-A")
    totals = json.loads(repo.data("status", "--json").stdout)["totals"]
    assert totals["not_pushed"] == 1


def test_switch_fetches_branch_data_through_delayed_smudge(team: tuple[Repo, Path],
                                                            tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, {"data/a.bin": b"main" * 5000})
    repo.git("switch", "-qc", "feature/ünïcode")
    populate(repo, {f"data/feat{i}.bin": random_bytes(30_000, seed=100 + i) for i in range(6)})
    repo.git("push", "-q", "origin", "main", "feature/ünïcode")
    assert (bare / "data" / "branches" / "feature" / "ünïcode.json").exists()
    Repo(tmp_path).data("clone", str(bare), "copy")
    clone = Repo(tmp_path / "copy")
    assert clone.read("data/a.bin") == b"main" * 5000
    trace = tmp_path / "packets.txt"
    clone.git("switch", "-q", "feature/ünïcode", env={"GIT_TRACE_PACKET": str(trace)})
    for i in range(6):
        assert clone.read(f"data/feat{i}.bin") == random_bytes(30_000, seed=100 + i)
    assert trace.read_text().count("status=delayed") == 6
    assert clone.git("status", "--porcelain").stdout == ""


def test_missing_and_altered_store_objects(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    missing_name, altered_name = "data/train/f0.bin", "data/test/f1.bin"
    store = store_objects(bare / "data")
    store[hashing.hash_bytes(FILES[missing_name]).split(":")[1]].unlink()
    altered = store[hashing.hash_bytes(FILES[altered_name]).split(":")[1]]
    altered.chmod(0o644)
    altered.write_bytes(b"evil" + FILES[altered_name][4:])
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    proc = clone.data("pull", check=False)
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if "could not download" in x]
    assert len(lines) == 2
    assert any(missing_name in x and hashing.hash_bytes(FILES[missing_name]) in x
               and str(bare / "data") in x for x in lines)
    assert any(altered_name in x and "do not match" in x for x in lines)
    cached = {f"xxh128:{p.name}" for p in clone.cache_objects()}
    assert hashing.hash_bytes(FILES[altered_name]) not in cached  # rejected, never cached
    assert len(cached) == 8  # the others still arrived
    for name, content in FILES.items():
        if name not in (missing_name, altered_name):
            assert clone.read(name) == content
    status = json.loads(clone.data("status", "--json").stdout)["files"]
    assert {f["path"] for f in status if f["state"] == "pointer"} == {missing_name, altered_name}


def test_checkout_with_object_no_store_has(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, {"data/x.bin": b"x" * 9999})
    repo.git("push", "-q", "origin", "main")
    for path in store_objects(bare / "data").values():
        path.unlink()
    clone_root = tmp_path / "copy"
    proc = subprocess.run(["git", "clone", "-q", str(bare), str(clone_root)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    clone = Repo(clone_root)
    clone.data("install")
    clone.git("checkout", "-q", "-B", "other")  # a switch with nothing to fetch still works
    assert pointer.parse(clone.read("data/x.bin")) is not None
    assert "data/x.bin" in clone.data("status").stdout


def test_store_path_unusable(repo: Repo) -> None:
    populate(repo, {"data/a.bin": b"a" * 1000})
    # personal: a committed .gitdata naming a missing folder is refused before any push
    repo.data("remote", "add", "origin", "file:///proc/git-data-store", "--personal")
    proc = repo.data("push", check=False)
    assert proc.returncode == 1
    assert "/proc/git-data-store" in proc.stderr and "data/a.bin" in proc.stderr
    repo2 = make_repo(repo.path.parent / "other")
    repo2.data("remote", "add", "origin", str(repo.path.parent / "does-not-exist"))
    proc = repo2.data("fetch", check=False)
    assert proc.returncode == 0  # nothing to fetch in an empty repo: no error


def test_no_store_configured_says_how(repo: Repo) -> None:
    populate(repo, {"data/a.bin": b"a" * 1000})
    repo.git("remote", "add", "origin", "https://example.invalid/repo.git")
    proc = repo.data("push", check=False)
    assert proc.returncode == 1 and "git data remote add" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _kill_when(proc: subprocess.Popen[bytes], condition: callable, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_sigkill_push_and_pull_then_rerun(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    files = {f"data/big{i}.bin": random_bytes(4_000_000, seed=200 + i) for i in range(12)}
    populate(repo, files)
    repo.git("config", "data.transfers", "2")
    push = subprocess.Popen(["git-data", "push", "origin"], cwd=repo.path,
                            start_new_session=True)
    assert _kill_when(push, lambda: len(store_objects(bare / "data")) >= 2)
    for name, path in store_objects(bare / "data").items():  # never a partial object
        assert hashing.hash_file(str(path))[0] == f"xxh128:{name}"
    repo.data("push", "origin")
    assert len(store_objects(bare / "data")) == 12
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    clone.git("config", "data.transfers", "2")
    pull = subprocess.Popen(["git-data", "pull"], cwd=clone.path, start_new_session=True)
    assert _kill_when(pull, lambda: len(clone.cache_objects()) >= 2)
    for path in clone.cache_objects():
        assert hashing.hash_file(str(path))[0] == f"xxh128:{path.name}"
    clone.data("pull")
    for name, content in files.items():
        assert clone.read(name) == content
    assert clone.git("status", "--porcelain").stdout == ""


def test_two_pulls_at_once_sharing_a_cache(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = team
    populate(repo, FILES)
    repo.git("push", "-q", "origin", "main")
    shared = tmp_path / "shared-cache"
    clones = []
    for i in range(2):
        Repo(tmp_path).data("clone", str(bare), f"c{i}", "--no-data")
        clone = Repo(tmp_path / f"c{i}")
        clone.git("config", "data.cacheDir", str(shared))
        clones.append(clone)
    procs = [subprocess.Popen(["git-data", "pull"], cwd=c.path, stderr=subprocess.PIPE)
             for c in clones]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for clone in clones:
        for name, content in FILES.items():
            assert clone.read(name) == content
    objects = [p for p in (shared / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 10
    assert all(hashing.hash_file(str(p))[0] == f"xxh128:{p.name}" for p in objects)


def test_push_of_data_nobody_has_stops_in_one_line(team: tuple[Repo, Path]) -> None:
    """Commits whose data is in neither the local cache nor any store (a clone that never
    had it, a cache cleaned by hand) are not pushed: one line with the count, the first
    file and what to do; `data.allowIncompletePush` (git config) lets them through."""
    repo, bare = team
    populate(repo, {"data/kept.bin": b"kept" * 5000})
    repo.git("push", "-q", "origin", "main")
    lost = {f"data/lost{i}.bin": random_bytes(10_000, seed=300 + i) for i in range(3)}
    commit = populate(repo, lost, "lost")
    for content in lost.values():
        hexdigest = hashing.hash_bytes(content).split(":")[1]
        (repo.cache / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest).unlink()
    proc = repo.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1, proc.stderr
    assert "3 data file(s)" in lines[0] and "neither in the local cache nor in any store" in (
        lines[0]) and "data/lost" in lines[0] and "data.allowIncompletePush" in lines[0]
    remote_head = subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True,
                                 text=True).stdout.strip()
    assert remote_head != commit  # the commits were not pushed
    by_hand = repo.data("push", check=False)
    assert by_hand.returncode == 1 and len(by_hand.stderr.strip().splitlines()) == 1
    (repo.path / ".gitdata").write_text("[data]\n\tallowIncompletePush = true\n")
    assert repo.git("push", "origin", "main", check=False).returncode != 0  # not from a commit
    repo.git("config", "data.allowIncompletePush", "true")
    proc = repo.git("push", "origin", "main")
    assert "pushed anyway" in proc.stderr
    assert subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True,
                          text=True).stdout.strip() == commit


def test_pull_with_everything_cached_needs_no_store(repo: Repo) -> None:
    """Nothing to fetch is success, store or not; a missing object still needs one and says
    how to add it."""
    populate(repo, {"data/a.bin": b"a" * 1000, "data/b.bin": b"b" * 2000})
    proc = repo.data("pull", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to fetch" in proc.stderr and "git-data:" not in proc.stderr
    hexdigest = hashing.hash_bytes(b"b" * 2000).split(":")[1]
    (repo.cache / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest).unlink()
    proc = repo.data("pull", check=False)
    assert proc.returncode == 1 and "git data remote add" in proc.stderr


def test_ls_remote_of_a_store_without_manifests_says_so(repo: Repo, tmp_path: Path) -> None:
    store = tmp_path / "empty-store"
    repo.data("remote", "add", "origin", str(store), "--default")
    proc = repo.data("ls-remote", check=False)
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"no branch has pushed data to origin ({store.as_uri()}) yet (no manifests under "
        "branches/)"]
    assert json.loads(repo.data("ls-remote", "--json").stdout) == []
