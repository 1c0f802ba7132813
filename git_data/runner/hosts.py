"""Hosts that runs go to: the built-in ``local``, SSH hosts and Slurm clusters.

Hosts for everyone live in the committed ``.gitdata`` (``[host "NAME"] url, workdir``: an
ssh:// URL only, never the local host, never a ``python`` command, as
:mod:`git_data.config`'s allowlist has it); personal ones in git config
(``data.host.NAME.url``, ``.workdir``, ``.python``), which wins for the same name. The
default host is ``data.host`` (git config or ``.gitdata``), else ``local``. A Slurm cluster
(``slurm://[user@]login-node[:port]``, with ``partition``, ``account``, ``time``) is personal
only: its URL and sbatch options are read from git config, never from ``.gitdata``.
"""

from __future__ import annotations

import re
import sys
import urllib.parse
from dataclasses import asdict, dataclass

from ..config import GITDATA_FILE, Config, set_shared, shared_file
from ..errors import FatalError
from ..gitrepo import Repo, run_git
from .host.paths import strip_password

KEYS = ("url", "workdir", "python", "partition", "account", "time")
SLURM_KEYS = ("partition", "account", "time")
DEFAULT_WORKDIR = "~/.git-data"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class Host:
    name: str
    url: str
    workdir: str = DEFAULT_WORKDIR
    python: str = "python3"
    where: str = "built-in"  # built-in | .gitdata | git config
    partition: str | None = None  # Slurm only (runner/slurm.py)
    account: str | None = None
    time: str | None = None

    @property
    def local(self) -> bool:
        return self.url == "local"

    @property
    def slurm(self) -> bool:
        return self.url.startswith("slurm://")

    @property
    def slurm_local(self) -> bool:
        """A Slurm cluster whose login node is this machine: sbatch runs here, no SSH."""
        return self.slurm and parse_ssh(self.url)[1] in ("localhost", "127.0.0.1")

    def ssh_parts(self) -> tuple[str | None, str, int | None]:
        """(user, host name, port) of an ssh:// URL."""
        return parse_ssh(self.url)

    def public(self) -> dict[str, str]:
        data = asdict(self)
        data["url"] = strip_password(self.url)
        return data


def parse_ssh(url: str) -> tuple[str | None, str, int | None]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("ssh", "slurm") or not parsed.hostname:
        raise FatalError(f"host URL '{url}' is not ssh://[user@]host[:port], "
                         "slurm://[user@]login-node[:port] or 'local'")
    try:
        port = parsed.port
    except ValueError as exc:
        raise FatalError(f"host URL '{url}' has a bad port") from exc
    return parsed.username, parsed.hostname, port


def configured(config: Config) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    for name in config.subsections("host"):
        url = config.get_shared(f"host.{name}.url")
        if url and url.startswith("ssh://"):  # a committed file names no Slurm cluster
            hosts[name] = Host(name, url, where=GITDATA_FILE)
            for key in ("workdir", "python"):
                value = config.get_shared(f"host.{name}.{key}")
                if value:
                    setattr(hosts[name], key, value)
    for sub in config.subsections("data"):
        match = re.fullmatch(r"host\.(.+)", sub)
        if not match:
            continue
        name = match[1]
        values = {k: config.get(f"data.host.{name}.{k}") for k in KEYS}
        if name == "local":
            values["url"] = "local"
        host = hosts.get(name) or Host(name, values["url"] or "", where="git config")
        for key, value in values.items():
            if value:
                setattr(host, key, value)
                host.where = "git config"
        if host.url:
            hosts[name] = host
    local = hosts.get("local", Host("local", "local"))
    local.url = "local"
    local.python = sys.executable
    hosts["local"] = local
    return hosts


def get(config: Config, name: str | None) -> Host:
    hosts = configured(config)
    wanted = name or config.get("data.host") or "local"
    if wanted not in hosts:
        raise FatalError(f"no host named '{wanted}'; add it with `git data host add {wanted} "
                         f"ssh://user@machine` (known: {', '.join(sorted(hosts))})")
    return hosts[wanted]


def add(repo: Repo, name: str, url: str, workdir: str | None, python: str | None,
        personal: bool, default: bool, slurm: dict[str, str | None] | None = None) -> str:
    if not NAME_RE.fullmatch(name):
        raise FatalError(f"host name '{name}' must be letters, digits, '.', '_' or '-'")
    if name == "local" and url != "local":
        raise FatalError("'local' is the built-in host (this machine); choose another name")
    if url != "local":
        parse_ssh(url)
    slurm = {k: v for k, v in (slurm or {}).items() if v}
    if slurm and not url.startswith("slurm://"):
        raise FatalError(f"--{', --'.join(slurm)}: only for a slurm:// host")
    personal = personal or url.startswith("slurm://")  # sbatch options stay the user's own
    values = {"url": url, "workdir": workdir, "python": python, **slurm}
    for key, value in values.items():
        if value is None:
            continue
        # .gitdata may name neither a command nor a folder of this machine (the local host)
        if personal or key in ("python", *SLURM_KEYS) or name == "local":
            repo.git("config", f"data.host.{name}.{key}", value)
        else:
            set_shared(repo, f"host.{name}.{key}", value)
    if default:
        if personal:
            repo.git("config", "data.host", name)
        else:
            set_shared(repo, "data.host", name)
    return ".git/config (only this clone)" if personal else f"{GITDATA_FILE} (commit it to share)"


def remove(repo: Repo, name: str) -> None:
    removed = False
    path = shared_file(repo)
    if path.exists() and run_git(["config", "-f", str(path), "--get", f"host.{name}.url"],
                                 check=False):
        run_git(["config", "-f", str(path), "--remove-section", f"host.{name}"])
        removed = True
    if repo.git("config", "--get", f"data.host.{name}.url", check=False):
        repo.git("config", "--remove-section", f"data.host.{name}", check=False)
        removed = True
    if not removed:
        if name == "local":
            raise FatalError("'local' is built in and cannot be removed")
        raise FatalError(f"no host named '{name}'; `git data host list` shows them")
