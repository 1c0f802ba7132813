"""A real OpenSSH server on loopback ports for the runner's tests (no mock of ssh anywhere).

``sshd_server`` (one per session) runs the system ``/usr/sbin/sshd`` as the current user with
generated host and user keys, on two free loopback ports:

- ``port``: an ordinary login;
- ``nopython_port``: the same server, but ``Match LocalPort`` gives sessions there
  ``PATH=/nonexistent``, so the remote shell finds no ``python3`` (a host without Python).

``sshd_host`` (per test) puts a known_hosts entry, the user key and an ssh config into the
test's private HOME (``~/.ssh``) and points git-data at that config through
``GIT_DATA_SSH_COMMAND``: OpenSSH reads ``~`` from the password database, not ``$HOME``.

Use it from a test module with ``from sshd import sshd_host_fixture, sshd_server_fixture``
(the fixtures are named ``sshd_host`` and ``sshd_server``).
Needs the ``openssh-server`` package (Debian/Ubuntu); the tests skip with that hint without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class SshServer:
    port: int
    nopython_port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    user_key: Path
    base: Path
    proc: subprocess.Popen[bytes]

    def url(self, user: str | None = None, port: int | None = None) -> str:
        user = user or _user()
        return f"ssh://{user}@127.0.0.1:{port or self.port}"


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "git-data-test",
                    "-f", str(path)], check=True)


def start_sshd(base: Path) -> SshServer:
    base.mkdir(parents=True, exist_ok=True)
    _keygen(base / "host_key")
    _keygen(base / "user_key")
    shutil.copyfile(base / "user_key.pub", base / "authorized_keys")
    port, nopython = free_port(), free_port()
    (base / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
HostKey {base / 'host_key'}
PidFile {base / 'sshd.pid'}
AuthorizedKeysFile {base / 'authorized_keys'}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxStartups 100:30:200
MaxSessions 100
Match LocalPort {nopython}
    SetEnv PATH=/nonexistent
""")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    log = open(base / "sshd.log", "ab")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config"),
                             "-p", str(port), "-p", str(nopython)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd failed: {(base / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            socket.create_connection(("127.0.0.1", nopython), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    host_key = " ".join((base / "host_key.pub").read_text().split()[:2])
    return SshServer(port, nopython, host_key, base / "user_key", base, proc)


def configure_client(server: SshServer, home: Path) -> str:
    """Write ~/.ssh (known_hosts, key, config) under ``home``; returns the ssh command."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "known_hosts").write_text(
        "".join(f"[127.0.0.1]:{p} {server.host_key}\n"
                for p in (server.port, server.nopython_port)))
    shutil.copyfile(server.user_key, ssh / "id_ed25519")
    os.chmod(ssh / "id_ed25519", 0o600)
    (ssh / "config").write_text(f"""\
Host *
    UserKnownHostsFile {ssh / 'known_hosts'}
    IdentityFile {ssh / 'id_ed25519'}
    IdentitiesOnly yes
    StrictHostKeyChecking yes
    LogLevel ERROR
""")
    return f"ssh -F {ssh / 'config'}"


def stop_sshd(server: SshServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session", name="sshd_server")
def sshd_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        pytest.skip("needs OpenSSH: apt-get install -y openssh-server openssh-client")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_sshd(server)


@pytest.fixture(name="sshd_host")
def sshd_host_fixture(sshd_server: SshServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
              ) -> SshServer:
    monkeypatch.setenv("GIT_DATA_SSH_COMMAND", configure_client(sshd_server, isolated_env))
    return sshd_server
