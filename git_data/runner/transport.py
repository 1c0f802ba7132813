"""How the client reaches a host's agent: a local subprocess, or the system OpenSSH client.

SSH uses the user's own setup (keys, agent, ~/.ssh/config, known_hosts) and one shared
connection per command: the first session opens a ControlMaster in a private temporary folder,
later ones reuse it, and :meth:`SshTransport.close` ends it (ControlPersist bounds its life if
the client dies first). ``GIT_DATA_SSH_COMMAND`` or ``data.sshCommand`` replace ``ssh``, as
``GIT_SSH_COMMAND`` does for git. Without a terminal, BatchMode stops ssh from prompting, so a
login problem is one clear error instead of a hang.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from ..config import Config
from ..errors import FatalError
from .host import agent
from .hosts import Host

CONTROL_PERSIST_S = 20


class Transport:
    """Runs agent verbs on a host."""

    host: Host

    def agent_argv(self, args: list[str]) -> list[str]:
        raise NotImplementedError

    def run(self, args: list[str], input: bytes | None = None
            ) -> subprocess.CompletedProcess[bytes]:
        return self.run_argv(self.agent_argv(args), input)

    @staticmethod
    def run_argv(argv: list[str], input: bytes | None = None
                 ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(argv, input=input, capture_output=True)

    def popen(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.agent_argv(args), stdout=subprocess.PIPE, **kw)

    def raise_for(self, code: int, stderr: bytes) -> None:
        """Turn a failed agent call into one clear line."""
        lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit {code}"
        raise FatalError(f"host {self.host.name}: {last}")

    def connect(self) -> None:
        """Reach the host (and log in) before anything is started there."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class LocalTransport(Transport):
    def __init__(self, host: Host) -> None:
        self.host = host

    def agent_argv(self, args: list[str]) -> list[str]:
        return [*agent.self_command(), *args]


class SshTransport(Transport):
    def __init__(self, host: Host, ssh_command: list[str], version_dir: str) -> None:
        self.host = host
        self.ssh_command = ssh_command
        self.version_dir = version_dir
        self.user, self.hostname, self.port = host.ssh_parts()
        self.control_dir = control_dir()

    def target(self) -> list[str]:
        argv = ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/c",
                "-o", f"ControlPersist={CONTROL_PERSIST_S}"]
        if not sys.stdin.isatty():
            argv += ["-o", "BatchMode=yes"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", self.user]
        return [*self.ssh_command, *argv, self.hostname]

    def remote(self, script: str, args: list[str]) -> list[str]:
        words = [self.host.python, "-S", "-c", script, self.host.workdir, *args]
        return [*self.target(), "--", " ".join(shlex.quote(w) for w in words)]

    def agent_argv(self, args: list[str]) -> list[str]:
        return self.remote(agent.BOOT, [self.version_dir, *args])

    def install_argv(self, subdir: str, pip_requirement: str | None = None) -> list[str]:
        return self.remote(agent.INSTALL, [subdir, *([pip_requirement] if pip_requirement
                                                     else [])])

    def raise_for(self, code: int, stderr: bytes) -> None:
        text = stderr.decode(errors="replace")
        where = f"host {self.host.name} ({self.host.url})"
        if code == 255:
            login = f"{self.user}@{self.hostname}" if self.user else self.hostname
            raise FatalError(ssh_problem(where, login, self.port, text))
        if code in (126, 127):
            raise FatalError(f"{where} has no usable {self.host.python}: it is not on the PATH "
                             "of the remote shell; install Python 3 there, or point the host "
                             f"at one: git data host add {self.host.name} {self.host.url} "
                             "--python /path/to/python3")
        super().raise_for(code, stderr)  # e.g. "Python 3.6 on this host is too old"

    def connect(self) -> None:
        """Open the shared connection (no remote command): login problems surface here."""
        proc = subprocess.run([*self.target(), "-N"], capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            self.raise_for(255, proc.stderr)

    def close(self) -> None:
        if os.path.exists(os.path.join(self.control_dir, "c")):
            subprocess.run([*self.target()[:-1], "-O", "exit", self.hostname],
                           capture_output=True, timeout=10)
        shutil.rmtree(self.control_dir, ignore_errors=True)


def control_dir() -> str:
    """A private folder for one connection's socket, under a per-user parent in /tmp (socket
    paths must stay short); folders left by clients that died are removed on the way."""
    parent = os.path.join(tempfile.gettempdir(), f"gd-ssh-{os.getuid()}")
    os.makedirs(parent, mode=0o700, exist_ok=True)
    for name in os.listdir(parent):
        old = os.path.join(parent, name)
        try:
            stale = time.time() - os.stat(old).st_mtime > 3600
        except OSError:
            continue
        if stale and not os.path.exists(os.path.join(old, "c")):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(dir=parent)


def ssh_problem(where: str, hostname: str, port: int | None, stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = " ".join(lines)
    port_arg = f" -p {port}" if port else ""
    if "Permission denied" in text or "Too many authentication failures" in text:
        return (f"cannot log in to {where}: permission denied; make sure `ssh{port_arg} "
                f"{hostname}` works without a password (your key in its authorized_keys)")
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION" in text:
        return (f"the host key of {where} is not known (or changed); connect once with "
                f"`ssh{port_arg} {hostname}` to check and accept it")
    if "Could not resolve hostname" in text:
        return f"cannot resolve the host name of {where}: {hostname} is not a known machine"
    if "Connection refused" in text:
        return f"cannot connect to {where}: connection refused (is sshd running there?)"
    if "timed out" in text:
        return f"cannot connect to {where}: the connection timed out"
    return f"ssh to {where} failed: {lines[-1] if lines else 'exit 255'}"


def ssh_command(config: Config) -> list[str]:
    raw = (os.environ.get("GIT_DATA_SSH_COMMAND") or config.get("data.sshCommand")
           or os.environ.get("GIT_SSH_COMMAND") or config.get("core.sshCommand") or "ssh")
    return shlex.split(raw)


def open_transport(host: Host, config: Config, version_dir: str) -> Transport:
    transport: Transport = LocalTransport(host) if host.local or host.slurm_local else SshTransport(
        host, ssh_command(config), version_dir)
    try:
        transport.connect()
    except BaseException:
        transport.close()
        raise
    return transport
