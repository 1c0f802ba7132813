"""The transfer queue: its thread runner (transfer.run_parallel), the sizes it trusts and the
lines it prints for failures."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import hashing, retry
from git_data.cache import Cache
from git_data.errors import FatalError
from git_data.store import Capabilities, LocalStore, TransientStoreError, open_store
from git_data.transfer import Failure, Item, Result, TransferQueue, run_parallel


def items(count: int) -> list[Item]:
    return [Item(f"xxh128:{i:032x}", i, f"f{i}") for i in range(count)]


def test_every_item_once_on_several_threads() -> None:
    seen: list[int] = []
    threads: set[int] = set()
    lock = threading.Lock()

    def work(item: Item) -> None:
        time.sleep(0.002)  # long enough for the other threads to take their share
        with lock:
            seen.append(item.size)
            threads.add(threading.get_ident())

    run_parallel(work, items(200), 8)
    assert sorted(seen) == list(range(200))
    assert len(threads) > 1


def test_an_interrupt_starts_no_new_transfers_and_waits_for_those_under_way() -> None:
    started: list[int] = []
    finished: list[int] = []
    lock = threading.Lock()
    main = threading.get_ident()

    def work(item: Item) -> None:
        with lock:
            started.append(item.size)
        if threading.get_ident() == main and len(started) > 4:
            raise KeyboardInterrupt
        time.sleep(0.01)
        with lock:
            finished.append(item.size)

    with pytest.raises(KeyboardInterrupt):
        run_parallel(work, items(500), 4)
    assert len(started) < 500  # the rest were never handed out
    assert len(finished) == len(started) - 1  # every other one ran to its end


def pointer_text(oid: str, size: int) -> bytes:
    return f"version git-data/1\noid {oid}\nsize {size}\n".encode()


@pytest.mark.parametrize("links", ["true", "false"])
def test_a_pointer_smaller_than_the_local_store_object_is_refused(
        team: tuple[Repo, Path], tmp_path: Path, links: str) -> None:
    """A ``size 7`` pointer naming a 5,000-byte object of a local store: the pull refuses it
    in one line naming the file (hard link or copy alike), and nothing lands in the cache
    or the work tree."""
    repo, bare = team
    content = random_bytes(5_000, seed=3)
    oid = hashing.hash_bytes(content)
    repo.write("data/real.bin", content)
    repo.commit_all("real")
    repo.git("push", "-q", "origin", "main")
    repo.git("rm", "-q", "data/real.bin")
    repo.write("data/seven.bin", pointer_text(oid, 7))  # an exact pointer: stored as it is
    repo.commit_all("a pointer that lies about its size")
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    clone.git("config", "data.localLinks", links)

    proc = clone.data("pull", check=False)
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1 and "data/seven.bin" in lines[0], proc.stderr
    assert "5000 bytes" in lines[0] and "not the 7" in lines[0], lines[0]
    assert clone.cache_objects() == []
    assert not [p for p in (clone.cache / "tmp").rglob("*") if p.is_file()]
    assert clone.read("data/seven.bin") == pointer_text(oid, 7)


def test_failures_print_one_line_per_cause_with_a_count(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """500 files refused for one reason and one missing: two lines and the summary, not one
    line per file; a single cause is a single line."""
    result = Result()
    refused = "store origin (s3://b/p): the credentials were refused (AccessDenied)"
    for item in items(500):
        result.failed.append(Failure(item, "origin (s3://b/p)", refused))
    result.failed.append(Failure(Item("xxh128:" + "1" * 32, 5, "lost.bin"), "origin", "gone"))
    with pytest.raises(FatalError, match=r"501 object\(s\) failed to download.*2 causes"):
        result.raise_for_failures("download")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("git-data: could not download 500 files (f0, f1, f2, ...) from "
                               "origin (s3://b/p): " + refused)
    assert "lost.bin" in lines[1] and "gone" in lines[1]

    single = Result(failed=result.failed[:500])
    with pytest.raises(FatalError) as raised:
        single.raise_for_failures("download")
    assert "500 files" in str(raised.value) and "\n" not in str(raised.value)
    assert capsys.readouterr().err == ""


def test_an_impossible_size_is_never_asked_for(tmp_path: Path) -> None:
    """An item larger than any file fails at once, naming its file, with no store asked."""
    queue = TransferQueue(Cache(tmp_path / "cache"), quiet=True)
    huge = Item("xxh128:" + "2" * 32, 2**64, "huge.bin")
    result = queue.download([huge], [open_store(str(tmp_path / "no-such-store"))])
    assert [f.item.path for f in result.failed] == ["huge.bin"]
    assert "impossible" in result.failed[0].error


def test_a_pointer_of_an_impossible_size_is_named_and_left_alone(team: tuple[Repo, Path],
                                                                  tmp_path: Path) -> None:
    """A committed pointer of size 10**20 - 1 (past the clean filter, as a hostile commit
    carries it): checking it out names the file in one line and leaves the pointer text;
    a pull asks no store for it and writes nothing."""
    repo, bare = team
    text = pointer_text("xxh128:" + "c" * 32, 10**20 - 1)
    sha = repo.run("git", "hash-object", "-w", "--no-filters", "--stdin", input=text
                   ).stdout.strip()
    repo.git("update-index", "--add", "--cacheinfo", f"100644,{sha},data/absurd.bin")
    repo.git("add", ".gitattributes")
    repo.git("commit", "-q", "-m", "absurd")
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), "copy", "--no-data")
    clone = Repo(tmp_path / "copy")
    (clone.path / "data" / "absurd.bin").unlink()
    started = time.monotonic()
    proc = clone.git("checkout", "--", "data/absurd.bin")
    lines = [x for x in proc.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1 and "data/absurd.bin" in lines[0], proc.stderr
    assert "beyond the largest possible file" in lines[0]
    assert clone.read("data/absurd.bin") == text
    clone.data("pull")
    assert time.monotonic() - started < 30
    assert clone.read("data/absurd.bin") == text and clone.cache_objects() == []


def test_the_retry_policy_retries_only_transient_errors_and_stops_after_its_attempts() -> None:
    policy = retry.Policy(attempts=3, base_s=0.001)
    calls: list[int] = []

    def flaky(error: Exception, fails: int) -> object:
        def action() -> str:
            calls.append(1)
            if len(calls) <= fails:
                raise error
            return "done"
        return action

    assert policy.run(flaky(ConnectionResetError(), 2)) == "done" and len(calls) == 3
    for error in (ValueError("bad"), FileNotFoundError("gone")):
        calls.clear()
        with pytest.raises(type(error)):
            policy.run(flaky(error, 5))
        assert len(calls) == 1  # permanent: never tried again
    calls.clear()
    with pytest.raises(TransientStoreError):
        policy.run(flaky(TransientStoreError("store x: 503"), 5))
    assert len(calls) == 3  # a store's transient error is marked so; the last one is raised
    assert all(0.1 <= retry.backoff(0) <= 0.3 for _ in range(50))
    assert retry.backoff(20) <= 12.0  # capped (8 s) times at most 1.5


def test_stores_declare_what_they_can_and_the_queue_follows(tmp_path: Path) -> None:
    """A folder links and has no bulk calls; a store that declares ``bulk`` gets the small
    objects in rounds through put_many and the large ones one by one."""
    from git_data.store.s3 import S3Store

    local = open_store(str(tmp_path / "store"))
    assert local.capabilities.local_path and not local.capabilities.bulk
    assert S3Store.capabilities.bulk and S3Store.capabilities.ranged_get
    same = Capabilities(copy_service="s3 http://a")
    assert same.copies_from(Capabilities(copy_service="s3 http://a"))
    assert not same.copies_from(Capabilities(copy_service="s3 http://b"))
    assert not Capabilities().copies_from(Capabilities())

    rounds: list[list[str]] = []

    class BulkFolder(LocalStore):
        capabilities = Capabilities(bulk=True, local_path=True)

        def put_many(self, objects: list[tuple[str, str]]) -> dict[str, BaseException | None]:
            rounds.append([oid for oid, _ in objects])
            for oid, path in objects:
                self.put_object(oid, path)
            return {oid: None for oid, _ in objects}

    cache = Cache(tmp_path / "cache")
    items = []
    for i, size in enumerate((100, 2000, 2 << 20)):
        data = random_bytes(size, seed=i)
        with cache.writer() as writer:
            writer.write(data)
            oid = writer.commit()
        items.append(Item(oid, size, f"f{i}"))
    store = BulkFolder(str(tmp_path / "bulk"))
    result = TransferQueue(cache, quiet=True).upload(items, store)
    assert result.ok and len(result.done) == 3
    assert [sorted(r) for r in rounds] == [sorted(i.oid for i in items[:2])]
    assert store.has_many(i.oid for i in items) == {i.oid for i in items}
