"""GPUs on the host (standard library only): which exist, which are free, who holds which.

``nvidia-smi --query-gpu=index,memory.used,memory.total,utilization.gpu`` is the source. A GPU
is free when no live git-data run holds it (``<workdir>/gpus.json``, under a file lock) and it
looks idle: under 10 % of its memory used and under 10 % utilisation.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

from ... import safeio
from ...errors import FatalError

QUERY = ["nvidia-smi", "--query-gpu=index,memory.used,memory.total,utilization.gpu",
         "--format=csv,noheader,nounits"]
BUSY_MEMORY = 0.10
BUSY_UTIL = 10.0


def query() -> list[dict[str, Any]] | None:
    """One dict per GPU, or None when the host has no nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(QUERY, capture_output=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        raise FatalError(f"nvidia-smi failed on this host: {exc}") from exc
    gpus = []
    for line in out.decode(errors="replace").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4 or not fields[0].isdigit():
            continue
        gpus.append({"index": int(fields[0]), "memory_used": _num(fields[1]),
                     "memory_total": _num(fields[2]), "util": _num(fields[3])})
    return gpus


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "[N/A]"
        return 0.0


def idle(gpu: dict[str, Any]) -> bool:
    total = gpu["memory_total"] or 1.0
    return gpu["memory_used"] / total < BUSY_MEMORY and gpu["util"] < BUSY_UTIL


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _held(claims: dict[str, Any]) -> dict[int, Any]:
    return {int(k): v for k, v in claims.items() if _alive(int(v.get("pid", 0)))}


def check(n: int, workdir: Path) -> str | None:
    """Why ``n`` GPUs cannot be had now, or None when they can."""
    gpus = query()
    if gpus is None:
        return f"--gpus {n}: this host has no nvidia-smi (no NVIDIA GPUs found)"
    if n > len(gpus):
        return f"--gpus {n}: this host has {len(gpus)} GPU(s); asked for more than there are"
    free = _free(gpus, _held(_load(workdir)))
    if len(free) < n:
        return (f"--gpus {n}: only {len(free)} of the host's {len(gpus)} GPUs are free "
                f"(free: {','.join(map(str, free)) or 'none'}); the others are in use")
    return None


def _free(gpus: list[dict[str, Any]], held: dict[int, Any]) -> list[int]:
    return [g["index"] for g in gpus if idle(g) and g["index"] not in held]


def _load(workdir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((workdir / "gpus.json").read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def claim(n: int, workdir: Path, owner: str) -> list[int]:
    """Take ``n`` free GPUs for this process (the supervisor) until :func:`release`."""
    workdir.mkdir(parents=True, exist_ok=True)
    with _lock(workdir) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = check(n, workdir)
        if problem:
            raise FatalError(problem)
        gpus = query() or []
        held = _held(_load(workdir))
        chosen = _free(gpus, held)[:n]
        for index in chosen:
            held[index] = {"pid": os.getpid(), "run": owner}
        _save(workdir, held)
    return chosen


def release(workdir: Path, indices: list[int]) -> None:
    with _lock(workdir) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = _held(_load(workdir))
        for index in indices:
            if held.get(index, {}).get("pid") == os.getpid():
                del held[index]
        _save(workdir, held)


def _save(workdir: Path, held: dict[int, Any]) -> None:
    safeio.write_text(workdir / "gpus.json", json.dumps({str(k): v for k, v in held.items()}))


def _lock(workdir: Path) -> IO[str]:
    """The host's GPU lock file, opened without following a link."""
    fd = os.open(workdir / "gpus.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    return os.fdopen(fd, "w")


def sample(indices: list[int]) -> list[dict[str, Any]]:
    """Utilisation and memory now of the GPUs a run holds."""
    try:
        gpus = query() or []
    except FatalError:
        return []
    return [{"index": g["index"], "util": g["util"], "memory_used": g["memory_used"]}
            for g in gpus if g["index"] in indices]
