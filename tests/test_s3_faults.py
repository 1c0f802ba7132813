"""Transient failures against a real S3 server: a fault-injecting proxy (tests/faultproxy.py)
in front of SeaweedFS resets or stalls a fraction of requests, and a push and a clone of a
few hundred objects still complete, retried with backoff, with every byte verified."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import xxhash
from conftest import Repo, random_bytes, repo_with_s3_store
from faultproxy import FaultProxy

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3_server (one per session), s3 (a bucket per test)

COUNT = 250


@pytest.mark.timeout(240)  # a hang (a wait no timeout covers) fails here, not after 10 min
def test_push_and_clone_complete_through_resets_and_stalls(tmp_path: Path, s3: S3) -> None:
    port = int(s3.endpoint.rsplit(":", 1)[1])
    proxy = FaultProxy(("127.0.0.1", port), reset=0.05, stall=0.012, max_bytes=8_000,
                       seed=7).start()
    with open(s3.home / ".gitconfig", "a") as config:  # a stall costs 1.5 s, not a minute
        config.write('[data "s3"]\n\treadTimeout = 1.5\n[data]\n\tretries = 8\n')
        config.write(f"\ttrustedEndpoint = {proxy.url}\n")  # the clone's .gitdata names it
    try:
        repo, bare = repo_with_s3_store(tmp_path, s3.url(), proxy.url)
        files = {f"data/{i:03}.bin": random_bytes(4_000 + 97 * i, seed=i) for i in range(COUNT)}
        for path, content in files.items():
            repo.write(path, content)
        repo.commit_all()
        repo.git("push", "-q", "origin", "main")
        pushed = dict(proxy.counts)

        clone = Repo(tmp_path / "clone")
        Repo(tmp_path).data("clone", str(bare), str(clone.path))
    finally:
        proxy.stop()

    assert pushed["resets"] >= 3, pushed
    assert proxy.counts["resets"] - pushed["resets"] >= 3, proxy.counts
    assert proxy.counts["stalls"] >= 1, proxy.counts
    for path, content in files.items():
        assert clone.read(path) == content, path
    assert clone.git("status", "--porcelain").stdout == ""
    objects = s3.objects()
    assert len(objects) == COUNT
    for key in objects:  # every stored object is whole: its bytes hash to its name
        data = s3.server.read(s3.bucket, f"project/{key}")
        assert xxhash.xxh3_128_hexdigest(data) == key.rsplit("/", 1)[1]


MiB = 1 << 20
BIG = 80 * MiB  # five ranged GETs of 16 MiB (objects of 64 MiB and more come down in ranges)
RESET_RANGE = b"range: bytes=16777216-"  # the second range of the large object


def reset_second_range(head: bytes) -> tuple[str, int] | None:
    """Reset the second range of the large object a MiB into its body, every time it is
    asked for; slow every GET, so the other ranges are still under way when it fails, just
    as the other objects have their first MiB and open their files."""
    lowered = head.lower()
    if not lowered.startswith(b"get "):
        return None
    if RESET_RANGE in lowered:  # when the other objects' first MiB has arrived
        return "slow-reset", MiB
    return "slow", 0


@pytest.mark.timeout(300)
def test_a_reset_range_touches_no_other_object_and_a_rerun_completes(tmp_path: Path,
                                                                      s3: S3) -> None:
    """A ranged GET of a large object is reset in the middle (on every try) while the other
    ranges and other downloads go on: the pull fails in one line naming that file, every
    cached object hashes to its name and has its size, the other files are written whole,
    and the same pull run again completes, byte for byte."""
    port = int(s3.endpoint.rsplit(":", 1)[1])
    proxy = FaultProxy(("127.0.0.1", port), reset=0, stall=0).start()
    with open(s3.home / ".gitconfig", "a") as config:
        config.write(f"[data]\n\ttrustedEndpoint = {proxy.url}\n")  # the clone's .gitdata names it
    try:
        repo, bare = repo_with_s3_store(tmp_path, s3.url(), proxy.url)
        files = {"big.bin": random_bytes(BIG, seed=1)}
        files.update({f"data/mid-{i}.bin": random_bytes(3 * MiB + i, seed=10 + i)
                      for i in range(12)})
        files.update({f"data/small-{i}.bin": random_bytes(20_000 + i, seed=20 + i)
                      for i in range(4)})
        for path, content in files.items():
            repo.write(path, content)
        repo.commit_all()
        repo.git("push", "-q", "origin", "main")
        Repo(tmp_path).data("clone", str(bare), str(tmp_path / "clone"), "--no-data")
        clone = Repo(tmp_path / "clone")
        clone.git("config", "data.retries", "0")  # one try: the reset range fails the pull

        proxy.pick = reset_second_range
        proc = clone.data("pull", check=False)
        resets = proxy.counts["resets"]
        assert_cache_sound(clone, files)
        first = {path: clone.read(path) for path in files}
        proxy.pick = None
        again = clone.data("pull", check=False)
    finally:
        proxy.stop()

    assert proc.returncode != 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("git-data:")]
    assert len(lines) == 1 and "big.bin" in lines[0], proc.stderr
    assert resets >= 1, proxy.counts
    assert first["big.bin"].startswith(b"version git-data/1\n")  # still the pointer
    for path, content in files.items():
        if path != "big.bin":
            assert first[path] == content, path
    assert again.returncode == 0, again.stderr
    for path, content in files.items():
        assert clone.read(path) == content, path
    assert_cache_sound(clone, files, complete=True)
    assert clone.git("status", "--porcelain").stdout == ""


def assert_cache_sound(repo: Repo, files: dict[str, bytes], complete: bool = False) -> None:
    """Every cached object hashes to its name and is the size of its file; no temporary file
    is left behind; with ``complete``, every file's object is there."""
    sizes = {xxhash.xxh3_128_hexdigest(content): len(content) for content in files.values()}
    cached = repo.cache_objects()
    for path in cached:
        data = path.read_bytes()
        assert xxhash.xxh3_128_hexdigest(data) == path.name, path
        assert len(data) == sizes[path.name], path
    tmp = repo.cache / "tmp"
    assert not tmp.exists() or not [p for p in tmp.iterdir() if p.is_file()]
    if complete:
        assert {p.name for p in cached} == set(sizes)
