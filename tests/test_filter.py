"""The filter process, tested through real `git add` / `git checkout`."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Repo, make_repo, random_bytes

from git_data import hashing, pointer


def staged_pointer(repo: Repo, path: str) -> pointer.Pointer:
    blob = repo.git("show", f":{path}").stdout.encode()
    parsed = pointer.parse(blob)
    assert parsed is not None, blob
    return parsed


def test_add_commit_checkout_round_trip(repo: Repo) -> None:
    v1 = random_bytes(3_000_000, seed=1)
    v2 = random_bytes(3_000_001, seed=2)
    repo.write("data/train.csv", v1)
    first = repo.commit_all("v1")
    ptr = staged_pointer(repo, "data/train.csv")
    assert ptr.oid == hashing.hash_bytes(v1) and ptr.size == len(v1)
    assert repo.git("cat-file", "-s", "HEAD:data/train.csv").stdout.strip() == str(
        len(ptr.render()))
    repo.write("data/train.csv", v2)
    repo.commit_all("v2")
    repo.git("checkout", "-q", first)
    assert repo.read("data/train.csv") == v1
    assert repo.git("status", "--porcelain").stdout == ""
    repo.git("checkout", "-q", "main")
    assert repo.read("data/train.csv") == v2


def test_one_filter_process_for_many_files(repo: Repo) -> None:
    for i in range(30):
        repo.write(f"data/f{i}.bin", random_bytes(1000, seed=i))
    trace = repo.path / "trace.txt"
    repo.git("add", "-A", env={"GIT_TRACE": str(trace)})
    starts = [line for line in trace.read_text().splitlines()
              if "filter-process" in line and "run_command" in line]
    assert len(starts) == 1, starts
    assert len(repo.cache_objects()) == 30


def test_pointer_file_passes_through_unchanged(repo: Repo) -> None:
    text = pointer.Pointer(hashing.hash_bytes(b"elsewhere"), 9).render()
    repo.write("data/already.bin", text)
    repo.commit_all()
    assert repo.git("show", "HEAD:data/already.bin").stdout.encode() == text
    assert repo.cache_objects() == []


def test_empty_file_stays_empty(repo: Repo) -> None:
    repo.write("data/empty.bin", b"")
    repo.commit_all()
    assert repo.git("cat-file", "-s", "HEAD:data/empty.bin").stdout.strip() == "0"
    (repo.path / "data/empty.bin").unlink()
    repo.git("checkout", "--", "data/empty.bin")
    assert repo.read("data/empty.bin") == b""


def test_malformed_pointer_is_kept_as_content(repo: Repo) -> None:
    bad = b"version git-data/1\noid xxh128:nothex" + b"0" * 25 + b"\nsize 3\n"
    repo.write("data/odd.bin", bad)
    repo.commit_all()
    ptr = staged_pointer(repo, "data/odd.bin")  # stored as an object like any content
    assert ptr.oid == hashing.hash_bytes(bad)
    (repo.path / "data/odd.bin").unlink()
    repo.git("checkout", "--", "data/odd.bin")
    assert repo.read("data/odd.bin") == bad


FUTURE_POINTERS = [
    (b"version git-data/7\noid xxh128:" + b"a" * 32 + b"\nsize 3\n", "git-data/7"),
    (b"version git-data/1\noid blake9:" + b"a" * 32 + b"\nsize 3\n", "blake9"),
]


@pytest.mark.parametrize("text,needle", FUTURE_POINTERS)
def test_unknown_pointer_is_reported_once_and_kept_as_content(repo: Repo, text: bytes,
                                                              needle: str) -> None:
    repo.write("data/future.bin", text)
    repo.write("data/fine.bin", b"fine")
    proc = repo.git("add", "data/future.bin", "data/fine.bin")
    lines = [x for x in proc.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1 and "data/future.bin" in lines[0] and needle in lines[0], lines
    assert repo.git("show", ":data/future.bin").stdout.encode() == text  # as it is, unchanged
    assert staged_pointer(repo, "data/fine.bin").size == 4  # the other file goes on as data
    assert repo.cache_objects() and len(repo.cache_objects()) == 1


@pytest.mark.parametrize("text,needle", FUTURE_POINTERS)
def test_committed_unknown_pointer_does_not_block_a_clone(tmp_path: Path, text: bytes,
                                                          needle: str) -> None:
    """A pointer from a newer git-data, committed upstream: in a clone, git status, git add
    of other files and checkout go on; the file is plain content, reported with one line."""
    origin = make_repo(tmp_path / "origin")
    sha = origin.git("hash-object", "-w", "--stdin", input=text).stdout.strip()
    origin.git("update-index", "--add", "--cacheinfo", f"100644,{sha},data/future.bin")
    origin.write("data/fine.bin", random_bytes(5000, seed=9))
    origin.git("add", "data/fine.bin", ".gitattributes")
    origin.git("commit", "-qm", "future pointer")
    clone = Repo(tmp_path / "clone")
    origin.git("clone", "-q", str(origin.path), str(clone.path))
    clone.data("install")
    clone.git("checkout", "-q", "-f", "HEAD")
    assert clone.read("data/future.bin") == text
    status = clone.git("status", "--porcelain")
    assert status.stdout == ""
    lines = [x for x in status.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) <= 1 and all("data/future.bin" in x and needle in x for x in lines)
    clone.write("data/new.bin", b"new data")
    clone.git("add", "data/new.bin")
    assert staged_pointer(clone, "data/new.bin").size == 8
    for command in (("status",), ("ls-files",), ("pull",)):
        proc = clone.data(*command)
        lines = [x for x in proc.stderr.splitlines() if "data/future.bin" in x]
        assert len(lines) == 1 and needle in lines[0] and "skipped" in lines[0], (command, proc)
    assert "data/fine.bin" in clone.data("ls-files").stdout


def test_altered_cache_object_is_reported_not_checked_out(repo: Repo) -> None:
    good = random_bytes(200_000, seed=3)
    repo.write("data/a.bin", good)
    repo.commit_all()
    obj = repo.cache_objects()[0]
    obj.chmod(0o644)
    obj.write_bytes(b"X" + good[1:])
    (repo.path / "data/a.bin").unlink()
    proc = repo.git("checkout", "--", "data/a.bin", check=False)
    assert proc.returncode != 0
    assert "corrupt" in proc.stderr and "data/a.bin" in proc.stderr
    assert not (repo.path / "data/a.bin").exists()  # nothing half-written, no wrong bytes


def test_missing_object_leaves_pointer_and_checkout_succeeds(repo: Repo) -> None:
    content = random_bytes(50_000, seed=4)
    repo.write("data/gone.bin", content)
    repo.commit_all()
    for obj in repo.cache_objects():
        obj.unlink()
    (repo.path / "data/gone.bin").unlink()
    proc = repo.git("checkout", "--", "data/gone.bin")
    assert pointer.parse(repo.read("data/gone.bin")) is not None
    assert "git data pull" in proc.stderr and "1 file" in proc.stderr
    status = repo.data("status").stdout
    assert "pointer" in status and "data/gone.bin" in status and "not in cache" in status


def test_nothing_but_protocol_on_stdout(repo: Repo) -> None:
    """Run the filter by hand with a byte-exact transcript: every byte on stdout is pkt-line."""
    from git_data.filter.pktline import PktReader

    def pkt(text: bytes) -> bytes:
        return b"%04x" % (len(text) + 4) + text

    content = b"some content\n" * 100
    request = (pkt(b"git-filter-client\n") + pkt(b"version=2\n") + b"0000"
               + pkt(b"capability=clean\n") + pkt(b"capability=smudge\n") + b"0000"
               + pkt(b"command=clean\n") + pkt(b"pathname=x.bin\n") + b"0000"
               + pkt(content) + b"0000")
    proc = subprocess.run(["git-data", "filter-process"], cwd=repo.path, input=request,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    import io

    reader = PktReader(io.BytesIO(proc.stdout))
    assert reader.read_text_list() == ["git-filter-server", "version=2"]
    assert reader.read_text_list() == ["capability=clean", "capability=smudge"]
    assert reader.read_text_list() == ["status=success"]
    body = b"".join(reader.iter_content())
    assert pointer.parse(body) == pointer.Pointer(hashing.hash_bytes(content), len(content))
    assert reader.read_text_list() == []
    with pytest.raises(EOFError):
        reader.read()


@pytest.mark.parametrize("name", ["with space.bin", "ünïcødé.bin", "-leading-dash.bin",
                                  "new\nline.bin"])
def test_awkward_file_names(repo: Repo, name: str) -> None:
    content = random_bytes(10_000, seed=len(name))
    repo.data("track", "--", name)
    repo.write(name, content)
    repo.commit_all()
    listed = repo.data("ls-files", "--json").stdout
    assert hashing.hash_bytes(content) in listed
    (repo.path / name).unlink()
    repo.git("checkout", "--", name)
    assert repo.read(name) == content


def test_file_changing_while_added_stores_consistent_object(repo: Repo) -> None:
    path = repo.write("data/live.bin", random_bytes(20_000_000, seed=5))
    stop = threading.Event()

    def scribble() -> None:
        i = 0
        while not stop.is_set():
            with open(path, "r+b") as stream:
                stream.seek((i * 7919) % 20_000_000)
                stream.write(os.urandom(4096))
            i += 1

    thread = threading.Thread(target=scribble)
    thread.start()
    try:
        repo.git("add", "data/live.bin")
    finally:
        stop.set()
        thread.join()
    ptr = staged_pointer(repo, "data/live.bin")
    cache_file = repo.cache / "objects" / ptr.hex[:2] / ptr.hex[2:4] / ptr.hex
    assert hashing.hash_file(str(cache_file)) == (ptr.oid, ptr.size)


def test_sigkill_during_add_then_add_again(repo: Repo) -> None:
    big = repo.path / "data" / "big.bin"
    big.parent.mkdir()
    with open(big, "wb") as stream:
        for i in range(40):
            stream.write(random_bytes(5_000_000, seed=i))
    proc = subprocess.Popen(["git", "add", "data/big.bin"], cwd=repo.path,
                            stderr=subprocess.PIPE)
    killed = _kill_filter_when_writing(repo)
    proc.wait(timeout=60)
    assert killed
    objects_dir = repo.cache / "objects"
    assert not objects_dir.exists() or repo.cache_objects() == []  # nothing partial in place
    repo.git("add", "data/big.bin")
    ptr = staged_pointer(repo, "data/big.bin")
    assert hashing.hash_file(str(big)) == (ptr.oid, ptr.size)
    assert [p.name for p in repo.cache_objects()] == [ptr.hex]


def _kill_filter_when_writing(repo: Repo) -> bool:
    deadline = time.time() + 30
    tmp = repo.cache / "tmp"
    while time.time() < deadline:
        if tmp.exists() and any(p.stat().st_size > 10_000_000 for p in tmp.iterdir()):
            out = subprocess.run(["pgrep", "-f", "git-data filter-process"],
                                 capture_output=True, text=True).stdout.split()
            for pid in out:
                os.kill(int(pid), signal.SIGKILL)
            return bool(out)
        time.sleep(0.01)
    return False


def test_two_clones_share_cache_dir_concurrently(tmp_path: Path) -> None:
    shared = tmp_path / "shared-cache"
    repos = [make_repo(tmp_path / f"r{i}") for i in range(2)]
    common = random_bytes(8_000_000, seed=9)
    for i, r in enumerate(repos):
        r.git("config", "data.cacheDir", str(shared))
        r.write("data/common.bin", common)
        r.write(f"data/own{i}.bin", random_bytes(8_000_000, seed=10 + i))
    procs = [subprocess.Popen(["git", "add", "-A"], cwd=r.path) for r in repos]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    oids = {hashing.hash_bytes(common), hashing.hash_bytes(random_bytes(8_000_000, seed=10)),
            hashing.hash_bytes(random_bytes(8_000_000, seed=11))}
    found = {f"xxh128:{p.name}" for p in (shared / "objects").rglob("*") if p.is_file()}
    assert found == oids
    for p in (shared / "objects").rglob("*"):
        if p.is_file():
            assert hashing.hash_file(str(p))[0] == f"xxh128:{p.name}"
    assert not (repos[0].cache / "objects").exists()


@pytest.mark.slow
def test_sparse_4gib_file_in_constant_memory(repo: Repo) -> None:
    path = repo.path / "data" / "sparse.bin"
    path.parent.mkdir()
    with open(path, "wb") as stream:
        stream.truncate(4 * 1024**3 + 17)
    rss_file = repo.path / "rss.txt"
    repo.git("add", "data/sparse.bin", env={"GIT_DATA_REPORT_RSS": str(rss_file)})
    ptr = staged_pointer(repo, "data/sparse.bin")
    assert ptr.size == 4 * 1024**3 + 17
    peak_kb = int(rss_file.read_text().split()[0])
    assert peak_kb < 100 * 1024, f"filter peak RSS {peak_kb} KB"
    for obj in repo.cache_objects():
        obj.unlink()  # free 4 GiB of disk early
