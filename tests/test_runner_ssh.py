"""`git data run` on an SSH host: the system OpenSSH server on a loopback port (tests/sshd.py),
the system ssh client, the agent shipped over the connection. Nothing here is mocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Repo
from sshd import SshServer, free_port, sshd_host_fixture, sshd_server_fixture
from test_runner_local import make_project, one_error_line, record, stop_and_check, store_dir

FIXTURES = (sshd_host_fixture, sshd_server_fixture)  # sshd_host and sshd_server, used below


@pytest.fixture
def remote(team: tuple[Repo, Path], sshd_host: SshServer, tmp_path: Path
           ) -> tuple[Repo, Path]:
    """The project with an SSH host `gpu` (the default host of this clone)."""
    repo = make_project(team)
    workdir = tmp_path / "hostwork"
    repo.data("host", "add", "gpu", sshd_host.url(), "--workdir", str(workdir), "--personal",
              "--default")
    return repo, workdir


def test_first_run_installs_then_data_and_environment_are_reused(
        remote: tuple[Repo, Path], team: tuple[Repo, Path]) -> None:
    repo, workdir = remote
    repo.write("requirements.txt", b"--no-index\npip\n")
    repo.commit_all("requirements")
    first = repo.data("run", "--", "python3", "train.py", "x y")
    assert "data: hello data" in first.stdout and "args: ['x y']" in first.stdout
    assert "installing git-data" in first.stderr
    assert "downloading 2 data object(s)" in first.stderr
    rec1 = record(repo, 1)
    assert rec1["host"]["name"] == "gpu" and rec1["status"] == "succeeded"
    assert rec1["data"]["downloaded"] == 2 and rec1["data"]["cached"] == 0
    assert rec1["environment"]["reused"] is False
    assert (store_dir(team) / "runs/1/outputs/model.txt").read_text() == "weights v1\n"
    second = repo.data("run", "--", "python3", "train.py")
    assert "installing" not in second.stderr and "downloading" not in second.stderr
    rec2 = record(repo, 2)
    assert rec2["data"]["downloaded"] == 0 and rec2["data"]["cached"] == 2
    assert rec2["environment"]["reused"] is True
    assert rec2["environment"]["hash"] == rec1["environment"]["hash"]
    assert len(list((workdir / "agent").iterdir())) == 1
    checkout = Path(rec2["host"]["rundir"]) / "code"
    placed = (checkout / "data" / "a.txt").stat()
    # the run's own copy: a run writing to its input cannot change the host cache
    cached = [p for p in (workdir / "cache" / "objects").rglob("*") if p.is_file()]
    assert placed.st_nlink == 1 and placed.st_ino not in {p.stat().st_ino for p in cached}
    shutil.rmtree(workdir / "agent")  # the host lost the agent: the next run ships it again
    third = repo.data("run", "--", "python3", "train.py")
    assert "installing git-data" in third.stderr and "data: hello data" in third.stdout


def test_a_bare_python_gets_the_modules_it_lacks_shipped(
        remote: tuple[Repo, Path], sshd_host: SshServer, tmp_path: Path) -> None:
    bare = "/usr/bin/python3"
    if not os.path.exists(bare) or subprocess.run(
            [bare, "-c", "import xxhash"], capture_output=True).returncode == 0:
        pytest.skip("needs a system python3 without xxhash")
    repo, _ = remote
    repo.data("host", "add", "plain", sshd_host.url(), "--workdir", str(tmp_path / "plain"),
              "--python", bare, "--personal")
    proc = repo.data("run", "--host", "plain", "--", bare, "train.py")
    assert "shipping xxhash" in proc.stderr
    assert "data: hello data" in proc.stdout  # downloaded and verified with the shipped xxhash
    assert record(repo, 1)["host"]["python"].startswith("3.")
    assert list((tmp_path / "plain" / "agent").glob("*/deps/xxhash-*"))


def test_connection_problems_are_one_clear_line(remote: tuple[Repo, Path],
                                                sshd_host: SshServer) -> None:
    repo, _ = remote
    cases = {
        "nouser": (sshd_host.url(user="no-such-user-gd"), "permission denied"),
        "newkey": (f"ssh://root@localhost:{sshd_host.port}", "host key"),
        "nopython": (sshd_host.url(port=sshd_host.nopython_port), "has no usable python3"),
        "closed": (f"ssh://root@127.0.0.1:{free_port()}", "connection refused"),
    }
    for name, (url, expected) in cases.items():
        repo.data("host", "add", name, url, "--personal")
        line = one_error_line(repo.data("run", "--host", name, "--", "true", check=False))
        assert expected in line, (name, line)
        assert f"host {name}" in line
    assert json.loads(repo.data("runs", "--json").stdout) == []  # nothing was started


def test_client_killed_then_logs_follow_from_another_clone(
        remote: tuple[Repo, Path], team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, _ = remote
    repo.git("push", "-q", "origin", "main")
    script = "for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.3; done; exit 7"
    client = subprocess.Popen(["git-data", "run", "--", "sh", "-c", script], cwd=repo.path,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert client.stdout is not None
    assert client.stdout.readline() == b"line 1\n"
    client.send_signal(signal.SIGKILL)
    client.wait()
    subprocess.run(["git", "clone", "-q", str(team[1]), str(tmp_path / "other")], check=True)
    other = Repo(tmp_path / "other")
    follow = other.data("logs", "1", "--follow", check=False)
    assert follow.returncode == 7
    assert follow.stdout.splitlines() == [f"line {i}" for i in range(1, 9)]
    assert record(other, 1)["status"] == "failed"
    assert "line 8" in other.data("logs", "1").stdout  # after the end, too


def test_stop_ends_the_process_group_on_the_host(remote: tuple[Repo, Path],
                                                 tmp_path: Path) -> None:
    stop_and_check(remote[0], [], tmp_path)


def test_the_run_survives_its_connection(remote: tuple[Repo, Path]) -> None:
    repo, _ = remote
    start = time.monotonic()
    run_id = int(repo.data("run", "--detach", "--", "sh", "-c", "sleep 1; echo done").stdout)
    assert time.monotonic() - start < 20
    assert record(repo, run_id)["status"] in ("starting", "preparing", "running")
    follow = repo.data("logs", str(run_id), "--follow")
    assert follow.stdout == "done\n"
