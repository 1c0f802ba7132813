"""Runs whose store is S3 (a real SeaweedFS server, tests/seaweed.py) on an SSH host (a real
sshd, tests/sshd.py): the credentials reach the host only through the connection, never a
record, log, spec file or command line; a finished run's file is shared by presigned URL."""

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
