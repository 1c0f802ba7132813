"""The host-side agent (standard library only).

``python3 -m git_data.runner.host.agent VERB ...``, or :data:`BOOT` over SSH.

On an SSH host it runs from the copy of git_data that the client shipped to
``<workdir>/agent/<version>-<hash>/`` (started through :data:`BOOT`, which exits 199 when that
copy is missing); dependencies shipped beside it live in ``deps/<dist>/`` and come before the
host's own packages on ``sys.path`` (see sitepath.py).

Verbs:
    probe --workdir W [--gpus N] [--need mod,...]   one line: GIT-DATA-PROBE {json}
    start [--follow] [--need mod,...]
                         stdin: one JSON line (spec, secrets), then `git archive` tar bytes;
                         unpacks the run, starts the supervisor under setsid, and with
                         --follow streams its logs (see frames.py) until it ends
    tail RUNDIR          the same log stream for a run that is already going
    supervise RUNDIR     the supervisor itself (started by `start`)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
from pathlib import Path
from typing import IO, Any, BinaryIO

from ... import __version__, safeio
from ...errors import FatalError
from . import frames, sitepath

SECRETS = ".secrets.json"  # see supervisor.read_private
PROBE_MARK = "GIT-DATA-PROBE "
EXIT_NOT_INSTALLED = 199
EXIT_OLD_PYTHON = 198

# `python3 -S -c BOOT WORKDIR VERSIONDIR VERB ARGS...` on the host.
BOOT = """import os,sys
if sys.version_info<(3,8):
    sys.stderr.write('git-data: Python %d.%d on this host is too old; 3.8 or newer is needed\\n'
                     % sys.version_info[:2]); sys.exit(198)
d=os.path.join(os.path.expanduser(sys.argv[1]),'agent',sys.argv[2])
if not os.path.isdir(os.path.join(d,'git_data')): sys.exit(199)
sys.path.insert(0,d)
from git_data.runner.host.agent import main
sys.exit(main(sys.argv[3:],d))
"""

# `python3 -c INSTALL WORKDIR SUBDIR [PIP-REQUIREMENT]`: a tar on stdin (or a pip install)
# into <workdir>/agent/SUBDIR, made visible by one rename (concurrent installs are harmless).
INSTALL = """import os,sys,tarfile,shutil,subprocess
d=os.path.join(os.path.expanduser(sys.argv[1]),'agent',*sys.argv[2].split('/'))
if os.path.isdir(d): sys.exit(0)
t='%s.tmp-%d'%(d,os.getpid())
os.makedirs(t)
if len(sys.argv)>3:
    r=subprocess.call([sys.executable,'-m','pip','install','--quiet','--no-deps',
                       '--disable-pip-version-check','--target',t,sys.argv[3]],stdout=2)
    if r: shutil.rmtree(t,ignore_errors=True); sys.exit(r)
else:
    tarfile.open(fileobj=sys.stdin.buffer,mode='r|').extractall(t)
try: os.rename(t,d)
except OSError: shutil.rmtree(t,ignore_errors=True)
"""

LOCAL_BOOT = ("import sys;sys.path.insert(0,sys.argv[1]);from git_data.runner.host.agent "
              "import main;sys.exit(main(sys.argv[2:],sys.argv[1]))")


def self_command(home: str | None = None) -> list[str]:
    """How to start this agent again (the supervisor, or the agent of the local host): without
    site-packages (``-S``), from the folder that holds this git_data package."""
    home = home or str(Path(__file__).resolve().parent.parent.parent.parent)
    return [sys.executable, "-S", "-c", LOCAL_BOOT, home]


def main(argv: list[str] | None = None, home: str | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sitepath.HOME = home
    verbs = {"probe": probe, "start": start, "tail": tail, "supervise": supervise}
    if not args or args[0] not in verbs:
        sys.stderr.write("usage: python3 -m git_data.runner.host.agent "
                         f"{{{','.join(verbs)}}} ...\n")
        return 2
    return verbs[args[0]](args[1:], home)


# ----- probe -----------------------------------------------------------------------------
def probe(args: list[str], home: str | None) -> int:
    parser = argparse.ArgumentParser(prog="agent probe")
    parser.add_argument("--workdir", default="~/.git-data")
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--need", default="")
    ns = parser.parse_args(args)
    workdir = Path(os.path.expanduser(ns.workdir)).resolve()
    need = [m for m in ns.need.split(",") if m]
    info: dict[str, Any] = {
        "version": __version__, "python": platform.python_version(),
        "executable": sys.executable, "hostname": socket.gethostname(),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "platform": sysconfig.get_platform(), "workdir": str(workdir),
        "missing": [m for m in need if not _importable(m)],
        # what came with the client's consistent set: the client ships the rest, so the
        # host's own copies (an older botocore under a newer aiobotocore) never mix in
        "shipped": [m for m in need if sitepath.shipped(m)],
        "gpu_error": None,
    }
    if ns.gpus:
        from . import gpus

        try:
            info["gpu_error"] = gpus.check(ns.gpus, workdir)
        except FatalError as exc:
            info["gpu_error"] = str(exc)
    sys.stdout.write(PROBE_MARK + json.dumps(info) + "\n")
    return 0


def _importable(module: str) -> bool:
    if sitepath.shipped(module):
        return True
    sitepath.load()
    return importlib.util.find_spec(module) is not None


# ----- start -----------------------------------------------------------------------------
def start(args: list[str], home: str | None) -> int:
    out = sys.stdout.buffer
    out.write(frames.MAGIC)
    out.flush()
    need = args[args.index("--need") + 1].split(",") if "--need" in args else []
    missing = [m for m in need if m and not _importable(m)]
    if missing:
        frames.write_json(out, frames.MISSING, missing)
        return 3
    slurm = json.loads(args[args.index("--slurm") + 1]) if "--slurm" in args else None
    info: dict[str, Any] = {}
    try:
        rundir = unpack(sys.stdin.buffer, home, slurm, info)
    except (FatalError, OSError, ValueError, KeyError, tarfile.TarError) as exc:
        frames.write(out, frames.ERROR, str(exc).encode())
        return 2
    frames.write_json(out, frames.INFO, {"rundir": str(rundir), **info})
    return follow(rundir, out) if "--follow" in args else 0


def unpack(stdin: BinaryIO, home: str | None, slurm: dict[str, Any] | None = None,
           info: dict[str, Any] | None = None) -> Path:
    """Unpack the run; start its supervisor under setsid, or as a Slurm job (``slurm``: the
    host's sbatch options; the job id goes into ``info``)."""
    header = json.loads(stdin.readline())
    spec = header["spec"]
    workdir = Path(os.path.expanduser(spec["workdir"])).resolve()
    spec["workdir"] = str(workdir)
    spec["cache_dir"] = os.path.expanduser(spec.get("cache_dir") or str(workdir / "cache"))
    rundir = workdir / "runs" / str(spec["repo_key"]) / str(int(spec["id"]))
    try:
        rundir.mkdir(parents=True)
    except FileExistsError as exc:
        raise FatalError(f"{rundir} already exists on the host; remove it or use another "
                         "workdir") from exc
    checkout = rundir / "code"
    checkout.mkdir()
    with tarfile.open(fileobj=stdin, mode="r|") as tar:
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(checkout, filter="tar")  # no absolute or '..' member names
        else:
            tar.extractall(checkout, members=_checked_members(tar))
    (rundir / "logs").mkdir()
    _write_private(rundir / "spec.json", json.dumps(spec, indent=1))
    private = {k: header[k] for k in ("secrets", "env") if header.get(k)}
    if private:  # store credentials and --env values: read and removed by the supervisor
        _write_private(rundir / SECRETS, json.dumps(
            {"store": private.get("secrets"), "env": private.get("env")}))
    if slurm is not None:
        from . import slurm as batch

        if slurm.get("defer"):  # a grid member: the last member's job array starts it
            return rundir
        members = [*batch.members(slurm.get("array") or [], rundir), rundir]
        job = batch.submit(rundir, [[*self_command(home), "supervise", str(r)]
                                    for r in members], slurm)
        if info is not None:
            info["slurm_job"] = job
            if len(members) > 1:
                info["slurm_array"] = [f"{job}_{i}" for i in range(len(members))]
        return rundir
    with open(rundir / "supervisor.log", "ab") as log:
        subprocess.Popen([*self_command(home), "supervise", str(rundir)], cwd=rundir,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    return rundir


def _write_private(path: Path, text: str) -> None:
    """A new file readable by this user only (O_EXCL | O_NOFOLLOW: nothing planted there is
    written through)."""
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = safeio.create_new(dir_fd, path.name, 0o600)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)


def _checked_members(tar: tarfile.TarFile) -> Any:
    """Members of a streamed archive (Pythons without extraction filters): refused when a
    name is absolute, climbs with '..', or passes through a link the archive made."""
    links: set[str] = set()
    for member in tar:
        parts = safeio.relative_parts(member.name)
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise FatalError(f"refusing {member.name!r} in the archive: it passes through a "
                             "symlink of the commit")
        if member.issym() or member.islnk():
            links.add("/".join(parts))
        yield member


# ----- tail ------------------------------------------------------------------------------
def tail(args: list[str], home: str | None) -> int:
    out = sys.stdout.buffer
    out.write(frames.MAGIC)
    out.flush()
    rundir = Path(os.path.expanduser(args[0]))
    if not (rundir / "spec.json").exists():
        frames.write(out, frames.ERROR, f"no run at {rundir} on this host".encode())
        return 2
    return follow(rundir, out)


def follow(rundir: Path, out: BinaryIO) -> int:
    """Stream setup.log and output.log until state.json says done (it is written after the
    last log line, so reading the state before draining never loses the tail)."""
    from .supervisor import read_state

    paths = [(frames.SETUP, rundir / "logs" / "setup.log"),
             (frames.OUTPUT, rundir / "logs" / "output.log")]
    handles: dict[bytes, IO[bytes]] = {}
    batch_checked = time.monotonic()
    try:
        while True:
            state = read_state(rundir)
            if not state and time.monotonic() - batch_checked > 5:  # a Slurm job not started
                from . import slurm

                batch_checked = time.monotonic()
                ended = slurm.ended_unstarted(rundir)
                if ended:
                    state = {"status": "done", "exit_code": None,
                             "run_status": "stopped" if ended.startswith("CANCELLED")
                             else "lost", "error": f"the Slurm job ended ({ended}) before "
                             "its supervisor started"}
            if state.get("status") != "done" and not _alive(state.get("pid")):
                time.sleep(0.2)  # it may have just finished: look again before calling it lost
                state = read_state(rundir)
                if state.get("pid") and state.get("status") != "done" \
                        and not _alive(state.get("pid")):
                    state = {"status": "done", "run_status": "lost", "exit_code": None,
                             "error": f"the supervisor died; see {rundir}/supervisor.log"}
            moved = _drain(paths, handles, out)
            if state.get("status") == "done":
                frames.write_json(out, frames.EXIT, {k: state.get(k) for k in
                                                     ("run_status", "exit_code", "error")})
                return 0
            if not moved:
                time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # the client went away
        return 0


def _drain(paths: list[tuple[bytes, Path]], handles: dict[bytes, IO[bytes]],
           out: BinaryIO) -> bool:
    moved = False
    for kind, path in paths:
        if kind not in handles:
            try:
                handles[kind] = open(path, "rb")
            except FileNotFoundError:
                continue
        while chunk := handles[kind].read(1 << 16):
            frames.write(out, kind, chunk)
            moved = True
    return moved


def _alive(pid: Any) -> bool:
    if not pid:
        return True  # not started yet: nothing to say
    try:
        os.waitpid(int(pid), os.WNOHANG)  # reap it if it is our child (no zombie looks alive)
    except ChildProcessError:
        pass
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----- supervise -------------------------------------------------------------------------
def supervise(args: list[str], home: str | None) -> int:
    from .supervisor import supervise as run

    return run(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
