"""Transient failures against a real S3 server: a fault-injecting proxy (tests/faultproxy.py)
in front of SeaweedFS resets or stalls a fraction of requests, and a push and a clone of a
few hundred objects still complete, retried with backoff, with every byte verified."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import xxhash
from conftest import Repo, make_repo, random_bytes
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
        bare = tmp_path / "team.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        repo = make_repo(tmp_path / "work")
        repo.git("remote", "add", "origin", str(bare))
        repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", proxy.url, "--default")
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
