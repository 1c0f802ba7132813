"""Submitting a run's supervisor as a Slurm batch job (host side, standard library only).

`agent start --slurm OPTIONS` unpacks the run as on an SSH host, then, instead of starting the
supervisor under setsid, writes ``job.sh`` (one ``exec`` of the same supervisor command, every
word quoted) into the run folder and hands it to ``sbatch``. The job runs on a compute node
that sees the run folder through the cluster's shared file system (the host's workdir), so
the supervisor, its logs and ``state.json`` are exactly those of an SSH host. OPTIONS come from
the user's own host configuration (git config), never from committed files, and each one
travels as a single argument to sbatch (no shell).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from ... import safeio
from ...errors import FatalError

JOB_FILE = "job.sh"
TIME_RE = re.compile(r"(\d+-)?\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}")
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def sbatch_argv(options: dict[str, Any], rundir: Path, name: str, array: int = 0) -> list[str]:
    """The sbatch command line for ``job.sh`` in ``rundir`` (checked, one word per value)."""
    argv = ["sbatch", "--parsable", f"--job-name={name}", f"--chdir={rundir}",
            f"--output={rundir}/slurm-%j.out"]
    for key in ("partition", "account"):
        value = options.get(key)
        if value:
            if not NAME_RE.fullmatch(str(value)):
                raise FatalError(f"Slurm {key} '{value}' is not letters, digits, '.', '_', '-'")
            argv.append(f"--{key}={value}")
    if options.get("time"):
        if not TIME_RE.fullmatch(str(options["time"])):
            raise FatalError(f"Slurm time limit '{options['time']}' is not [D-]HH:MM:SS")
        argv.append(f"--time={options['time']}")
    gpus = int(options.get("gpus") or 0)
    if gpus:
        argv.append(f"--gres=gpu:{gpus}")
    if array:
        argv.append(f"--array=0-{array - 1}")
    return [*argv, str(rundir / JOB_FILE)]


def members(rundirs: list[Any], last: Path) -> list[Path]:
    """The run folders of a grid's earlier members: each an unpacked run beside ``last``."""
    found = []
    for raw in rundirs:
        path = Path(str(raw))
        if path.parent != last.parent or not path.name.isdigit() \
                or not (path / "spec.json").is_file() or (path / JOB_FILE).exists():
            raise FatalError(f"{raw} is not a waiting run of this grid on the host")
        found.append(path)
    return found


def submit(rundir: Path, commands: list[list[str]], options: dict[str, Any]) -> str:
    """Write job.sh and submit it; the Slurm job id. More than one command: a job array
    whose task i runs command i."""
    lines = [" ".join(shlex.quote(w) for w in command) for command in commands]
    if len(lines) == 1:
        script = f"#!/bin/sh\nexec {lines[0]}\n"
    else:
        cases = "".join(f"{i}) exec {line} ;;\n" for i, line in enumerate(lines))
        script = f'#!/bin/sh\ncase "$SLURM_ARRAY_TASK_ID" in\n{cases}esac\nexit 2\n'
    safeio.write_text(rundir / JOB_FILE, script, mode=0o700)
    argv = sbatch_argv(options, rundir, f"git-data-{rundir.name}",
                       len(lines) if len(lines) > 1 else 0)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise FatalError("sbatch is not on this host's PATH: is it a Slurm login node?") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise FatalError(f"sbatch refused the run: {lines[-1] if lines else proc.returncode}")
    job = proc.stdout.strip().split(";")[0]
    if not re.fullmatch(r"\d+(_\d+)?", job):
        raise FatalError(f"sbatch answered '{proc.stdout.strip()}', not a job id")
    safeio.write_text(rundir / "slurm-job", job + "\n")
    return job


WAITING = ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RUNNING", "COMPLETING")


def ended_unstarted(rundir: Path) -> str | None:
    """For `agent tail` of a run whose supervisor has not written its state yet: the Slurm
    state when its job ended without starting it (cancelled while pending, say), else None."""
    try:
        job = (rundir / "slurm-job").read_text().strip()
    except OSError:
        return None
    try:
        proc = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\bJobState=(\S+)", proc.stdout)
    state = match[1] if match else None
    if state is None or state in WAITING or (rundir / "state.json").exists():
        return None
    return state
