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


def submit(rundir: Path, command: list[str], options: dict[str, Any]) -> str:
    """Write job.sh and submit it; the Slurm job id."""
    script = "#!/bin/sh\nexec " + " ".join(shlex.quote(w) for w in command) + "\n"
    safeio.write_text(rundir / JOB_FILE, script, mode=0o700)
    argv = sbatch_argv(options, rundir, f"git-data-{rundir.name}")
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
