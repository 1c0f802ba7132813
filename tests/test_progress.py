"""Progress on a terminal: bytes counted inside an object as it moves, a rate only from
bytes that moved (a hard-linked object moves none), nothing in a pipe or with -q.

The end-to-end tests run a real `git data pull` on a pseudo-terminal (its stderr is a tty,
as a user's is) and read what it drew."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import Repo, populate, random_bytes, repo_with_s3_store, store_objects
from faultproxy import FaultProxy

from git_data.progress import Progress, human_seconds
from git_data.transfer import LARGE_OBJECT

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3_server (one per session), s3 (a bucket per test)

MiB = 1 << 20
LINE = re.compile(r"(\d+)/(\d+) files, ([\d.]+ [KMGT]?B)/([\d.]+ [KMGT]?B)"
                  r"(?:, ([\d.]+ [KMGT]?B)/s)?(?:, ETA (\S+))?")
UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def as_bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * UNITS[unit]


def on_terminal(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` with stderr on a pseudo-terminal; its exit code and all it drew there."""
    env = {k: v for k, v in os.environ.items() if k != "GIT_DATA_NO_PROGRESS"}
    master, slave = os.openpty()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end
                    break
                if not chunk:
                    break
                drawn += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        code = proc.wait(timeout=30)
    return code, drawn.decode(errors="replace")


def frames(drawn: str) -> list[re.Match[str]]:
    """Every progress line drawn (each redraw starts with a carriage return)."""
    return [m for part in re.split(r"[\r\n]", drawn) if (m := LINE.search(part))]


def pushed_clone(team: tuple[Repo, Path], tmp_path: Path, files: dict[str, bytes],
                 *config: str, name: str = "clone") -> Repo:
    repo, bare = team
    if name == "clone":
        populate(repo, files)
        repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", "--no-data", str(bare), name)
    clone = Repo(tmp_path / name)
    for setting in config:
        key, value = setting.split("=", 1)
        clone.git("config", key, value)
    return clone


# ----- the counter --------------------------------------------------------------------------
def test_a_meter_counts_chunks_and_a_retry_takes_them_back() -> None:
    progress = Progress("x", 2, 30 * MiB, enabled=False)
    meter = progress.meter()
    meter(4 * MiB)
    meter(4 * MiB)
    assert (progress.bytes, progress.files) == (8 * MiB, 0)  # motion inside one object
    meter.restart()  # a retry: what the failed try showed is taken back, not its rate
    assert progress.bytes == 0 and progress.moved == 8 * MiB
    meter(10 * MiB)
    meter.finish(10 * MiB)
    assert (progress.bytes, progress.files) == (10 * MiB, 1)
    linked = progress.meter()
    linked.finish(20 * MiB)  # a hard link moved nothing: done, but not moved
    assert (progress.bytes, progress.files, progress.moved) == (30 * MiB, 2, 18 * MiB)


def test_no_rate_in_the_first_second_nor_from_links_alone() -> None:
    progress = Progress("x", 1, 1 << 30, enabled=False)
    progress.meter().finish(1 << 30)  # a GiB linked in a millisecond
    assert progress.rate(progress.start + 0.001) is None
    assert progress.rate(progress.start + 5) is None  # nothing moved: still no rate
    assert "/s" not in progress.line(progress.start + 5)

    moving = Progress("x", 1, 100 * MiB, enabled=False)
    moving.advance(10 * MiB)
    assert moving.rate(moving.start + 0.5) is None and "ETA" not in moving.line(
        moving.start + 0.5)
    later = moving.start + 2.0
    rate = moving.rate(later)
    assert rate is not None and 4 * MiB < rate < 6 * MiB  # 10 MiB over 2 s
    assert "ETA" in moving.line(later)


def test_human_seconds() -> None:
    assert [human_seconds(s) for s in (4.4, 75, 7300)] == ["4s", "1m15s", "2h01m"]


# ----- a real pull on a terminal ------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_linked_pull_shows_no_rate(team: tuple[Repo, Path], tmp_path: Path) -> None:
    """From a local store on the same file system objects are hard-linked: the files and
    bytes are counted, but no rate (this drew e.g. "736.1 GB/s")."""
    files = {f"data/{i}.bin": random_bytes(2 * MiB + i, seed=i) for i in range(3)}
    clone = pushed_clone(team, tmp_path, files)
    code, drawn = on_terminal(["git-data", "pull"], clone.path)
    assert code == 0, drawn
    seen = frames(drawn)
    assert seen, drawn
    last = seen[-1]
    assert (last[1], last[2]) == ("3", "3") and last[3] == last[4], drawn
    assert all(m[5] is None and m[6] is None for m in seen), drawn
    assert clone.read("data/0.bin") == files["data/0.bin"]


@pytest.mark.timeout(120)
def test_a_copied_pull_never_shows_an_absurd_rate(team: tuple[Repo, Path],
                                                  tmp_path: Path) -> None:
    files = {"big.bin": random_bytes(48 * MiB, seed=3)}
    clone = pushed_clone(team, tmp_path, files, "data.localLinks=false")
    code, drawn = on_terminal(["git-data", "pull"], clone.path)
    assert code == 0, drawn
    seen = frames(drawn)
    assert seen and seen[-1][3] == seen[-1][4], drawn  # all bytes counted in the end
    rates = [as_bytes(m[5]) for m in seen if m[5]]
    assert all(rate < 20e9 for rate in rates), drawn  # a disk copy, not a link's "GB/s"


@pytest.mark.timeout(120)
def test_pipes_and_quiet_draw_nothing(team: tuple[Repo, Path], tmp_path: Path) -> None:
    content = random_bytes(MiB, seed=1)
    clone = pushed_clone(team, tmp_path, {"a.bin": content}, "data.localLinks=false")
    env = {k: v for k, v in os.environ.items() if k != "GIT_DATA_NO_PROGRESS"}
    piped = subprocess.run(["git-data", "pull"], cwd=clone.path, env=env,
                           capture_output=True, text=True, check=True)
    assert "Downloading" not in piped.stderr and "pulled 1 object" in piped.stderr
    assert clone.read("a.bin") == content
    other = pushed_clone(team, tmp_path, {}, "data.localLinks=false", name="other")
    code, drawn = on_terminal(["git-data", "-q", "pull"], other.path)
    assert code == 0 and "Downloading" not in drawn and "pulled" not in drawn, drawn
    assert other.read("a.bin") == content


@pytest.mark.timeout(180)
@pytest.mark.parametrize("size", [4 * MiB, LARGE_OBJECT], ids=["stream", "ranges"])
def test_a_slow_pull_shows_bytes_inside_the_object_and_a_sane_rate(tmp_path: Path, s3: S3,
                                                                   size: int) -> None:
    """One object through a proxy that slows every answer to about 1 MB/s a connection,
    streamed (4 MiB) or in concurrent ranges (64 MiB): the count moves inside the object
    (several byte counts short of the whole while 0 of 1 files is done), and the rate, once
    shown, is of the order of what the command achieved, with an ETA."""
    port = int(s3.endpoint.rsplit(":", 1)[1])
    proxy = FaultProxy(("127.0.0.1", port), reset=0, stall=0).start()
    with open(s3.home / ".gitconfig", "a") as config:
        config.write(f"[data]\n\ttrustedEndpoint = {proxy.url}\n")
    try:
        repo, bare = repo_with_s3_store(tmp_path, s3.url(), proxy.url)
        content = random_bytes(size, seed=5)
        populate(repo, {"big.bin": content})
        repo.git("push", "-q", "origin", "main")
        Repo(tmp_path).data("clone", "--no-data", str(bare), str(tmp_path / "clone"))
        clone = Repo(tmp_path / "clone")
        proxy.pick = lambda head: ("slow", 0) if head.lower().startswith(b"get ") else None
        started = time.monotonic()
        code, drawn = on_terminal(["git-data", "pull"], clone.path)
        took = time.monotonic() - started
    finally:
        proxy.stop()
    assert code == 0, drawn
    assert clone.read("big.bin") == content
    seen = frames(drawn)
    partial = {as_bytes(m[3]) for m in seen if m[1] == "0" and 0 < as_bytes(m[3]) < size}
    assert len(partial) >= 2, drawn  # motion inside the one object
    rates = [as_bytes(m[5]) for m in seen if m[5]]
    assert rates, drawn
    whole = size / took  # the average over the command: a bound for the moving rate
    assert all(rate < 10 * whole for rate in rates), (whole, drawn)
    assert any(m[6] for m in seen if m[1] == "0"), drawn  # an ETA while it moves


# ----- quiet has one source -----------------------------------------------------------------
def test_quiet_from_the_cli_and_from_a_hook_without_a_terminal(team: tuple[Repo, Path],
                                                              tmp_path: Path) -> None:
    """-q (read through progress.is_quiet, not passed down) silences push's note and git's
    own clone output; a push git runs without a terminal (the hook) says nothing either."""
    repo, bare = team
    populate(repo, {"a.bin": random_bytes(5_000, seed=1)})
    hooked = repo.git("push", "origin", "main")  # the pre-push hook, stderr a pipe
    assert "uploaded" not in hooked.stderr, hooked.stderr
    assert len(store_objects(bare / "data")) == 1  # the hook did upload
    populate(repo, {"b.bin": random_bytes(6_000, seed=2)})
    assert "uploaded" not in repo.data("-q", "push").stderr
    populate(repo, {"c.bin": random_bytes(7_000, seed=3)})
    assert "uploaded 1 object" in repo.data("push").stderr
    quiet = Repo(tmp_path).data("-q", "clone", str(bare), "quiet-clone")
    assert quiet.stderr == "", quiet.stderr
    loud = Repo(tmp_path).data("clone", str(bare), "loud-clone")
    assert "Cloning into" in loud.stderr and "pulled" in loud.stderr
