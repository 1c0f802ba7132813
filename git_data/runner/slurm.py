"""Slurm clusters as run hosts (client side).

A ``slurm://[user@]login-node[:port]`` host is reached like an SSH host (or locally when the
login node is ``localhost``): the same shipped agent unpacks the run into the workdir, which
must be on the cluster's shared file system, and with ``--slurm OPTIONS`` submits the
supervisor with sbatch instead of starting it (host/slurm.py). From then on the run is the
same as anywhere: the supervisor fills the host cache, runs the command and writes logs,
outputs and the record to the store. What only Slurm knows (a job still pending, cancelled
before it started, killed at its time limit, preempted, its node failed) is read with
``squeue`` / ``scontrol show job`` (no accounting database needed) and written into the
record by `runs`, `show-run` and `stop` while the record is not final; `stop` is ``scancel``.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from typing import Any

from ..config import Config
from ..errors import FatalError
from ..store import Store
from . import hosts, records
from .hosts import Host
from .transport import LocalTransport, SshTransport, Transport, open_transport

# Slurm job state -> (run status, what the record says about it)
STATES: dict[str, tuple[str, str | None]] = {
    "PENDING": ("queued", None), "CONFIGURING": ("queued", None),
    "REQUEUED": ("queued", None), "REQUEUE_HOLD": ("queued", None),
    "RESV_DEL_HOLD": ("queued", None), "SUSPENDED": ("running", None),
    "RUNNING": ("running", None), "COMPLETING": ("running", None),
    "STAGE_OUT": ("running", None), "RESIZING": ("running", None),
    "SIGNALING": ("running", None),
    "COMPLETED": ("succeeded", None),
    "FAILED": ("failed", "the Slurm job failed"),
    "OUT_OF_MEMORY": ("failed", "the Slurm job ran out of memory"),
    "BOOT_FAIL": ("failed", "the Slurm node failed to boot"),
    "DEADLINE": ("failed", "the Slurm job passed its deadline"),
    "TIMEOUT": ("failed", "the Slurm job reached its time limit (TIMEOUT)"),
    "CANCELLED": ("stopped", "the Slurm job was cancelled"),
    "PREEMPTED": ("lost", "the Slurm job was preempted"),
    "NODE_FAIL": ("lost", "the Slurm node failed"),
    "REVOKED": ("lost", "the Slurm job was revoked"),
}


def run_state(slurm_state: str, run_id: int | None = None) -> tuple[str, str | None]:
    """The run status and error text for a Slurm state (``CANCELLED by 0`` included)."""
    word = slurm_state.strip().split()[0].rstrip("+") if slurm_state.strip() else ""
    status, error = STATES.get(word, ("lost", f"unknown Slurm state {slurm_state!r}"))
    if status == "lost" and run_id is not None:
        error = f"{error}; start it again with `git data run --resume {run_id}`"
    return status, error


def start_args(host: Host, gpus: int) -> list[str]:
    """What `agent start` needs to submit instead of starting (host/slurm.py checks them)."""
    options = {"partition": host.partition, "account": host.account, "time": host.time,
               "gpus": gpus}
    return ["--slurm", json.dumps(options)]


def grid_args(args: list[str], index: int, count: int, rundirs: list[str]) -> list[str]:
    """`agent start` arguments for member ``index`` of a grid of ``count``: the members before
    the last are only unpacked; the last submits one job array over all their run folders
    (``rundirs``, from the earlier starts' answers), task i being member i."""
    options = json.loads(args[1])
    if index < count - 1:
        options["defer"] = True
    else:
        options["array"] = rundirs
    return ["--slurm", json.dumps(options)]


def host_argv(transport: Transport, argv: list[str]) -> list[str]:
    """``argv`` on the login node: here, or over the transport's SSH connection (quoted)."""
    if isinstance(transport, SshTransport):
        return [*transport.target(), "--", " ".join(shlex.quote(w) for w in argv)]
    return argv


def _job(record: dict[str, Any]) -> str | None:
    job = str((record.get("slurm") or {}).get("job") or "")
    return job if re.fullmatch(r"\d+(_\d+)?", job) else None


def job_state(transport: Transport, job: str) -> str | None:
    """The job's state from squeue, else from scontrol (it remembers ended jobs for
    MinJobAge); None when Slurm no longer knows the job."""
    try:
        proc = subprocess.run(host_argv(transport, ["squeue", "-h", "-j", job, "-o", "%T"]),
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.split()[0]
        proc = subprocess.run(host_argv(transport, ["scontrol", "-o", "show", "job", job]),
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no Slurm commands here, or the login node did not answer: record only
    match = re.search(r"\bJobState=(\S+)", proc.stdout)
    return match[1] if match else None


def _transport(config: Config, record: dict[str, Any]) -> Transport | None:
    name = (record.get("host") or {}).get("name")
    try:
        host = hosts.get(config, name)
    except FatalError:
        return None  # a run of a cluster this clone does not know: the record is all we have
    if not host.slurm:
        return None
    if host.slurm_local:
        return LocalTransport(host)
    from . import ship

    return open_transport(host, config, ship.version_dir())


def refresh(config: Config, store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The record with what Slurm says, saved when Slurm ended the job before the
    supervisor could say so itself (cancelled while pending, time limit, preemption)."""
    job = _job(record)
    if job is None or (record.get("status") in records.FINAL and not _ask_once(record)):
        return record
    try:
        transport = _transport(config, record)
    except FatalError:
        return record  # the login node is out of reach: `runs` shows what the store says
    if transport is None:
        return record
    with transport:
        state = job_state(transport, job)
    if state is None:
        return record
    status, error = run_state(state, record.get("id"))
    record = {**record, "slurm": {**record["slurm"], "state": state}}
    if _ask_once(record):  # the supervisor ended on Slurm's SIGTERM: say why, once
        if status in ("failed", "lost") and state.split()[0] != "FAILED":
            record.update(status=status, error=error)
        records.save(store, record)
        return record
    if status in records.FINAL:
        fresh = records.load(store, int(record["id"]))
        if fresh.get("status") in records.FINAL:
            return fresh  # the supervisor got there first
        record.update(status=status, error=error, ended=records.now_iso())
        records.save(store, record)
    elif status == "queued" and record.get("status") == "starting":
        record["status"] = "queued"
    return record


def _ask_once(record: dict[str, Any]) -> bool:
    """A final record that the supervisor wrote after a SIGTERM that may have been Slurm's
    (time limit, preemption, node failure) and that Slurm has not been asked about yet."""
    status = record.get("status")
    ended_by_signal = status == "stopped" or (status == "failed"
                                              and record.get("exit_code") is None)
    return ended_by_signal and "state" not in (record.get("slurm") or {})


def cancel(config: Config, record: dict[str, Any]) -> bool:
    """scancel the run's job; False when the run is not a Slurm job this clone can reach."""
    job = _job(record)
    transport = _transport(config, record) if job else None
    if transport is None or job is None:
        return False
    # A pending job is cancelled outright. A started one's supervisor (the batch step's
    # `exec`) gets SIGTERM alone, so it stops the command within its grace time and uploads
    # what it has, as on any host; plain scancel would signal the command at the same time.
    started = record.get("status") not in ("queued", "starting")
    argv = ["scancel", *(["--batch", "--signal=TERM"] if started else []), job]
    with transport:
        try:
            proc = subprocess.run(host_argv(transport, argv), capture_output=True, text=True,
                                  timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FatalError(f"cannot run scancel for run {record.get('id')} on "
                             f"{transport.host.name}: {exc}") from None
    if proc.returncode != 0:
        raise FatalError(f"scancel {job} on {transport.host.name} failed: "
                         f"{proc.stderr.strip() or proc.returncode}")
    return True
