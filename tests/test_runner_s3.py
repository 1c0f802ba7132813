"""Runs whose store is S3 (a real SeaweedFS server, tests/seaweed.py) on an SSH host (a real
sshd, tests/sshd.py): the credentials reach the host only through the connection, never a
record, log, spec file or command line; a finished run's file is shared by presigned URL;
a growing file reaches S3 in parts while the run goes on (runner/host/parts.py)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from conftest import make_repo
from seaweed import S3, s3, s3_server  # noqa: F401  (fixtures)
from sshd import SshServer, sshd_host_fixture, sshd_server_fixture
from test_runner_local import FAST, TRAIN, record

FIXTURES = (sshd_host_fixture, sshd_server_fixture)  # sshd_host and sshd_server, used below


def test_s3_store_run_on_ssh_host_with_shared_output(tmp_path: Path, s3: S3,  # noqa: F811
                                                     sshd_host: SshServer) -> None:
    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    for key, value in FAST.items():
        repo.git("config", key, value)
    repo.write("train.py", TRAIN.encode())
    repo.write("data/a.txt", b"hello data\n")
    repo.commit_all("project")
    workdir = tmp_path / "hostwork"
    repo.data("host", "add", "gpu", sshd_host.url(), "--workdir", str(workdir), "--personal")
    secret = s3.server.secret_key

    proc = repo.data("run", "--host", "gpu", "--", "python3", "train.py")
    assert "data: hello data" in proc.stdout  # the object went to S3, then to the host
    rec = record(repo, 1)
    assert rec["status"] == "succeeded" and rec["store"]["url"] == s3.url()
    keys = s3.keys()
    assert {"runs/1/run.json", "runs/1/logs/output.log", "runs/1/outputs/model.txt"} <= set(keys)
    assert "data: hello data" in repo.data("logs", "1").stdout

    url = repo.data("share", "runs/1/outputs/model.txt", "--expires", "1h").stdout.strip()
    assert url.startswith(s3.endpoint) and "Signature" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback SeaweedFS
        assert response.read() == b"weights v1\n"
    assert "7 days" in repo.data("share", "runs/1/outputs/model.txt", "--expires", "8d",
                                 check=False).stderr

    rundir = Path(rec["host"]["rundir"])
    assert not (rundir / ".secrets.json").exists()
    host_files = [p for p in rundir.rglob("*") if p.is_file() and "code" not in p.parts]
    assert host_files
    for path in host_files:
        assert secret not in path.read_text(errors="replace"), path
    for key in keys:
        if key.startswith("runs/"):
            assert secret.encode() not in s3.server.read(s3.bucket, f"project/{key}"), key
    assert secret not in proc.stdout + proc.stderr + json.dumps(rec)


def test_s3_store_gets_parts_while_the_run_goes_on_and_keeps_them_after_kill_9(
        tmp_path: Path, s3: S3) -> None:  # noqa: F811
    from test_runner_liveness import LIVE, host_state, kill_host_side
    from test_runner_liveness import TRAIN as LOOP
    from test_runner_local import wait_for

    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    for key, value in {**FAST, **LIVE}.items():
        repo.git("config", key, value)
    repo.write("loop.py", LOOP.encode())
    repo.commit_all("project")
    run_id = int(repo.data("run", "-d", "--", "python3", "loop.py").stdout)
    state = host_state(repo, run_id)
    folder = f"runs/{run_id}/parts/outputs/metrics.jsonl/1/"

    def parts() -> list[str]:
        return sorted(k for k in s3.keys() if k.startswith(folder))

    wait_for(lambda: len(parts()) >= 3, 60, "three parts of metrics.jsonl in S3")
    wait_for(lambda: f"runs/{run_id}/outputs/last.ckpt" in s3.keys(), 30, "the checkpoint")
    manifest = json.loads(s3.server.read(s3.bucket, f"project/runs/{run_id}/parts/outputs/"
                                                    "metrics.jsonl/manifest.json"))
    assert manifest["mode"] == "parts" and manifest["parts"] >= 3
    kill_host_side(state)
    pieces = [s3.server.read(s3.bucket, f"project/{k}") for k in parts()]
    offsets = [int(k.rsplit("/", 1)[1]) for k in parts()]
    assert offsets == [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    lines = b"".join(pieces).splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(len(lines)))
    assert s3.server.read(s3.bucket, f"project/runs/{run_id}/outputs/last.ckpt") == b"step 2\n"
    got = repo.data("cp", f"runs/{run_id}/outputs/metrics.jsonl", "-").stdout.encode()
    assert got.startswith(b"".join(pieces)) and "step 1" in repo.data("logs", str(run_id)).stdout


HOST_OWN = {"botocore", "fsspec", "urllib3", "python-dateutil", "jmespath", "six"}


def broken_host_python(base: Path) -> Path:
    """A host python whose own s3fs imports but sits on an older botocore and fsspec: Debian's
    python3-botocore (1.29) and python3-fsspec under this client's s3fs and aiobotocore, as a
    `pip install --no-deps s3fs` on such a machine leaves it."""
    import io
    import subprocess
    import tarfile

    import pytest

    from git_data.runner import ship

    system = "/usr/bin/python3"
    old = subprocess.run([system, "-c", "import botocore; print(botocore.__version__)"],
                         capture_output=True, text=True)
    if old.returncode != 0 or tuple(map(int, old.stdout.split(".")[:2])) >= (1, 40):
        pytest.skip("needs Debian's python3-botocore (an older botocore) in /usr/bin/python3")
    subprocess.run([system, "-m", "venv", "--system-site-packages", "--without-pip", str(base)],
                   check=True)
    site = next(base.glob("lib/python3*/site-packages"))
    for dist in ship.closure(["s3fs", "xxhash"]):
        if dist.metadata["Name"].lower() not in HOST_OWN:
            with tarfile.open(fileobj=io.BytesIO(ship.dist_tar(dist))) as tar:
                tar.extractall(site, filter="data")
    python = base / "bin" / "python"
    broken = subprocess.run([str(python), "-c", "import s3fs"], capture_output=True, text=True)
    assert broken.returncode != 0 and "botocore" in broken.stderr  # the host as it really is
    return python


def test_a_host_with_an_older_botocore_runs_an_s3_store_run_on_the_shipped_set(
        tmp_path: Path, s3: S3, sshd_host: SshServer) -> None:  # noqa: F811
    python = broken_host_python(tmp_path / "hostpy")
    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    for key, value in FAST.items():
        repo.git("config", key, value)
    repo.write("train.py", TRAIN.encode())
    repo.write("data/a.txt", b"hello data\n")
    repo.commit_all("project")
    workdir = tmp_path / "hostwork"
    repo.data("host", "add", "old", sshd_host.url(), "--workdir", str(workdir),
              "--python", str(python), "--personal")
    proc = repo.data("run", "--host", "old", "--", "python3", "train.py")
    assert "shipping botocore" in proc.stderr and "shipping s3fs" in proc.stderr
    assert "data: hello data" in proc.stdout  # fetched from S3 through the shipped botocore
    assert record(repo, 1)["status"] == "succeeded"
    assert {"runs/1/outputs/model.txt", "runs/1/logs/output.log"} <= set(s3.keys())
    assert list(workdir.glob("agent/*/deps/botocore-*"))
