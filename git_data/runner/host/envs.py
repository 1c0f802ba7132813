"""Run environments on the host (standard library only), built once and reused by hash.

What defines an environment, first match wins: ``--conda-file``, ``--pip``, then in the commit
``environment.yml`` (used only when the host has conda), ``requirements.txt``, the
``[project] dependencies`` of ``pyproject.toml``. ``--apt`` packages are installed on the host
first. The hash covers the kind, the file's bytes, the apt packages and the host's Python, so
the next run with the same files finds ``<workdir>/envs/<hash>/.ready`` and starts at once.
``Pipfile.lock`` (its pinned ``default`` packages) and ``Pipfile`` (its ``[packages]``) come
after requirements.txt. A venv is isolated from the host's site-packages unless the plan asks
for ``system_site_packages``; it is built with ``uv`` when the host has it, pip otherwise.
Builds take a per-hash lock, so concurrent runs build once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ... import safeio
from ...errors import FatalError
from .paths import inside_checkout

READY = ".ready"


@dataclass
class Plan:
    kind: str  # "none" | "venv" | "conda"
    source: str = ""  # the file it came from
    text: bytes = b""  # pip requirements or conda environment file
    apt: list[str] = field(default_factory=list)
    system_site_packages: bool = False

    def digest(self) -> str:
        h = hashlib.sha256()
        flags = "system-site-packages" if self.system_site_packages else "isolated"
        for part in (self.kind, sys.executable, sys.version, flags, *self.apt):
            h.update(part.encode() + b"\0")
        h.update(self.text)
        return h.hexdigest()[:16]


def plan(checkout: Path, pip_file: str | None, conda_file: str | None, apt: list[str],
         note: Callable[[str], None]) -> Plan:
    have_conda = conda_command() is not None
    if conda_file:
        if not have_conda:
            raise FatalError(f"--conda-file {conda_file}: this host has no conda (or mamba)")
        return Plan("conda", conda_file, _read(checkout, conda_file, "--conda-file"), apt)
    if pip_file:
        return Plan("venv", pip_file, _read(checkout, pip_file, "--pip"), apt)
    for name in ("environment.yml", "environment.yaml"):
        if _plain(checkout / name):
            if have_conda:
                return Plan("conda", name, (checkout / name).read_bytes(), apt)
            conda_only = name
            break
    else:
        conda_only = ""
    found = _pip_plan(checkout, apt, note)
    if conda_only:
        if found.kind == "none":
            raise FatalError(f"{conda_only} needs conda on this host; install conda or add "
                             "requirements.txt to the commit")
        note(f"{conda_only} ignored: this host has no conda; using {found.source}")
    return found


def _pip_plan(checkout: Path, apt: list[str], note: Callable[[str], None]) -> Plan:
    if _plain(checkout / "requirements.txt"):
        return Plan("venv", "requirements.txt", (checkout / "requirements.txt").read_bytes(), apt)
    if _plain(checkout / "Pipfile.lock"):
        return Plan("venv", "Pipfile.lock", pipfile_lock_requirements(checkout / "Pipfile.lock"),
                    apt)
    if _plain(checkout / "Pipfile"):
        return Plan("venv", "Pipfile", pipfile_requirements(checkout / "Pipfile", note), apt)
    deps = pyproject_dependencies(checkout / "pyproject.toml", note)
    if deps:
        return Plan("venv", "pyproject.toml", "\n".join(deps).encode() + b"\n", apt)
    return Plan("none", "", b"", apt)


def pipfile_lock_requirements(path: Path) -> bytes:
    """The pinned packages of the lock's ``default`` section as requirement lines."""
    import json
    try:
        data = json.loads(path.read_bytes())
        default = data.get("default", {})
        if not isinstance(default, dict):
            raise ValueError("its default section is not an object")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise FatalError(f"Pipfile.lock in the run's commit is not valid: {exc}") from None
    lines = []
    for name, spec in sorted(default.items()):
        version = spec.get("version", "") if isinstance(spec, dict) else ""
        if not isinstance(version, str) or any(c.isspace() for c in name + version):
            raise FatalError(f"Pipfile.lock in the run's commit: bad entry for {name!r}")
        lines.append(f"{name}{version}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


def pipfile_requirements(path: Path, note: Callable[[str], None]) -> bytes:
    """The ``[packages]`` of a Pipfile (no lock): ``name = "*"`` or a version specifier."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise FatalError("Pipfile not read: the host's Python is older than 3.11 (no tomllib); "
                         "add requirements.txt") from None
    try:
        packages = tomllib.loads(path.read_text()).get("packages", {})
    except (ValueError, UnicodeDecodeError) as exc:
        raise FatalError(f"Pipfile in the run's commit is not valid TOML: {exc}") from None
    lines = []
    for name, spec in sorted(packages.items()):
        version = spec if isinstance(spec, str) else spec.get("version", "*")
        lines.append(name if version in ("*", "") else f"{name}{version}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _plain(path: Path) -> bool:
    """A regular file of the checkout, not a link (the commit may hold links to anywhere)."""
    return path.is_file() and not path.is_symlink()


def _read(checkout: Path, rel: str, what: str) -> bytes:
    """A file of the commit, never through a link (a committed link could name any file of
    the host, which would then end up in the set-up log)."""
    parent, _, name = inside_checkout(rel, what).rpartition("/")
    try:
        dir_fd = safeio.open_dir(checkout, parent)
        try:
            with safeio.open_nofollow(dir_fd, name) as source:
                return source.read()
        finally:
            os.close(dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        raise FatalError(f"{what} {rel}: no such file in the run's commit") from None
    except OSError:
        raise FatalError(f"{what} {rel}: not a regular file in the run's commit (a symlink "
                         "is not followed)") from None


def pyproject_dependencies(path: Path, note: Callable[[str], None]) -> list[str]:
    if not _plain(path):
        return []
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        note("pyproject.toml not read: the host's Python is older than 3.11 (no tomllib)")
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise FatalError(f"pyproject.toml in the run's commit is not valid TOML: {exc}") from exc
    deps = data.get("project", {}).get("dependencies", [])
    return [str(d) for d in deps] if isinstance(deps, list) else []


def conda_command() -> str | None:
    return shutil.which("mamba") or shutil.which("conda")


def ensure(env: Plan, root: Path, checkout: Path, log: BinaryIO,
           note: Callable[[str], None]) -> dict[str, Any]:
    """The environment ready for use; builds it under a lock when it does not exist yet."""
    info: dict[str, Any] = {"kind": env.kind, "source": env.source, "apt": env.apt}
    if env.apt:
        install_apt(env.apt, log, note)
    if env.kind == "none":
        return {**info, "hash": None, "reused": True, "seconds": 0.0}
    digest = env.digest()
    path = root / digest
    info.update(hash=digest, path=str(path))
    if (path / READY).exists():
        return {**info, "reused": True, "seconds": 0.0}
    root.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    lock_fd = os.open(root / f"{digest}.lock",
                      os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(lock_fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / READY).exists():  # another run built it while we waited
            return {**info, "reused": True, "seconds": round(time.monotonic() - start, 3)}
        note(f"building the {env.kind} environment {digest} from {env.source}")
        shutil.rmtree(path, ignore_errors=True)
        try:
            (build_conda if env.kind == "conda" else build_venv)(env, path, checkout, log)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        safeio.write_text(path / READY, env.source + "\n")
    return {**info, "reused": False, "seconds": round(time.monotonic() - start, 3)}


def _step(argv: list[str], log: BinaryIO, what: str, cwd: Path | None = None) -> None:
    log.write(f"$ {' '.join(argv)}\n".encode())
    log.flush()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    said: list[str] = []  # the tool's last error message: uv's "×"/pip's "ERROR:" onward
    for line in proc.stdout:  # streamed into the log as it comes
        log.write(line)
        text = line.decode(errors="replace").strip(" \t\r\n×╰─▶│")
        if text.startswith(("hint:", "help:")) or not text:
            continue
        if line.lstrip().startswith(("×".encode(), b"ERROR", b"error:")):
            said = []
        said = (said + [text])[-4:]
    log.flush()
    code = proc.wait()
    if code != 0:
        reason = f": {' '.join(said)[:400]}" if said else ""
        raise FatalError(f"environment: {what} failed (exit {code}){reason}")


def build_venv(env: Plan, path: Path, checkout: Path, log: BinaryIO) -> None:
    system = ["--system-site-packages"] if env.system_site_packages else []
    _step([sys.executable, "-m", "venv", *system, "--without-pip", str(path)],
          log, "creating the venv")
    python = str(path / "bin" / "python")
    if subprocess.call([python, "-c", "import pip"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        _step([python, "-m", "ensurepip", "--default-pip"], log, "ensurepip")
    requirements = path / "requirements.txt"
    safeio.write_bytes(requirements, env.text)
    if not any(line.strip() and not line.strip().startswith("#")
               for line in env.text.decode(errors="replace").splitlines()):
        return
    uv = shutil.which("uv")
    if uv:  # much faster installs than pip, same result; pip stays in the venv for the run
        _step([uv, "pip", "install", "--python", python, "-r", str(requirements)], log,
              f"uv pip install -r {env.source}", cwd=checkout)
    else:
        _step([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "-r", str(requirements)], log, f"pip install -r {env.source}", cwd=checkout)


def build_conda(env: Plan, path: Path, checkout: Path, log: BinaryIO) -> None:
    conda = conda_command()
    assert conda is not None
    spec = path.parent / f"{path.name}.environment.yml"
    safeio.write_bytes(spec, env.text)
    try:
        _step([conda, "env", "create", "-p", str(path), "-f", str(spec)], log,
              f"conda env create from {env.source}", cwd=checkout)
    finally:
        spec.unlink(missing_ok=True)


def install_apt(packages: list[str], log: BinaryIO, note: Callable[[str], None]) -> None:
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    note(f"installing apt package(s) {' '.join(missing)}")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if shutil.which("apt-get") is None:
        raise FatalError(f"--apt {' '.join(missing)}: this host has no apt-get")
    _step([*prefix, "apt-get", "install", "-y", "--no-install-recommends", *missing], log,
          "apt-get install")


def _dpkg_installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True)
    return proc.returncode == 0 and proc.stdout.decode().endswith("installed")


def activate(info: dict[str, Any], environ: dict[str, str]) -> None:
    """Put the environment's bin folder first on PATH (what `activate` would do)."""
    if not info.get("path"):
        return
    bindir = str(Path(info["path"]) / "bin")
    environ["PATH"] = bindir + os.pathsep + environ.get("PATH", "")
    environ["VIRTUAL_ENV" if info["kind"] == "venv" else "CONDA_PREFIX"] = info["path"]
    environ.pop("PYTHONHOME", None)
